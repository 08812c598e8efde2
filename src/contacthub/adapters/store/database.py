"""From CONTACTHUB_DATABASE_URL to the eventsourcing environment."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import structlog

from contacthub.config import ConfigurationError
from contacthub.projections.sql import POSTGRESQL, SQLITE

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DatabaseTarget:
    dialect: str
    es_env: dict[str, str]
    """Settings for the eventsourcing infrastructure factory."""
    description: str
    """The URL without its password, safe to log."""


def parse_database_url(url: str) -> DatabaseTarget:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative.db, sqlite:////absolute/path.db
        raw_path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not raw_path:
            raise ConfigurationError("CONTACTHUB_DATABASE_URL: sqlite:/// needs a file path, e.g. sqlite:///contacthub.db")
        path = Path(raw_path)
        if path.parent and not path.parent.exists():
            raise ConfigurationError(f"CONTACTHUB_DATABASE_URL: the folder {path.parent} does not exist")
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
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        dbname = unquote(parts.path.lstrip("/")) or query.get("dbname", "")
        if not dbname:
            raise ConfigurationError("CONTACTHUB_DATABASE_URL: postgresql:// needs a database name")
        host = query.get("host") or parts.hostname or "localhost"
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": host,
            "POSTGRES_PORT": str(parts.port or query.get("port") or 5432),
            "POSTGRES_USER": unquote(parts.username or query.get("user") or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or query.get("password") or ""),
            # A stuck writer must not block every other writer forever.
            "POSTGRES_LOCK_TIMEOUT": query.get("lock_timeout", "10"),
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", "5"),
            "POSTGRES_POOL_SIZE": query.get("pool_size", "5"),
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", "10"),
            "POSTGRES_PRE_PING": "y",
        }
        return DatabaseTarget(
            dialect=POSTGRESQL,
            es_env=env,
            description=f"postgresql://{env['POSTGRES_USER']}@{host}:{env['POSTGRES_PORT']}/{dbname}",
        )
    raise ConfigurationError(f"CONTACTHUB_DATABASE_URL: unsupported scheme {parts.scheme!r}")


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
