"""Apply migrations/NNNN_name.sql in order, once each, recorded in schema_migrations.

Statements are written in the SQL that SQLite and PostgreSQL share and use IF NOT EXISTS,
so a migration that was interrupted half-way can simply run again. A migration whose data
change SQL cannot express (hashing, say) names a Python step in DATA_STEPS, run in the same
transaction right after its statements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import structlog

from contacthub.adapters.store.chain import EVENTS_TABLE, POSITION, seal_existing_events
from contacthub.projections.sql import POSTGRESQL, SQLITE, ReadStore, Sql

log = structlog.get_logger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

def _fill_registered_positions(sql: Sql) -> None:
    """Each stored rm_msisdn row gets the log position of its customer's registration (version 1)."""
    table, position = EVENTS_TABLE[sql.dialect], POSITION[sql.dialect]
    if sql.dialect == SQLITE:
        exists = sql.execute("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).one()
    else:
        exists = sql.execute("SELECT to_regclass(?) AS found", (table,)).one()
        exists = exists if exists and exists["found"] else None
    if exists is None:
        return  # a fresh database: no event stored yet
    sql.execute(
        f"UPDATE rm_msisdn SET registered_position = COALESCE((SELECT e.{position} FROM {table} e "
        "WHERE e.originator_id = rm_msisdn.customer_id AND e.originator_version = 1), 0)"
    )


DATA_STEPS: Mapping[str, Callable[[Sql], None]] = {
    "0008_event_chain.sql": seal_existing_events,
    "0011_msisdn_registered_position.sql": _fill_registered_positions,
}


def migrations_dir() -> Path:
    # The source tree keeps migrations/ at the top; an installed wheel ships a copy inside the package.
    here = Path(__file__).resolve()
    for candidate in (here.parents[4] / "migrations", here.parents[2] / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("migrations/ folder not found")


def pending_migrations(applied: set[str], folder: Path | None = None) -> list[Path]:
    folder = folder or migrations_dir()
    files = sorted(p for p in folder.iterdir() if _NAME.match(p.name))
    return [p for p in files if p.name not in applied]


def _statements(sql: str) -> list[str]:
    without_comments = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in without_comments.split(";") if s.strip()]


DDL_LOCK = 4242001
"""The PostgreSQL advisory lock every process holds while it changes the schema: migrations, and the
event store's own tables (adapters/store/postgres.py, TablesCreatedOneAtATime)."""


def _serialise_migrators(sql: Sql) -> None:
    """Two processes starting together (server and projector, `serve --workers N`) must not run one
    migration twice, nor fail on each other: the first statement of the transaction takes the lock.
    On SQLite that is a write (it waits its turn for the write lock; a transaction that read first
    and then wrote would instead fail at once with "database is locked" once another wrote meanwhile)."""
    if sql.dialect == POSTGRESQL:
        sql.execute(f"SELECT pg_advisory_xact_lock({DDL_LOCK})")
    else:
        sql.execute("DELETE FROM schema_migrations WHERE 0 = 1")


def migrate(store: ReadStore, folder: Path | None = None, *, announce: bool = True) -> list[str]:
    """Apply what is pending; return the names applied now."""
    with store.transaction(commit=True) as sql:
        if sql.dialect == POSTGRESQL:
            _serialise_migrators(sql)
        sql.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = {r["name"] for r in store.query("SELECT name FROM schema_migrations")}
    done: list[str] = []
    for path in pending_migrations(applied, folder):
        with store.transaction(commit=True) as sql:
            _serialise_migrators(sql)
            if sql.execute("SELECT name FROM schema_migrations WHERE name = ?", (path.name,)).one():
                continue  # another process applied it meanwhile
            for statement in _statements(path.read_text(encoding="utf-8")):
                sql.execute(statement)
            if path.name in DATA_STEPS:
                DATA_STEPS[path.name](sql)
            sql.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (path.name, datetime.now(timezone.utc).isoformat()),
            )
        if announce:
            log.info("migration_applied", migration=path.name)
        done.append(path.name)
    return done
