"""From CONTACTHUB_DATABASE_URL (and CONTACTHUB_READ_DATABASE_URL) to the eventsourcing environment.

A PostgreSQL URL may name several servers, as libpq does (`postgresql://h1:p1,h2:p2,h3:p3/db
?target_session_attrs=read-write`): every connection is then opened by libpq against the
first server that answers and has the wanted role, so after a failover new connections find
the new primary by themselves (adapters/store/postgres.py, `ClusterAwareFactory`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import orjson
import structlog

from contacthub.config import ConfigurationError
from contacthub.projections.sql import POSTGRESQL, SQLITE

log = structlog.get_logger(__name__)

LIBPQ_OPTIONS_KEY = "CONTACTHUB_LIBPQ_OPTIONS"
"""The eventsourcing environment key carrying libpq's own connection options (JSON)."""

LIBPQ_OPTIONS = frozenset({
    "target_session_attrs", "load_balance_hosts", "application_name", "sslmode", "sslrootcert", "sslcert",
    "sslkey", "sslcrl", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout", "options",
})
"""Query parameters handed to libpq as they are (https://www.postgresql.org/docs/15/libpq-connect.html)."""

OWN_OPTIONS = frozenset({"dbname", "host", "port", "user", "password", "lock_timeout", "connect_timeout",
                         "pool_size", "max_overflow", "max_lifetime"})
SESSION_ROLES = frozenset({"any", "read-write", "read-only", "primary", "standby", "prefer-standby"})


@dataclass(frozen=True)
class DatabaseTarget:
    dialect: str
    es_env: dict[str, str]
    """Settings for the eventsourcing infrastructure factory."""
    description: str
    """The URL without its password, safe to log."""

    @property
    def servers(self) -> int:
        """How many servers the URL names (1 for SQLite)."""
        return len(self.es_env.get("POSTGRES_HOST", "").split(",")) if self.dialect == POSTGRESQL else 1


def _servers(netloc_hosts: str, setting: str) -> tuple[str, str]:
    """`h1:p1,h2,[::1]:p3` -> ("h1,h2,::1", "p1,5432,p3"), as libpq takes them."""
    hosts: list[str] = []
    ports: list[str] = []
    for item in netloc_hosts.split(","):
        item = item.strip()
        if not item:
            raise ConfigurationError(f"{setting}: an empty server in the list of hosts")
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
            if rest and not rest.startswith(":"):
                raise ConfigurationError(f"{setting}: cannot read the server {item!r}")
        else:
            host, _, port = item.partition(":")
        if not host:
            raise ConfigurationError(f"{setting}: the server {item!r} has no host name")
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigurationError(f"{setting}: the port of {item!r} is not a number between 1 and 65535")
        hosts.append(unquote(host))
        ports.append(port or "5432")
    return ",".join(hosts), ",".join(ports)


def parse_database_url(url: str, setting: str = "CONTACTHUB_DATABASE_URL") -> DatabaseTarget:
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced [ in an IPv6 host
        raise ConfigurationError(f"{setting}: cannot read the URL ({exc})") from None
    if parts.scheme == "sqlite":
        # sqlite:///relative.db, sqlite:////absolute/path.db
        raw_path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not raw_path:
            raise ConfigurationError(f"{setting}: sqlite:/// needs a file path, e.g. sqlite:///contacthub.db")
        path = Path(raw_path)
        if path.parent and not path.parent.exists():
            raise ConfigurationError(f"{setting}: the folder {path.parent} does not exist")
        return DatabaseTarget(
            dialect=SQLITE,
            es_env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "30",
            },
            description=f"sqlite:///{path}",
        )
    if parts.scheme in ("postgresql", "postgres"):
        return _postgresql(parts.netloc, parts.path, parts.query, setting)
    raise ConfigurationError(f"{setting}: unsupported scheme {parts.scheme!r}")


