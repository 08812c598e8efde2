"""A private, in-memory SQLite read store: read models rebuilt for one question, then dropped.

Used by the auditor's replay (projections/replay.py). One connection, one thread; the
schema is the same migrations the live read models have.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from contacthub.adapters.store.database import SQLITE, ReadStore
from contacthub.adapters.store.migrations import migrate


class ScratchDatastore:
    """The slice of eventsourcing's datastore interface that ReadStore uses."""

    def __init__(self) -> None:
        self.connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
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


def scratch_read_store() -> ReadStore:
    store = ReadStore(ScratchDatastore(), SQLITE)
    migrate(store, announce=False)
    return store
