"""The event log: one eventsourcing application whose aggregates are customers.

What eventsourcing gives here: the stored-event tables, atomic multi-aggregate saves,
optimistic concurrency on (customer, version), the notification log with its PostgreSQL
table lock (commit order equals position order), and upcasting on read.

What this module adds:
- recorders that write the idempotency keys, identifier claims and hash-chain links in
  the same transaction as the events they describe (so a key or link exists if and only if
  its event does);
- loading many customers in one query (the write path loads a whole batch's customers at once);
- an orjson transcoder with a typed mapper (about ten times faster than the stdlib JSON one).
"""

from __future__ import annotations

import fcntl
import time
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, Callable

import orjson
import psycopg
import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Notification, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from contacthub.adapters.store.chain import ChainHeads, link_new_events
from contacthub.adapters.store.database import DatabaseTarget
from contacthub.projections.sql import POSTGRESQL, SQLITE, ReadStore, Sql
from contacthub.adapters.store.keyring import CustomerKeys, destroy_keys, insert_keys
from contacthub.domain.customer import Customer
from contacthub.services.ports import ERASED_DIGEST, Claim, IngestKey, StoredKey, WritersBusy

log = structlog.get_logger(__name__)

WRITERS_LOCK = 0x436F6E7461637448  # "ContactH": the advisory lock key every ContactHub writer shares
SQLITE_WRITERS_LOCK_TIMEOUT_S = 30.0  # as long as SQLite's own lock timeout (database.py)


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