def _postgresql(netloc: str, path: str, query_string: str, setting: str) -> DatabaseTarget:
    # As libpq reads a URI's query: percent-decoded, a '+' kept as it is (parse_qs would make it a space).
    query = {unquote(k): unquote(v) for k, _, v in (pair.partition("=") for pair in query_string.split("&") if pair)}
    unknown = sorted(set(query) - LIBPQ_OPTIONS - OWN_OPTIONS)
    if unknown:
        raise ConfigurationError(f"{setting}: unknown parameter {unknown[0]!r} (known: "
                                 + ", ".join(sorted(LIBPQ_OPTIONS | OWN_OPTIONS)) + ")")
    dbname = unquote(path.lstrip("/")) or query.get("dbname", "")
    if not dbname:
        raise ConfigurationError(f"{setting}: postgresql:// needs a database name")
    userinfo, _, hosts_part = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    if query.get("host"):
        host, port = query["host"], query.get("port") or ",".join("5432" for _ in query["host"].split(","))
        if len(port.split(",")) not in (1, len(host.split(","))):
            raise ConfigurationError(f"{setting}: {len(host.split(','))} hosts but {len(port.split(','))} ports")
    elif hosts_part:
        host, port = _servers(hosts_part, setting)
    else:
        host, port = "localhost", query.get("port") or "5432"
    role = query.get("target_session_attrs")
    if role is not None and role not in SESSION_ROLES:
        raise ConfigurationError(f"{setting}: target_session_attrs must be one of " + ", ".join(sorted(SESSION_ROLES)))
    if setting == "CONTACTHUB_DATABASE_URL":  # the writers' URL: only ever the primary
        if role in ("read-only", "standby", "prefer-standby"):
            raise ConfigurationError(f"{setting}: target_session_attrs={role} would send writes to a standby; "
                                     "use read-write (a standby for reads: CONTACTHUB_READ_DATABASE_URL)")
        if len(host.split(",")) > 1 and role not in ("read-write", "primary"):
            raise ConfigurationError(f"{setting}: a URL naming several servers needs target_session_attrs=read-write, "
                                     "or writes may reach a standby")
    for number in ("lock_timeout", "connect_timeout", "pool_size", "max_overflow", "max_lifetime"):
        if number in query and not query[number].isdigit():
            raise ConfigurationError(f"{setting}: {number} must be a whole number, not {query[number]!r}")
    libpq = {name: value for name, value in query.items() if name in LIBPQ_OPTIONS}
    # libpq's own connect timeout, per server tried: a server that does not answer must not
    # hold a connection attempt for long when the next one in the list may be the primary.
    libpq["connect_timeout"] = query.get("connect_timeout", "5")
    # What pg_stat_activity shows for ContactHub's connections (the readers' say so: standby.py).
    libpq.setdefault("application_name", "contacthub")
    env = {
        "PERSISTENCE_MODULE": "contacthub.adapters.store.postgres:ClusterAwareFactory",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": port,
        "POSTGRES_USER": unquote(username) if username else query.get("user") or "postgres",
        "POSTGRES_PASSWORD": unquote(password) if password else query.get("password") or "",
        # A stuck writer must not block every other writer forever.
        "POSTGRES_LOCK_TIMEOUT": query.get("lock_timeout", "10"),
        # How long a request waits for a pooled connection (the pool's own timeout).
        "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", "5"),
        "POSTGRES_POOL_SIZE": query.get("pool_size", "5"),
        "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", "10"),
        "POSTGRES_PRE_PING": "y",
        LIBPQ_OPTIONS_KEY: orjson.dumps(libpq).decode(),
    }
    if "max_lifetime" in query:  # seconds a pooled connection is kept (default: an hour; a standby's: a minute)
        env["POSTGRES_CONN_MAX_AGE"] = query["max_lifetime"]
    servers = ",".join(f"{h}:{p}" for h, p in zip(host.split(","), _spread(port, host), strict=True))
    suffix = f"?target_session_attrs={role}" if role else ""
    return DatabaseTarget(
        dialect=POSTGRESQL,
        es_env=env,
        description=f"postgresql://{env['POSTGRES_USER']}@{servers}/{dbname}{suffix}",
    )


def _spread(port: str, host: str) -> list[str]:
    ports = port.split(",")
    count = len(host.split(","))
    return ports * count if len(ports) == 1 else ports


def compact_sqlite(database_url: str) -> None:
    """Rewrite the SQLite file and empty its write-ahead log, so freed pages keep no old rows."""
    path = parse_database_url(database_url).es_env["SQLITE_DBNAME"]
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA secure_delete = ON")
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    log.info("sqlite_compacted", database=path)
