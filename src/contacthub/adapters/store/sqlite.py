"""The event log on SQLite: its recorder and its writers' lock."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteTrackingRecorder,
)

from contacthub.adapters.store.chain import link_new_events
from contacthub.adapters.store.recording import ChainedInserts, write_personal_data_changes
from contacthub.projections.sql import SQLITE, Sql
from contacthub.services.ports import Claim, IngestKey, WritersBusy

SQLITE_WRITERS_LOCK_TIMEOUT_S = 30.0  # as long as SQLite's own lock timeout (database.py)

SQLITE_KEPT_CONNECTIONS = 48
"""SQLite connections a process keeps open for reuse. eventsourcing keeps 5 and closes any other on its
return, so a server with more than 5 requests at the database at once opened (and parsed the schema on)
a new connection for nearly every request, which cost more than the request itself. The server's thread
pool runs up to 40 requests' database work at once, beside the projector, the watchers and the access
log's writer. (PostgreSQL: `pool_size` in CONTACTHUB_DATABASE_URL.)"""
SQLITE_STATEMENT_CACHE = 256
"""Prepared statements each SQLite connection keeps. eventsourcing opens its connections with
`cached_statements=True`, which sqlite3 reads as a cache of one statement: every statement but the
last was parsed and planned again on each use (the 360-degree view's SQL took three times as long)."""


def create_owner_only(path: str) -> None:
    """Create the database file readable and writable by its owner only (0600) when it does not exist yet.

    SQLite creates its write-ahead log and shared-memory files with the database file's mode,
    so they are owner-only too. An existing file keeps its mode (the operator chose it)."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


def use_write_ahead_log(path: str, timeout_s: float = SQLITE3_DEFAULT_LOCK_TIMEOUT) -> None:
    """Put the database file in write-ahead-log mode before eventsourcing opens it.

    eventsourcing switches a new file to WAL on its first connection. Switching needs the file's
    exclusive lock after reading it, and SQLite refuses that at once ("database is locked", no
    busy wait, to avoid a deadlock) while another process is switching it too: several processes
    opening one new file together (serve --workers) then failed at startup. Here the switch is
    tried again until it holds or the lock timeout passes; the mode is kept in the file, so the
    library's connections then find WAL and change nothing."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    deadline = time.monotonic() + timeout_s
    while True:
        connection = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        try:
            if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as problem:
            if "locked" not in str(problem) or time.monotonic() > deadline:
                raise
        finally:
            connection.close()
        time.sleep(0.01)


def keep_connections(pool: Any) -> None:
    """eventsourcing's SQLite connection pool (`SQLiteConnectionPool`) with the two settings above.

    Its connections are made as eventsourcing 9.5's `_create_connection` makes them (WAL is
    already set on the file by the first one), with a statement cache; the ones opened while
    the log was built are closed, so every connection in use has it."""
    if pool.is_sqlite_memory_mode:  # closing the connections would drop the database
        return
    pool.pool_size = SQLITE_KEPT_CONNECTIONS

    def connect() -> SQLiteConnection:
        connection = sqlite3.connect(pool.db_name, uri=True, check_same_thread=False, isolation_level=None,
                                     cached_statements=SQLITE_STATEMENT_CACHE,
                                     timeout=pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)
        connection.row_factory = sqlite3.Row
        # Deleted rows are overwritten with zeros, whatever the build's default (Debian's is on; not every build's).
        connection.execute("PRAGMA secure_delete = ON")
        return SQLiteConnection(sqlite_conn=connection, max_age=pool.max_age)

    pool._create_connection = connect
    while pool._pool:
        pool._pool.popleft().close()


_INSERT_KEY = "INSERT INTO ingest_keys (event_id, digest, customer_id, customer_version, source) VALUES (?, ?, ?, ?, ?)"
_INSERT_CLAIM = "INSERT INTO customer_claims (kind, claim, customer_id) VALUES (?, ?, ?)"


