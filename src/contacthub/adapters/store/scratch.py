"""Private read stores: read models rebuilt for one question, then dropped.

* `scratch_read_store()`: in-memory SQLite, for the auditor's replay of one customer
  (projections/replay.py). One connection, one thread.
* `scratch_area(live)`: a rebuild of the whole log beside the live read models, on the
  same backend (so digests compare like for like): a temporary SQLite file, or a temporary
  schema in the PostgreSQL database. Used by `contacthub audit projections`.

Either way the schema is the same migrations the live read models have.
"""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg.sql import SQL, Identifier

from contacthub.adapters.store.migrations import migrate
from contacthub.projections.sql import POSTGRESQL, SQLITE, ReadStore


class ScratchDatastore:
    """The slice of eventsourcing's datastore interface that ReadStore uses."""

    def __init__(self, path: str = ":memory:") -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.row_factory = sqlite3.Row

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[sqlite3.Cursor]:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN")
        try:
            yield cursor
        except BaseException:
            self.connection.rollback()
            raise
        else:
            self.connection.commit() if commit else self.connection.rollback()
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


@contextmanager
def scratch_read_store() -> Iterator[ReadStore]:
    """Empty read models in memory, closed when the block ends."""
    datastore = ScratchDatastore()
    try:
        store = ReadStore(datastore, SQLITE)
        migrate(store, announce=False)
        yield store
    finally:
        datastore.close()


class _SchemaDatastore:
    """The live PostgreSQL datastore, with every transaction confined to one schema."""

    def __init__(self, datastore: Any, schema: str) -> None:
        self.datastore = datastore
        self.schema = schema

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            cursor.execute(SQL("SET LOCAL search_path TO {}").format(Identifier(self.schema)))
            yield cursor


@contextmanager
def scratch_area(live: ReadStore) -> Iterator[ReadStore]:
    """Empty read models beside the live ones, on the same backend; removed afterwards."""
    if live.dialect == POSTGRESQL:
        schema = f"contacthub_scratch_{secrets.token_hex(4)}"
        with live.transaction(commit=True) as sql:
            sql.cursor.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
        try:
            store = ReadStore(_SchemaDatastore(live.datastore, schema), POSTGRESQL)
            migrate(store, announce=False)
            yield store
        finally:
            with live.transaction(commit=True) as sql:
                sql.cursor.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        return
    with tempfile.TemporaryDirectory(prefix="contacthub-scratch-") as folder:
        datastore = ScratchDatastore(str(Path(folder) / "read_models.db"))
        try:
            store = ReadStore(datastore, SQLITE)
            migrate(store, announce=False)
            yield store
        finally:
            datastore.close()
