"""The event log on PostgreSQL: its recorder, its writers' lock (an advisory lock), and the
infrastructure factory that lets one URL name a cluster's servers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import structlog
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    ConnectionPool,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresTrackingRecorder,
)
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool.base import AttemptWithBackoff

from contacthub.adapters.store.chain import CHAIN_COLUMNS, new_links
from contacthub.adapters.store.database import LIBPQ_OPTIONS_KEY
from contacthub.adapters.store.migrations import DDL_LOCK
from contacthub.adapters.store.recording import ChainedInserts, write_personal_data_changes
from contacthub.projections.sql import POSTGRESQL, Sql
from contacthub.services.ports import Claim, IngestKey, WritersBusy

log = structlog.get_logger(__name__)

WRITERS_LOCK = 0x436F6E7461637448  # "ContactH": the advisory lock key every ContactHub writer shares
RECONNECT_MAX_DELAY_S = 1.0
"""Longest pause between two attempts to reconnect a pool while no server answers."""


CLAIM_COLUMNS = (("kind", "text"), ("claim", "text"), ("customer_id", "text"))
KEY_COLUMNS = (("event_id", "text"), ("digest", "text"), ("customer_id", "text"), ("customer_version", "bigint"),
               ("source", "text"))
EVENT_COLUMNS = (("notification_id", "bigint"), ("originator_id", "text"), ("originator_version", "bigint"),
                 ("topic", "text"), ("state", "bytea"))
_SEPARATOR = "\x1f"  # ASCII unit separator: a control character, in no id, digest, hash, topic or claim


def _insert(curs: Any, table: SQL | Identifier, columns: Sequence[tuple[str, str]], values: Sequence[Sequence[Any]]) -> None:
    """Insert rows given column by column, with one statement (`INSERT ... SELECT FROM unnest(...)`).

    A text or bigint column travels as one string the server splits (`string_to_array`):
    psycopg dumps an array element by element in Python (some 0.2 ms per thousand), a joined
    string in C. A text column that is empty, holds an empty string, or contains the
    separator goes as an array instead, so any value arrives exactly as it was.
    """
    arguments: list[str] = []
    parameters: list[Any] = []
    for (_, sql_type), column in zip(columns, values, strict=True):
        if sql_type == "bigint":
            arguments.append("string_to_array(%s::text, ',')::bigint[]")
            parameters.append(",".join(map(str, column)))
            continue
        if sql_type == "text":
            joined = _SEPARATOR.join(column)
            if joined.count(_SEPARATOR) == len(column) - 1 and "" not in column:
                arguments.append("string_to_array(%s::text, E'\\x1f')")
                parameters.append(joined)
                continue
        arguments.append(f"%b::{sql_type}[]")
        parameters.append(list(column))
    names = ", ".join(name for name, _ in columns)
    statement = SQL("INSERT INTO {0} ({1}) SELECT * FROM unnest({2})").format(table, SQL(names), SQL(", ".join(arguments)))
    curs.execute(statement, parameters, prepare=True)


class TablesCreatedOneAtATime:
    """The library creates its tables, types and indexes each time a process opens the log (`IF NOT
    EXISTS`), in several transactions. Two processes doing so at once on an empty database fail on
    PostgreSQL's catalog (`tuple concurrently updated`, a duplicate `pg_type` row): `serve --workers N`
    lost a worker at startup that way. So a process creates them holding the schema lock (DDL_LOCK,
    the migrations' too), taken on a connection of its own: the pool may have a single connection."""

    datastore: PostgresDatastore

    def create_table(self) -> None:
        pool = self.datastore.pool
        conninfo, options = pool.conninfo, pool.kwargs  # the pool's own (psycopg_pool allows callables too)
        conninfo = conninfo() if callable(conninfo) else conninfo
        options = options() if callable(options) else dict(options or {})
        with psycopg.connect(conninfo, **{**options, "autocommit": True}) as lock:
            lock.execute("SELECT pg_advisory_lock(%s)", (DDL_LOCK,))
            try:
                super().create_table()  # type: ignore[misc]
            finally:
                lock.execute("SELECT pg_advisory_unlock(%s)", (DDL_LOCK,))


class PostgresProjectionTracking(TablesCreatedOneAtATime, PostgresTrackingRecorder):
    """The library's tracking recorder (the projector's positions), its tables created one process at a time."""


class PostgresCustomerRecorder(TablesCreatedOneAtATime, ChainedInserts, PostgresApplicationRecorder):
    """The library's recorder, writing a batch its own way (`insert_linked_events`).

    One transaction, in pipeline mode, with two waits for the server instead of three:

    1. take the table lock (with its lock_timeout), then reserve the batch's positions: one
       block of the notification sequence (`setval(seq, nextval(seq) + n - 1)`), and wait
       for that answer;
    2. send the customer keys and erasures, claims, idempotency keys, NOTIFY and the events
       with their positions, without waiting; while the server inserts them, compute the
       chain links here (they cover the positions, known since 1.);
    3. send the links and COMMIT, and wait.

    The table lock is what the library relies on for commit order to equal position order;
    it also makes the reserved block safe: every writer (the library's insert too) consumes
    sequence values only under that lock, and the unique index on notification_id would
    refuse a clash anyway. A rolled-back batch leaves a gap in the positions, as the
    library's own inserts do. A taken key or claim, or a version already stored, raises
    IntegrityError when the commit is synced, and nothing of the batch is stored.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # The database-function insert path skips _insert_events, so keys and claims would not be written.
        if datastore.enable_db_functions:
            raise ValueError("POSTGRES_ENABLE_DB_FUNCTIONS must stay off for ContactHub")
        self.events_table = Identifier(self.datastore.schema, self.events_table_name)
        qualified = ".".join('"' + part.replace('"', '""') + '"' for part in (self.datastore.schema, self.events_table_name))
        sequence = SQL("pg_get_serial_sequence({0}, 'notification_id')").format(Literal(qualified))
        self.reserve_positions_statement = SQL("SELECT setval({0}, nextval({0}) + %s - 1)").format(sequence)

    def insert_linked_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        with (
            self.datastore.get_connection() as conn,
            conn.pipeline() as pipeline,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            positions = self._write_batch(conn, curs, stored_events, **kwargs)
            # A failed statement raises here (a taken key or claim: its own IntegrityError),
            # inside the transaction, which then rolls back instead of trying to commit.
            pipeline.sync()
        return positions

    def _write_batch(self, conn: Any, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> list[int]:
        count = len(stored_events)
        # 1. The table lock first, so keys and claims are written by one writer at a time
        # too: no unbounded waits, no deadlocks between writers. Then the positions.
        self._lock_table(curs)
        with conn.cursor(row_factory=tuple_row) as reserve:
            reserve.execute(self.reserve_positions_statement, (count,), prepare=True)
            last = int(reserve.fetchone()[0])  # waits for the lock and the block
        positions = list(range(last - count + 1, last + 1))
        # 2. Everything else of the batch, sent without waiting.
        write_personal_data_changes(Sql(curs, POSTGRESQL), **kwargs)
        claims: Sequence[Claim] = kwargs.get("claims", ())
        keys: Sequence[IngestKey] = kwargs.get("ingest_keys", ())
        if claims:
            _insert(curs, SQL("customer_claims"), CLAIM_COLUMNS,
                    [[c.kind for c in claims], [c.claim for c in claims], [c.customer_id for c in claims]])
        if keys:
            _insert(curs, SQL("ingest_keys"), KEY_COLUMNS,
                    [[k.event_id for k in keys], [k.digest for k in keys], [k.customer_id for k in keys],
                     [k.customer_version for k in keys], [k.source for k in keys]])
        self._notify_channel(curs)
        _insert(curs, self.events_table, EVENT_COLUMNS, [
            positions,
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        ])
        # 3. Meanwhile the links (a customer whose previous link this process does not know
        # reads it: that waits for the statements above), then the commit.
        links = new_links(Sql(curs, POSTGRESQL), stored_events, positions, self.chain_heads(), kwargs.get("chain_written"))
        _insert(curs, SQL("event_chain"), CHAIN_COLUMNS, [list(column) for column in zip(*links, strict=True)])
        return positions

    def select_customer_streams(self, customer_ids: Sequence[str]) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {self.events_table_name} "
                "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version",
                (list(customer_ids),),
                prepare=True,
            )
            return [
                StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                for r in curs.fetchall()
            ]


class PostgresWritersLock:
    """The writers' lock (CustomerLog.deciding): session advisory lock WRITERS_LOCK.

    PostgreSQL queues a shared request behind a waiting exclusive one, so the careful
    (exclusive) path cannot starve. The lock is a session lock on a pooled connection:
    released here, or by the server when the session ends (a killed process, a lost
    connection). Raises WritersBusy when it is not granted within POSTGRES_LOCK_TIMEOUT.
    """

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    @contextmanager
    def hold(self, *, exclusive: bool) -> Iterator[None]:
        datastore = self.datastore
        mode = "" if exclusive else "_shared"
        with datastore.get_connection() as conn:
            try:
                # One round trip for BEGIN, the timeout, the lock and COMMIT.
                with conn.pipeline(), conn.transaction():
                    conn.execute(SQL("SET LOCAL lock_timeout = '{0}s'").format(datastore.lock_timeout or 10))
                    conn.execute(f"SELECT pg_advisory_lock{mode}(%s)", (WRITERS_LOCK,))
            except psycopg.errors.LockNotAvailable:
                raise WritersBusy from None
            try:
                yield
            finally:
                try:
                    conn.execute(f"SELECT pg_advisory_unlock{mode}(%s)", (WRITERS_LOCK,))
                except psycopg.Error as exc:
                    # Never hand a connection that may still hold the lock back to the pool.
                    log.warning("writers_lock_release_failed", error=str(exc))
                    conn.close()

    def close(self) -> None:
        """Nothing to release: the lock lives on pooled connections, closed with the datastore."""


class _SteadyReconnect(AttemptWithBackoff):
    """psycopg_pool's reconnection attempt, its delay capped at RECONNECT_MAX_DELAY_S.

    The pool retries a failed connection after 1, 2, 4, 8 ... seconds: after a 40-second
    failover the next try could come half a minute after the new primary took over."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_MAX_DELAY_S)


class _FollowingPool(ConnectionPool[Any]):
    """eventsourcing's connection pool, reconnecting at a steady pace while no server answers."""

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        super()._add_connection(attempt or _SteadyReconnect(timeout=self.reconnect_timeout), growing)


class ClusterAwareFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory, with libpq's own options on every connection.

    The URL's servers go to libpq as they are (`host=h1,h2,h3 port=p1,p2,p3`), with
    `target_session_attrs` and the other options database.py lets through: each new
    connection goes to the first server that has the wanted role, so after a failover the
    pool's new connections reach the new primary and no process needs a restart. A broken
    connection is discarded when returned or when checked before use (POSTGRES_PRE_PING)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        assert isinstance(pool.kwargs, dict)  # eventsourcing gives its pool a dict of connection settings
        pool.kwargs.update(orjson.loads(self.env.get(LIBPQ_OPTIONS_KEY) or "{}"))
        # The pool is not open yet (the datastore opens it on first use): only its class changes.
        pool.__class__ = _FollowingPool
