"""From CONTACTHUB_DATABASE_URL to the eventsourcing environment, and SQL that runs on both backends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from contacthub.config import ConfigurationError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


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


REPORT_WORK_MEM = "64MB"


class Sql:
    """A cursor that takes `?` placeholders on both backends.

    Read-model SQL is written once, in the subset SQLite and PostgreSQL share; only the
    placeholder style differs, and it is converted here.
    """

    def __init__(self, cursor: Any, dialect: str) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def _q(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.dialect == POSTGRESQL else statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Sql:
        self.cursor.execute(self._q(statement), params)
        return self

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self._q(statement), rows)

    def all(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.cursor.fetchall()]

    def batches(self, size: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """The last statement's rows, `size` at a time (for results too big to hold at once)."""
        cursor = getattr(self.cursor, "sqlite_cursor", self.cursor)  # eventsourcing's SQLite wrapper lacks fetchmany
        while rows := cursor.fetchmany(size):
            yield [dict(r) for r in rows]

    def one(self) -> dict[str, Any] | None:
        row = self.cursor.fetchone()
        return dict(row) if row is not None else None

    def in_list(self, values: Sequence[Any]) -> str:
        """Placeholders for `x IN (...)`."""
        return ",".join("?" * len(values))

    def select_where_in(
        self, table: str, column: str, values: Sequence[str], also: str = "", params: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        """Rows whose `column` is one of `values` (text): one array parameter on PostgreSQL.

        `also` adds conditions (`AND ...` with `?` placeholders for `params`).
        """
        if not values:
            return []
        if self.dialect == POSTGRESQL:
            self.cursor.execute(
                f"SELECT * FROM {table} WHERE {column} = ANY(%b::text[]) {also.replace('?', '%s')}",
                (list(values), *params),
            )
            return self.all()
        rows: list[dict[str, Any]] = []
        for start in range(0, len(values), 900):  # SQLite's bound-parameter limit
            chunk = values[start : start + 900]
            rows += self.execute(
                f"SELECT * FROM {table} WHERE {column} IN ({self.in_list(chunk)}) {also}", (*chunk, *params)
            ).all()
        return rows

    def select_joined(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[str]], on: str
    ) -> list[dict[str, Any]]:
        """Rows of `table` (as `t`) matching any of the given text `rows` (as `w`, with `columns`) by `on`.

        One statement over typed arrays on PostgreSQL; a VALUES list per chunk on SQLite. A row of
        `table` matching several given rows comes back once per match.
        """
        if not rows:
            return []
        names = ", ".join(columns)
        if self.dialect == POSTGRESQL:
            arrays = [list(column) for column in zip(*rows, strict=True)]
            unnest = ", ".join("%b::text[]" for _ in columns)
            self.cursor.execute(f"SELECT t.* FROM unnest({unnest}) AS w({names}) JOIN {table} t ON {on}", arrays)
            return self.all()
        found: list[dict[str, Any]] = []
        per_chunk = 900 // len(columns)  # SQLite's bound-parameter limit
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            values = ", ".join(f"({', '.join('?' * len(columns))})" for _ in chunk)
            found += self.execute(
                f"WITH w({names}) AS (VALUES {values}) SELECT t.* FROM w JOIN {table} t ON {on}",
                [v for row in chunk for v in row],
            ).all()
        return found

    def insert_rows(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], on_conflict: str = ""
    ) -> None:
        """Insert many rows with one statement: (column, SQL type) pairs, then an ON CONFLICT clause.

        PostgreSQL gets one INSERT ... SELECT FROM unnest() over typed arrays sent in binary
        (psycopg's executemany costs ~25 us of Python per row); SQLite's executemany is a C loop.
        """
        if not rows:
            return
        names = ", ".join(name for name, _ in columns)
        if self.dialect == POSTGRESQL:
            arrays = [list(column) for column in zip(*rows, strict=True)]
            casts = ", ".join(f"%b::{sql_type}[]" for _, sql_type in columns)
            self.cursor.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({casts}) {on_conflict}", arrays)
        else:
            marks = ", ".join("?" * len(columns))
            self.cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", rows)


class ReadStore:
    """Transactions on the read-model tables, sharing eventsourcing's connection pool."""

    def __init__(self, datastore: Any, dialect: str) -> None:
        self.datastore = datastore
        self.dialect = dialect

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Sql]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield Sql(cursor, self.dialect)

    @contextmanager
    def report(self) -> Iterator[Sql]:
        """A read-only transaction for a report that adds up many rows (metrics, the at-risk list).

        On PostgreSQL it turns JIT compilation off and gives sorts and hashes more memory, for
        this transaction only: such plans have cost estimates high enough to trigger JIT, whose
        compile time (measured: up to a second) far exceeds what it saves on a few hundred
        thousand rows, and the default 4 MB work_mem spills a 100,000-customer grouping to disk.
        """
        with self.transaction(commit=False) as sql:
            if self.dialect == POSTGRESQL:
                sql.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
            yield sql

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction(commit=False) as sql:
            return sql.execute(statement, params).all()

    def query_one(self, statement: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self.transaction(commit=False) as sql:
            return sql.execute(statement, params).one()
