"""The SQL the read models are written in: one dialect-neutral cursor, and transactions on their tables.

Read-model SQL is written once, in the subset SQLite and PostgreSQL share. `ReadStore` runs
transactions on a datastore the storage adapter opened (adapters/store); nothing here
opens a connection.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


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

    def given_rows(self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """A CTE `name` holding the given rows ((column, SQL type) pairs), and its parameters:
        typed arrays sent in binary on PostgreSQL, one JSON array of arrays on SQLite (so a
        statement can take any number of rows, past SQLite's bound-parameter limit)."""
        names = ", ".join(column for column, _ in columns)
        if self.dialect == POSTGRESQL:
            arrays = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in columns]
            unnest = ", ".join(f"%b::{sql_type}[]" for _, sql_type in columns)
            return f"{name} ({names}) AS (SELECT * FROM unnest({unnest}))", arrays
        picks = ", ".join(f"value ->> {i}" for i in range(len(columns)))
        return f"{name} ({names}) AS (SELECT {picks} FROM json_each(?))", [orjson.dumps(list(rows)).decode()]

    def micros(self, column: str) -> str:
        """A stored UTC moment (base.utc_text) as whole microseconds since 1970: exact on both backends."""
        if self.dialect == POSTGRESQL:
            return f"(extract(epoch FROM {column}::timestamptz) * 1000000)::bigint"
        return (
            f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000 "
            f"+ CAST(substr({column}, 21, 6) AS INTEGER))"
        )

    def codepoint_order(self, column: str) -> str:
        """`column` compared by code point, as Python orders strings (PostgreSQL's default collation may not)."""
        return f'{column} COLLATE "C"' if self.dialect == POSTGRESQL else column

    def insert_rows(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], on_conflict: str = ""
    ) -> None:
        """Insert many rows: (column, SQL type) pairs, then an ON CONFLICT clause.

        PostgreSQL: COPY, straight into the table, or (with an ON CONFLICT clause) into a
        temporary staging table emptied at commit and then one INSERT ... SELECT from it.
        psycopg formats COPY rows in C; typed arrays (the earlier way) are built in Python, at
        about 1 us per value, and executemany costs ~25 us per row. SQLite's executemany is a C loop.
        """
        if not rows:
            return
        names = ", ".join(name for name, _ in columns)
        if self.dialect == POSTGRESQL and self.cursor.connection.pgconn.pipeline_status:
            # COPY cannot run in a pipeline (the writers' batched transactions): typed arrays.
            arrays = [list(column) for column in zip(*rows, strict=True)]
            casts = ", ".join(f"%b::{sql_type}[]" for _, sql_type in columns)
            self.cursor.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({casts}) {on_conflict}", arrays)
        elif self.dialect == POSTGRESQL:
            if not on_conflict:
                self._copy(table, names, rows)
                return
            stage = f"stage_{table}_{zlib.crc32(repr(tuple(columns)).encode()):08x}"
            definition = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
            # Once per connection; emptied at every commit (and PostgreSQL skips that in
            # transactions that touched no temporary table).
            self.cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({definition}) ON COMMIT DELETE ROWS")
            self._copy(stage, names, rows)
            self.cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} {on_conflict}")
            # Emptied for a second use in this transaction (cheaper than TRUNCATE's new file;
            # the commit truncates it anyway, so dead rows never pile up).
            self.cursor.execute(f"DELETE FROM {stage}")
        else:
            marks = ", ".join("?" * len(columns))
            self.cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", rows)

    def _copy(self, table: str, names: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def upsert_rows(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        key: str,
        update: Sequence[str] | None = None,
    ) -> None:
        """Insert many rows, replacing the stored row of the same `key` (its columns, comma-separated).

        The replaced columns are `update`, by default every column not in the key. One
        statement, as `insert_rows`.
        """
        keys = {k.strip() for k in key.split(",")}
        replaced = [name for name, _ in columns if name not in keys] if update is None else update
        updates = ", ".join(f"{name} = excluded.{name}" for name in replaced)
        self.insert_rows(table, columns, rows, f"ON CONFLICT ({key}) DO UPDATE SET {updates}")


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