@cache
def _field_decoders(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Which stored fields of an event class need converting back from JSON, and how."""
    decoders: list[tuple[str, Callable[[Any], Any]]] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        hint = hints.get(f.name)
        # `X | None` decodes like X (None values are skipped by the caller).
        args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else []
        if len(args) == 1:
            hint = args[0]
        if hint is datetime:
            decoders.append((f.name, datetime.fromisoformat))
        elif typing.get_origin(hint) is tuple:
            decoders.append((f.name, tuple))
    return tuple(decoders)


class TypedMapper(Mapper[str]):
    """orjson writes datetimes and tuples as strings and lists; the event's own types bring them back.

    Personal fields are encrypted on the way in and decrypted on the way out with the
    customer's key (keyring.py)."""

    def __init__(self, transcoder: Transcoder, keys: CustomerKeys) -> None:
        super().__init__(transcoder=transcoder)
        self.keys = keys

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        # The library's version, minus its generic topic lookup: every event class here
        # carries its public type name as TOPIC, and that is the stored topic.
        state = dict(domain_event.__dict__)
        self.keys.encrypt_fields(type(domain_event).TOPIC, state, state["originator_id"])
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(originator_id, originator_version, type(domain_event).TOPIC, self.transcoder.encode(state))

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        state = domain_event.__dict__
        self.keys.decrypt_fields(stored_event.topic, state, stored_event.originator_id)
        for name, decode in _field_decoders(type(domain_event)):
            value = state.get(name)
            if value is not None:
                state[name] = decode(value)
        return domain_event


# --- recorders -------------------------------------------------------------------------

_INSERT_KEY = "INSERT INTO ingest_keys (event_id, digest, customer_id, customer_version) VALUES (?, ?, ?, ?)"
_INSERT_CLAIM = "INSERT INTO customer_claims (kind, claim, customer_id) VALUES (?, ?, ?)"


def _write_personal_data_changes(sql: Sql, **kwargs: Any) -> None:
    """New customers' keys, and erasures, in the events' own transaction.

    An erasure destroys the key, frees the customer's msisdns (the claims that resolve a
    number to them) and blanks the digests of what their channels posted (a digest over a
    payload naming an 11-digit msisdn could be matched by trying every number)."""
    insert_keys(sql, kwargs.get("customer_keys", ()))
    erased: Sequence[str] = kwargs.get("erased", ())
    destroy_keys(sql, erased)
    for customer_id in erased:
        sql.execute("DELETE FROM customer_claims WHERE kind = 'msisdn' AND customer_id = ?", (customer_id,))
        sql.execute("UPDATE ingest_keys SET digest = ? WHERE customer_id = ?", (ERASED_DIGEST, customer_id))


class _ChainedInserts:
    """Both recorders: remember the chain heads written, once their transaction committed."""

    def chain_heads(self) -> ChainHeads:
        heads = self.__dict__.get("_chain_heads")
        if heads is None:
            heads = self.__dict__["_chain_heads"] = ChainHeads()
        return heads  # type: ignore[no-any-return]

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        written: dict[str, tuple[int, str]] = {}
        positions = super().insert_events(stored_events, chain_written=written, **kwargs)  # type: ignore[misc]
        self.chain_heads().committed(written)  # only reached after the commit
        return positions  # type: ignore[no-any-return]


class SQLiteCustomerRecorder(_ChainedInserts, SQLiteApplicationRecorder):
    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        keys: Sequence[IngestKey] = kwargs.get("ingest_keys", ())
        claims: Sequence[Claim] = kwargs.get("claims", ())
        _write_personal_data_changes(Sql(c, SQLITE), **kwargs)
        if claims:
            c.executemany(_INSERT_CLAIM, [(k.kind, k.claim, k.customer_id) for k in claims])
        if keys:
            c.executemany(
                _INSERT_KEY, [(k.event_id, k.digest, k.customer_id, k.customer_version) for k in keys]
            )
        positions = super()._insert_events(c, stored_events, **kwargs) or []
        link_new_events(Sql(c, SQLITE), stored_events, positions, self.chain_heads(), kwargs.get("chain_written"))
        return positions

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


class PostgresCustomerRecorder(_ChainedInserts, PostgresApplicationRecorder):
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
            _write_personal_data_changes(Sql(curs, POSTGRESQL), **kwargs)
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


class CustomerLog(Application[str]):
    """The one application: every customer's events, in one notification log."""

    name = "contacthub"

    def __init__(self, target: DatabaseTarget) -> None:
        recorder_cls = SQLiteCustomerRecorder if target.dialect == SQLITE else PostgresCustomerRecorder
        env = {
            **target.es_env,
            "ORIGINATOR_ID_TYPE": "text",
            "APPLICATION_RECORDER_TOPIC": get_topic(recorder_cls),
        }
        self.dialect = target.dialect
        self.keys = CustomerKeys()
        self._writers_lock_path = target.es_env.get("SQLITE_DBNAME", "") + "-writers.lock"
        self._writers_lock_file: typing.BinaryIO | None = None
        super().__init__(env=env)
        self.read_store = ReadStore(self.factory.datastore, target.dialect)  # type: ignore[attr-defined]
        self.keys.store = self.read_store

    def close(self) -> None:
        if self._writers_lock_file is not None:
            self._writers_lock_file.close()
            self._writers_lock_file = None
        super().close()

    def construct_env(self, name: str, env: Any = None) -> Any:
        # Configuration comes from CONTACTHUB_* settings only; ignore stray os.environ.
        from eventsourcing.utils import Environment

        return Environment(name, dict(env or {}))

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper[str]:
        return TypedMapper(transcoder=self.construct_transcoder(), keys=self.keys)

    @property
    def events_table(self) -> str:
        return self.recorder.events_table_name  # type: ignore[attr-defined,no-any-return]

    # --- write path -----------------------------------------------------------------

    def load_customers(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        """Rebuild many customers from their events, with one query."""
        ids = list(dict.fromkeys(customer_ids))
        customers: dict[str, Customer] = {}
        if not ids:
            return customers
        for event in self.decode(self.recorder.select_customer_streams(ids)):  # type: ignore[attr-defined]
            customers[event.originator_id] = event.mutate(customers.get(event.originator_id))  # type: ignore[attr-defined]
        return customers

    def decode(self, stored: Sequence[StoredEvent]) -> list[Any]:
        """Domain events from stored ones, with the keys of their customers read once for all."""
        with self.keys.loaded({s.originator_id for s in stored}):
            return [self.mapper.to_domain_event(s) for s in stored]

    def _any(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """`column` is one of `values`: one array parameter on PostgreSQL, a list on SQLite."""
        if self.dialect == POSTGRESQL:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def _chunks(self, values: Sequence[str]) -> list[Sequence[str]]:
        # SQLite builds may bind as few as 32,766 parameters; PostgreSQL takes one array.
        if self.dialect == POSTGRESQL:
            return [values]
        return [values[i : i + 900] for i in range(0, len(values), 900)]

    def lookup_keys(self, event_ids: Sequence[str]) -> dict[str, StoredKey]:
        if not event_ids:
            return {}
        position = "e.rowid" if self.dialect == SQLITE else "e.notification_id"
        rows = []
        with self.read_store.transaction(commit=False) as sql:
            for chunk in self._chunks(event_ids):
                match, params = self._any("k.event_id", chunk)
                rows += sql.execute(
                    f"SELECT k.event_id, k.digest, k.customer_id, {position} AS position FROM ingest_keys k "
                    f"JOIN {self.events_table} e ON e.originator_id = k.customer_id "
                    f"AND e.originator_version = k.customer_version WHERE {match}",
                    params,
                ).all()
        return {r["event_id"]: StoredKey(r["digest"], r["customer_id"], int(r["position"])) for r in rows}

    def lookup_claims(self, kind: str, claims: Sequence[str]) -> dict[str, str]:
        if not claims:
            return {}
        rows = []
        with self.read_store.transaction(commit=False) as sql:
            for chunk in self._chunks(claims):
                match, params = self._any("claim", chunk)
                rows += sql.execute(
                    f"SELECT claim, customer_id FROM customer_claims WHERE kind = ? AND {match}", [kind, *params]
                ).all()
        return {r["claim"]: r["customer_id"] for r in rows}

    @contextmanager
    def deciding(self, *, exclusive: bool) -> Iterator[None]:
        """Hold the writers' lock while a batch is decided and stored (PostgreSQL; SQLite: nothing to do).

        Every writer process decides a batch on customer state it read before its insert
        takes the table lock, so another process may store events of the same customer in
        between; the insert then fails on (customer, version) and the batch is decided
        again. Alone that retry can lose again and again to a busy neighbour. Writers
        therefore hold PostgreSQL advisory lock WRITERS_LOCK from before they read to after
        they commit: shared on the fast path (many processes decide at once, their inserts
        are serialised by the table lock anyway), exclusive on the careful path, so a batch
        decided again on fresh state is never overtaken. PostgreSQL queues a shared request
        behind a waiting exclusive one, so the careful path cannot starve.

        The lock is a session lock on a pooled connection: released here, or by the server
        when the session ends (a killed process, a lost connection). Raises WritersBusy
        when it is not granted within POSTGRES_LOCK_TIMEOUT.
        """
        if self.dialect == SQLITE:
            with self._sqlite_writers_lock(exclusive):
                yield
            return
        datastore = self.factory.datastore  # type: ignore[attr-defined]
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

    @contextmanager
    def _sqlite_writers_lock(self, exclusive: bool) -> Iterator[None]:
        """The same lock for processes sharing one SQLite file: flock on a file beside it."""
        if self._writers_lock_file is None:
            self._writers_lock_file = open(self._writers_lock_path, "a+b")  # noqa: SIM115 (kept until close())
        descriptor = self._writers_lock_file.fileno()
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

    def record(
        self, customers: Sequence[Customer], ingest_keys: Sequence[IngestKey], claims: Sequence[Claim]
    ) -> dict[tuple[str, int], int]:
        """Save every pending event of these customers, their keys and claims, atomically.

        Returns the log position of each stored event by (customer_id, version).
        """
        # Straight to the event store: Application.save() would add runtime Protocol checks
        # per aggregate (measured at about 15% of ingest time) for snapshot and
        # notification features this application does not use.
        # In the order the batch decided them, so the log reads like the batch.
        pending = {(e.originator_id, e.originator_version): e for c in customers for e in c.collect_events()}
        ordered = [pending.pop((k.customer_id, k.customer_version)) for k in ingest_keys]
        if pending:  # every stored event must have its idempotency key
            raise ValueError(f"events without an ingest key: {sorted(pending)}")
        with self.keys.loaded({e.originator_id for e in ordered}):
            stored = [self.mapper.to_stored_event(e) for e in ordered]
            new_keys = self.keys.take_pending()
        erased = [e.originator_id for e in ordered if isinstance(e, Customer.Erased)]
        positions = self.recorder.insert_events(
            stored, ingest_keys=ingest_keys, claims=claims, customer_keys=new_keys, erased=erased
        ) or []
        return {(e.originator_id, e.originator_version): p for e, p in zip(stored, positions, strict=True)}

    # --- read path ------------------------------------------------------------------

    def head_position(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def read_notifications(self, after: int, limit: int) -> Sequence[Notification]:
        return self.recorder.select_notifications(after, limit, inclusive_of_start=False)

    def read_events(self, after: int, limit: int) -> list[tuple[int, Customer.Event]]:
        notifications = self.read_notifications(after, limit)
        return list(zip((n.id for n in notifications), self.decode(notifications), strict=True))

    def customer_history(self, customer_id: str) -> list[tuple[int, Customer.Event]]:
        """The customer's stored events with their log positions, in log order (upcast on read)."""
        position = "notification_id" if self.dialect == POSTGRESQL else "rowid"
        rows = self.read_store.query(
            f"SELECT {position} AS position, originator_id, originator_version, topic, state "
            f"FROM {self.events_table} WHERE originator_id = ? ORDER BY originator_version",
            (customer_id,),
        )
        stored = [StoredEvent(r["originator_id"], int(r["originator_version"]), r["topic"], bytes(r["state"])) for r in rows]
        return list(zip((int(r["position"]) for r in rows), self.decode(stored), strict=True))

    def customer_events(self, customer_id: str) -> list[Customer.Event]:
        with self.keys.loaded([customer_id]):
            return list(self.events.get(customer_id))  # type: ignore[arg-type]
