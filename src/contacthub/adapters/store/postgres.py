"""The event log on PostgreSQL: its recorder and its writers' lock (an advisory lock)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier

from contacthub.adapters.store.chain import link_new_events
from contacthub.adapters.store.recording import ChainedInserts, write_personal_data_changes
from contacthub.projections.sql import POSTGRESQL, Sql
from contacthub.services.ports import Claim, IngestKey, WritersBusy

log = structlog.get_logger(__name__)

WRITERS_LOCK = 0x436F6E7461637448  # "ContactH": the advisory lock key every ContactHub writer shares


class PostgresCustomerRecorder(ChainedInserts, PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # The database-function insert path skips _insert_events, so keys and claims would not be written.
        if datastore.enable_db_functions:
            raise ValueError("POSTGRES_ENABLE_DB_FUNCTIONS must stay off for ContactHub")
        # Four plain typed arrays instead of one array of a composite type: psycopg dumps
        # these in C, where the composite array is dumped row by row in Python.
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING originator_id, originator_version, notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # Runs inside the transaction (and pipeline) that then inserts the events: a
        # duplicate key or claim fails the whole save with an IntegrityError.
        keys: Sequence[IngestKey] = kwargs.get("ingest_keys", ())
        claims: Sequence[Claim] = kwargs.get("claims", ())
        # The library runs this in pipeline mode. Sync when done (leaving the nested
        # pipeline block does), so a taken key or claim raises its own IntegrityError here
        # instead of surfacing later as "pipeline aborted" on the events insert.
        with curs.connection.pipeline():
            # The table lock (with its lock_timeout) first, so keys and claims are written
            # by one writer at a time too: no unbounded waits, no deadlocks between writers.
            self._lock_table(curs)
            write_personal_data_changes(Sql(curs, POSTGRESQL), **kwargs)
            self._insert_keys_and_claims(curs, keys, claims)

    def _insert_keys_and_claims(self, curs: Any, keys: Sequence[IngestKey], claims: Sequence[Claim]) -> None:
        if claims:
            curs.execute(
                "INSERT INTO customer_claims (kind, claim, customer_id) "
                "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[])",
                ([c.kind for c in claims], [c.claim for c in claims], [c.customer_id for c in claims]),
            )
        if keys:
            curs.execute(
                "INSERT INTO ingest_keys (event_id, digest, customer_id, customer_version) "
                "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[])",
                (
                    [k.event_id for k in keys],
                    [k.digest for k in keys],
                    [k.customer_id for k in keys],
                    [k.customer_version for k in keys],
                ),
            )

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # The table is already locked by _insert_events, in this same transaction.
        self._notify_channel(curs)
        curs.execute(
            self.insert_events_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            prepare=True,
        )

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        # SQL does not promise RETURNING rows in input order: match them up by (customer, version).
        ids = {(r["originator_id"], r["originator_version"]): r["notification_id"] for r in curs.fetchall()}
        positions = [ids[(e.originator_id, e.originator_version)] for e in stored_events]
        # Still inside the events' transaction, with the table lock held: links are written
        # one writer at a time, each after the previous writer's links.
        link_new_events(Sql(curs, POSTGRESQL), stored_events, positions, self.chain_heads(), kwargs.get("chain_written"))
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
                with conn.transaction():
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