class SQLiteProjectionTracking(SQLiteTrackingRecorder):
    """The library's tracking recorder (the projector's positions). It looks for its table, then creates
    it and records the table's version in it; two processes opening an empty database together both find
    no table, and the second's version row is refused (IntegrityError "Failed to record tracking for
    __migration__"). Then the table is there, made by the other: look again, as a process starting later would."""

    def create_table(self) -> None:
        try:
            super().create_table()
        except IntegrityError:
            self.tracking_table_exists = False
            self.tracking_migration_previous = self.tracking_migration_current = None
            super().create_table()


class SQLiteCustomerRecorder(ChainedInserts, SQLiteApplicationRecorder):
    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        keys: Sequence[IngestKey] = kwargs.get("ingest_keys", ())
        claims: Sequence[Claim] = kwargs.get("claims", ())
        write_personal_data_changes(Sql(c, SQLITE), **kwargs)
        if claims:
            c.executemany(_INSERT_CLAIM, [(k.kind, k.claim, k.customer_id) for k in claims])
        if keys:
            c.executemany(
                _INSERT_KEY, [(k.event_id, k.digest, k.customer_id, k.customer_version, k.source) for k in keys]
            )
        positions = self._insert_stored_events(c, stored_events)
        link_new_events(Sql(c, SQLITE), stored_events, positions, self.chain_heads(), kwargs.get("chain_written"))
        return positions

    def _insert_stored_events(self, c: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Insert the events with one executemany and return their rowids (log positions).

        The library inserts one row per execute() to read each lastrowid. Here the rows
        this transaction adds are those above the largest rowid before the insert: the
        transaction holds SQLite's one write lock from its first write on (the keys above;
        a read snapshot that went stale could not start writing at all), so no other
        writer can add rows in between."""
        if not stored_events:
            return []
        table = self.events_table_name
        c.execute(f"SELECT MAX(rowid) FROM {table}")
        before = c.fetchone()[0] or 0
        c.executemany(
            self.insert_events_statement,
            [(e.originator_id, e.originator_version, e.topic, e.state) for e in stored_events],
        )
        c.execute(f"SELECT rowid, originator_id, originator_version FROM {table} WHERE rowid > ?", (before,))
        rowids = {(r[1], r[2]): r[0] for r in c.fetchall()}
        if len(rowids) != len(stored_events):  # never expected: see above
            raise RuntimeError(f"inserted {len(stored_events)} events, found {len(rowids)} new rows")
        return [rowids[(e.originator_id, e.originator_version)] for e in stored_events]

    def select_customer_streams(self, customer_ids: Sequence[str]) -> list[StoredEvent]:
        rows: list[StoredEvent] = []
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(customer_ids), 900):  # SQLite's bound-parameter limit
                chunk = list(customer_ids[start : start + 900])
                c.execute(
                    f"SELECT originator_id, originator_version, topic, state FROM {self.events_table_name} "
                    f"WHERE originator_id IN ({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version",
                    chunk,
                )
                rows += [StoredEvent(r[0], r[1], r[2], r[3]) for r in c.fetchall()]
        return rows


class SQLiteWritersLock:
    """The writers' lock (CustomerLog.deciding) for processes sharing one SQLite file: flock on a file beside it.

    The file is opened on first use and kept open until close(); the lock is released at the
    end of each block, or by the kernel when the process dies."""

    def __init__(self, database_path: str) -> None:
        self.path = database_path + "-writers.lock"
        self._file: typing.BinaryIO | None = None

    @contextmanager
    def hold(self, *, exclusive: bool) -> Iterator[None]:
        if self._file is None:
            create_owner_only(self.path)
            self._file = open(self.path, "a+b")  # noqa: SIM115 (kept until close())
        descriptor = self._file.fileno()
        deadline = time.monotonic() + SQLITE_WRITERS_LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(descriptor, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WritersBusy from None
                time.sleep(0.002)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
