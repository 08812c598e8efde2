"""A throwaway, test-only PostgreSQL server.

Each instance owns a fresh data directory in a temp dir, listens on a private
unix socket plus 127.0.0.1 on a free port, and is torn down (process and files)
by ``stop()``.  fsync and full-page writes are off because the data is
disposable; ``restart(mode="immediate")`` still models a crash faithfully
because only the postgres processes die, never the OS page cache.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
STOP_MODES = ("smart", "fast", "immediate")

# Appended to postgresql.conf so that every (re)start uses the same settings.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    # Deliberately "on": with "off" a commit is acknowledged while its WAL is
    # still in shared memory, so restart(mode="immediate") loses it (measured:
    # even a CREATE TABLE vanished).  Crash tests need acknowledged == durable,
    # and with fsync=off "on" costs only a write(): no measurable slowdown.
    "synchronous_commit": "on",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
}


class PostgresNotAvailable(RuntimeError):
    """The PostgreSQL server binaries (or the postgres system user) are missing."""


class PostgresStartError(RuntimeError):
    """The server did not start or did not accept connections in time."""


def find_bindir() -> Path:
    """Locate the directory holding initdb, pg_ctl and postgres."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        # On Debian pg_config can come from libpq-dev without a server, so the
        # directory it names is only a candidate until initdb is found there.
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    # Debian keeps server binaries off PATH; prefer the newest major version.
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else -1)
    candidates.extend(Path(p) for p in reversed(versioned))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)

    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresNotAvailable(
        "PostgreSQL server binaries not found (looked at pg_config --bindir, "
        "/usr/lib/postgresql/*/bin and PATH); install the Debian 'postgresql' package"
    )


def free_port() -> int:
    # Binding to port 0 lets the kernel pick an unused port.  It could be taken
    # again before postgres binds it, which is acceptable for a test helper.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_as_postgres() -> list[str]:
    """The command prefix for PostgreSQL's tools (and pg_autoctl): they refuse to run as root, so as
    root they run as the postgres system user that the Debian package creates."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresNotAvailable(
            "running as root but there is no 'postgres' system user"
        ) from None
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"]
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def chown_to_postgres(run_as: list[str], *paths: Path) -> None:
    """Hand folders to the postgres user when the tools run as it (`run_as_postgres()` was not empty)."""
    if not run_as:
        return
    user = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, user.pw_uid, user.pw_gid)


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class ThrowawayPostgres:
    """Start with ``start()`` or ``with ThrowawayPostgres() as pg:``."""

    def __init__(
        self,
        bindir: Path | None = None,
        startup_timeout: float = 30.0,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """``settings`` are raw postgresql.conf values overriding DEFAULT_SETTINGS."""
        self._bindir = bindir
        self._settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self._startup_timeout = startup_timeout
        self._base: Path | None = None
        self._port: int | None = None
        self._run_as: list[str] = []

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> ThrowawayPostgres:
        if self._base is not None:
            raise RuntimeError("server already started")
        bindir = self._bindir or find_bindir()
        self._bindir = bindir
        self._run_as = self._run_as_prefix()
        self._base = Path(tempfile.mkdtemp(prefix="contacthub-pg-"))
        # Registered before anything can fail, so even a half-started server
        # is cleaned up when the test session exits.
        atexit.register(self.stop)
        try:
            self._socket_dir.mkdir()
            self._chown_to_postgres(self._base, self._socket_dir)
            self._port = free_port()
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and delete its files; safe to call repeatedly."""
        atexit.unregister(self.stop)
        if self._base is None:
            return
        try:
            # The pid file, not a flag, says whether a postmaster may be up: a
            # start that timed out can still leave one running.
            if (self._data_dir / "postmaster.pid").exists():
                # Immediate: the data is about to be deleted, nothing to flush.
                self._pg_ctl_stop("immediate")
        finally:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def restart(self, mode: str = "immediate") -> None:
        """Stop with ``pg_ctl -m MODE`` and start again on the same port and data.

        ``immediate`` simulates a crash: no shutdown checkpoint, so the next
        start runs WAL recovery and existing connections are cut.
        """
        self.halt(mode)
        self.resume()

    def halt(self, mode: str = "immediate") -> None:
        """Stop the server but keep its data, port and socket for `resume()`: the database is gone until then."""
        if mode not in STOP_MODES:
            raise ValueError(f"mode must be one of {STOP_MODES}, not {mode!r}")
        self._pg_ctl_stop(mode)

    def resume(self) -> None:
        """Start a halted server again on the same data (WAL recovery after an immediate stop)."""
        self._start_server()

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- connection details and database helpers ------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def socket_dir(self) -> Path:
        """Directory of the unix socket; usable as ``host=`` in a libpq DSN."""
        return self._socket_dir

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        # FORCE terminates sessions a test forgot to close (PostgreSQL >= 13).
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self._log_file.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- internals -------------------------------------------------------------

    @property
    def _base_dir(self) -> Path:
        if self._base is None:
            raise RuntimeError("server not started")
        return self._base

    @property
    def _data_dir(self) -> Path:
        return self._base_dir / "data"

    @property
    def _socket_dir(self) -> Path:
        return self._base_dir / "socket"

    @property
    def _log_file(self) -> Path:
        return self._base_dir / "server.log"

    @staticmethod
    def _run_as_prefix() -> list[str]:
        return run_as_postgres()

    def _chown_to_postgres(self, *paths: Path) -> None:
        chown_to_postgres(self._run_as, *paths)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._bindir is not None
        # Inherited PG* variables (PGDATA, PGPORT, ...) would silently change
        # what initdb/pg_ctl act on; the cwd must be readable by postgres.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return subprocess.run(
            [*self._run_as, str(self._bindir / tool), *args],
            cwd=self._base_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=self._startup_timeout + 30,
        )

    def _initdb(self) -> None:
        result = self._run(
            "initdb",
            "--pgdata", str(self._data_dir),
            "--username", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",  # deterministic collation, available everywhere
            "--no-sync",
        )  # fmt: skip
        if result.returncode != 0:
            raise PostgresStartError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        settings = {
            **self._settings,
            "port": str(self.port),
            "listen_addresses": _conf_quote("127.0.0.1"),
            "unix_socket_directories": _conf_quote(str(self._socket_dir)),
        }
        with (self._data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# contacthub test settings\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _start_server(self) -> None:
        timeout = str(max(1, int(self._startup_timeout)))
        result = self._run(
            "pg_ctl", "start", "--pgdata", str(self._data_dir),
            "--log", str(self._log_file), "--wait", "--timeout", timeout,
        )  # fmt: skip
        if result.returncode != 0:
            raise PostgresStartError(
                f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n"
                f"server log tail:\n{self.log_tail()}"
            )
        self._wait_until_accepting()

    def _wait_until_accepting(self) -> None:
        # pg_ctl --wait checks the postmaster's own readiness; connecting over
        # TCP as the tests will confirms the listen settings took effect too.
        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() >= deadline:
                    raise PostgresStartError(
                        f"server not accepting connections on port {self.port} after "
                        f"{self._startup_timeout}s: {error}\nserver log tail:\n{self.log_tail()}"
                    ) from error
            time.sleep(0.05)

    def _pg_ctl_stop(self, mode: str) -> None:
        result = self._run(
            "pg_ctl", "stop", "--pgdata", str(self._data_dir), "--mode", mode, "--wait"
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed:\n{result.stdout}{result.stderr}")
