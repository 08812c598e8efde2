"""A throwaway, test-only pg_auto_failover cluster: a monitor, a primary and standbys.

Started from the Debian package `postgresql-15-auto-failover` (`pg_autoctl`), on loopback,
each node a `pg_autoctl create postgres --run` process in its own process group, so a test
can kill a node outright (its keeper and its PostgreSQL: `kill_node`) and bring it back
(`restart_node`, which rejoins it as a standby). Synchronous replication is pg_auto_failover's
default for a formation with standbys (`ANY 1 (...)`).

The monitor's health checks are tuned down from their production defaults (5 s period,
20 s before a node is unhealthy, 30 s before a silent primary is given up) so a failover
takes seconds, not the ~41-51 s measured with defaults; `docs/operations.md` gives the
production values and the trade-off. Every file lives in one temp dir, removed by `stop()`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from support.pgserver import (
    PostgresNotAvailable,
    PostgresStartError,
    chown_to_postgres,
    find_bindir,
    free_port,
    run_as_postgres,
)

DATABASE = "contacthub"

MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2000",
    # Longer than the keepers' network_partition_timeout below: a primary cut off from the
    # monitor has demoted itself before a standby may be promoted (no two primaries).
    "pgautofailover.primary_demote_timeout": "4000",
}
KEEPER_SETTINGS = {"timeout.network_partition_timeout": "3"}
# The data nodes' own settings: disposable data, as in pgserver.py; a checkpoint at most
# every 30 s so a joining standby's base backup does not wait minutes for one.
NODE_SETTINGS = {"fsync": "off", "full_page_writes": "off", "max_connections": "200", "checkpoint_timeout": "30s"}
WRITABLE = ("single", "wait_primary", "primary")


def pg_autoctl_path() -> str:
    found = shutil.which("pg_autoctl")
    if found is None:
        raise PostgresNotAvailable("pg_autoctl not found: install the Debian package postgresql-15-auto-failover")
    return found


@dataclass
class Node:
    name: str
    port: int
    data: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, dbname: str = DATABASE) -> str:
        return f"postgresql://postgres@{self.address}/{dbname}"


class ThrowawayCluster:
    """Start with ``start()`` or ``with ThrowawayCluster() as cluster:``."""

    def __init__(self, standbys: int = 2, startup_timeout: float = 120.0) -> None:
        self.standbys = standbys
        self.startup_timeout = startup_timeout
        self._base: Path | None = None
        self.monitor: Node | None = None
        self.nodes: list[Node] = []
        self._run_as: list[str] = []
        self._env: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ThrowawayCluster:
        pg_autoctl_path()
        bindir = find_bindir()
        self._run_as = run_as_postgres()
        self._base = Path(tempfile.mkdtemp(prefix="contacthub-cluster-"))
        atexit.register(self.stop)
        try:
            for folder in ("config", "share", "run"):
                (self._base / folder).mkdir()
            chown_to_postgres(self._run_as, self._base, *(self._base / f for f in ("config", "share", "run")))
            self._env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
                "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
                "XDG_CONFIG_HOME": str(self._base / "config"),
                "XDG_DATA_HOME": str(self._base / "share"),
                "XDG_RUNTIME_DIR": str(self._base / "run"),
            }
            self.monitor = self._node("monitor")
            self._launch(self.monitor, ["create", "monitor", "--pgdata", str(self.monitor.data),
                                        "--pgport", str(self.monitor.port), "--hostname", "127.0.0.1",
                                        "--auth", "trust", "--no-ssl", "--run"])
            self._wait(lambda: _accepts(self.monitor.url("pg_auto_failover")), "the monitor accepts connections")
            with psycopg.connect(self.monitor.url("pg_auto_failover"), autocommit=True) as conn:
                for name, value in MONITOR_SETTINGS.items():
                    conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                conn.execute("SELECT pg_reload_conf()")
            self.nodes = [self._node(f"node{i}") for i in range(1, self.standbys + 2)]
            self._create_data_node(self.nodes[0])
            self._wait(lambda: self.states().get("node1") == ("single", "single"), "node1 is the single primary")
            with psycopg.connect(self.nodes[0].url(), autocommit=True) as conn:
                for name, value in NODE_SETTINGS.items():
                    conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                conn.execute("SELECT pg_reload_conf()")
            for node in self.nodes[1:]:
                self._create_data_node(node)
            self.wait_healthy()
            # Once every keeper runs: `config set` signals the running keeper to reload (while it is
            # still being created, the signal ends the command itself).
            for node in self.nodes:
                for name, value in KEEPER_SETTINGS.items():
                    self._pg_autoctl("config", "set", "--pgdata", str(node.data), name, value)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill every process of the cluster and delete its files; safe to call repeatedly."""
        atexit.unregister(self.stop)
        if self._base is None:
            return
        for node in [*self.nodes, *([self.monitor] if self.monitor else [])]:
            # PostgreSQL with pg_ctl first: its immediate stop ends every child (a SIGKILLed
            # postmaster can leave a monitor's background worker behind); then the keeper and
            # anything left of the node's process group.
            if (node.data / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    subprocess.run([*self._run_as, str(find_bindir() / "pg_ctl"), "stop", "--pgdata", str(node.data),
                                    "--mode", "immediate", "--wait"], env=self._env, capture_output=True, timeout=30)
            self._kill(node)
        shutil.rmtree(self._base, ignore_errors=True)
        self._base = None

    def __enter__(self) -> ThrowawayCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what a test uses --------------------------------------------------------------------

    def url(self, target_session_attrs: str = "read-write", dbname: str = DATABASE) -> str:
        """The libpq multi-host URL naming every data node, as an operator would configure it."""
        hosts = ",".join(node.address for node in self.nodes)
        return f"postgresql://postgres@{hosts}/{dbname}?target_session_attrs={target_session_attrs}"

    def url_of(self, nodes: list[Node], target_session_attrs: str, dbname: str = DATABASE, **options: str) -> str:
        """A multi-host URL naming only these nodes, with libpq or ContactHub options."""
        query = "&".join(f"{k}={v}" for k, v in {"target_session_attrs": target_session_attrs, **options}.items())
        return f"postgresql://postgres@{','.join(node.address for node in nodes)}/{dbname}?{query}"

    def sql(self, node: Node, statement: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        """One statement on one node (autocommit): its rows."""
        with psycopg.connect(node.url(dbname), autocommit=True, connect_timeout=2) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str) -> str:
        """A new database on the primary (replicated to the standbys); its multi-host URL."""
        with psycopg.connect(self.primary().url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url("read-write", name)

    def states(self) -> dict[str, tuple[str, str]]:
        """Each data node's (reported, assigned) state, as the monitor knows it."""
        assert self.monitor is not None
        with psycopg.connect(self.monitor.url("pg_auto_failover"), connect_timeout=2) as conn:
            rows = conn.execute("SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node").fetchall()
        return {name: (reported, goal) for name, reported, goal in rows}

    def primary(self) -> Node:
        """The node the monitor has as primary (reported and assigned)."""
        for name, (reported, goal) in self.states().items():
            if reported in WRITABLE and goal in WRITABLE:
                return self._by_name(name)
        raise LookupError(f"no primary: {self.states()}")

    def standbys_now(self) -> list[Node]:
        return [self._by_name(name) for name, (reported, goal) in self.states().items()
                if reported == goal == "secondary"]

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Until one node is primary and every other one a secondary (synchronous replication on)."""
        def healthy() -> bool:
            states = self.states()
            if len(states) != len(self.nodes):
                return False
            primaries = [s for s in states.values() if s == ("primary", "primary")]
            secondaries = [s for s in states.values() if s == ("secondary", "secondary")]
            if len(primaries) == 1 and len(secondaries) == len(self.nodes) - 1:
                return True
            self._hurry_base_backups()
            return False

        self._wait(healthy, f"a primary and {len(self.nodes) - 1} secondaries", timeout)

    def wait_for_new_primary(self, old: Node, timeout: float = 60.0) -> Node:
        found: list[Node] = []

        def promoted() -> bool:
            try:
                primary = self.primary()
            except LookupError:
                return False
            found.append(primary)
            return primary.name != old.name

        self._wait(promoted, f"a primary other than {old.name}", timeout)
        return found[-1]

    def kill_node(self, node: Node) -> None:
        """kill -9 the node's keeper and its PostgreSQL (postmaster and backends): a machine lost."""
        self._kill(node)

    def restart_node(self, node: Node) -> None:
        """Run the node's keeper again on its data: it rejoins the formation (as a standby after a failover)."""
        self._launch(node, ["run", "--pgdata", str(node.data)])

    def log_tail(self, lines: int = 15) -> str:
        parts = []
        for node in [*([self.monitor] if self.monitor else []), *self.nodes]:
            try:
                text = node.log.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                text = ["(no log)"]
            parts.append(f"--- {node.name}\n" + "\n".join(text))
        return "\n".join(parts)

    # -- internals -------------------------------------------------------------------------------

    def _node(self, name: str) -> Node:
        assert self._base is not None
        return Node(name, free_port(), self._base / name, self._base / f"{name}.log")

    def _by_name(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def _create_data_node(self, node: Node) -> None:
        assert self.monitor is not None
        monitor = f"postgresql://autoctl_node@{self.monitor.address}/pg_auto_failover?sslmode=disable"
        self._launch(node, ["create", "postgres", "--pgdata", str(node.data), "--pgport", str(node.port),
                            "--hostname", "127.0.0.1", "--name", node.name, "--auth", "trust", "--no-ssl",
                            "--dbname", DATABASE, "--monitor", monitor, "--run"])

    def _launch(self, node: Node, arguments: list[str]) -> None:
        with node.log.open("ab") as out:
            node.process = subprocess.Popen(
                [*self._run_as, pg_autoctl_path(), *arguments], cwd=self._base, env=self._env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def _pg_autoctl(self, *arguments: str) -> None:
        result = subprocess.run([*self._run_as, pg_autoctl_path(), *arguments], cwd=self._base, env=self._env,
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise PostgresStartError(f"pg_autoctl {' '.join(arguments)}: {result.stdout}{result.stderr}")

    def _kill(self, node: Node) -> None:
        pids = set()
        if node.process is not None and node.process.poll() is None:
            pids.add(-node.process.pid)  # the keeper's process group: the keeper, its services, PostgreSQL
        pid_file = node.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pids.add(int(pid_file.read_text().split()[0]))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(-pid, signal.SIGKILL) if pid < 0 else os.kill(pid, signal.SIGKILL)
        # PostgreSQL's children each start a session of their own (setsid), so the group kill
        # misses them; one that outlives its postmaster (the monitor's health-check worker, and
        # the logger it keeps open) is found by its working directory, the node's data folder.
        for pid in _processes_in(node.data):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if node.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _accepts(node.url("postgres")) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _hurry_base_backups(self) -> None:
        """A joining standby's base backup waits for a checkpoint: ask the primary for one now."""
        for node in self.nodes:
            try:
                with psycopg.connect(node.url("postgres"), autocommit=True, connect_timeout=1) as conn:
                    if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                        conn.execute("CHECKPOINT")
                        return
            except psycopg.Error:
                continue

    def _wait(self, condition: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        while True:
            try:
                if condition():
                    return
            except psycopg.Error:
                pass
            if time.monotonic() > deadline:
                raise PostgresStartError(f"waited in vain for {what}\n{self.log_tail()}")
            time.sleep(0.5)


def _processes_in(folder: Path) -> list[int]:
    """The processes whose working directory is `folder` (PostgreSQL's run in their data folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(os.readlink(entry / "cwd")) == folder:
                    found.append(int(entry.name))
    return found


def _accepts(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=1):
            return True
    except psycopg.Error:
        return False
