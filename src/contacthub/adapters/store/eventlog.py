"""The event log: one eventsourcing application whose aggregates are customers.

What eventsourcing gives here: the stored-event tables, atomic multi-aggregate saves,
optimistic concurrency on (customer, version), the notification log with its PostgreSQL
table lock (commit order equals position order), and upcasting on read.

What ContactHub adds, one module each:
- recorders that write the idempotency keys, identifier claims and hash-chain links in
  the same transaction as the events they describe (so a key or link exists if and only if
  its event does), and the writers' lock: sqlite.py, postgres.py, their shared part in
  recording.py;
- an orjson transcoder with a typed mapper (about ten times faster than the stdlib JSON
  one), encrypting personal fields per customer: mapping.py;
- here, the application: loading many customers in one query (the write path loads a whole
  batch's customers at once), keys and claims lookups, and reading the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, cast

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Notification, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from contacthub.adapters.store.database import DatabaseTarget
from contacthub.adapters.store.keyring import CustomerKeys, has_personal_fields
from contacthub.adapters.store.mapping import OrjsonTranscoder, TypedMapper
from contacthub.adapters.store.postgres import PostgresCustomerRecorder, PostgresProjectionTracking, PostgresWritersLock
from contacthub.adapters.store.recording import WritersLock
from contacthub.adapters.store.sqlite import (
    SQLiteCustomerRecorder,
    SQLiteProjectionTracking,
    SQLiteWritersLock,
    create_owner_only,
    keep_connections,
    use_write_ahead_log,
)
from contacthub.domain.customer import Customer
from contacthub.domain.numbers import Holding, holding_changes
from contacthub.projections.base import holdings_of
from contacthub.projections.sql import POSTGRESQL, SQLITE, ReadStore
from contacthub.services.ports import Claim, IngestKey, StoredKey


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
        # Their tables are created one process at a time (several processes start together: serve --workers).
        env["TRACKING_RECORDER_TOPIC"] = get_topic(
            SQLiteProjectionTracking if target.dialect == SQLITE else PostgresProjectionTracking)
        self.dialect = target.dialect
        self.keys = CustomerKeys()
        if target.dialect == SQLITE:
            create_owner_only(target.es_env["SQLITE_DBNAME"])  # before eventsourcing opens (and so creates) it
            use_write_ahead_log(target.es_env["SQLITE_DBNAME"], float(target.es_env.get("SQLITE_LOCK_TIMEOUT", 30)))
        try:
            super().__init__(env=env)
        except BaseException:
            # The database could not be opened (creating the tables connects): close the pool
            # the factory had started, or its threads keep trying in a process that goes on.
            factory = self.__dict__.get("factory")
            if factory is not None:
                factory.close()
            raise
        datastore = self.factory.datastore  # type: ignore[attr-defined]
        if target.dialect == SQLITE:
            keep_connections(datastore.pool)
        self.read_store = ReadStore(datastore, target.dialect)
        self.keys.store = self.read_store
        self.writers_lock: WritersLock = (
            SQLiteWritersLock(target.es_env.get("SQLITE_DBNAME", ""))
            if target.dialect == SQLITE
            else PostgresWritersLock(datastore)
        )

    def close(self) -> None:
        self.writers_lock.close()
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
            customers[event.originator_id] = event.mutate(customers.get(event.originator_id))
        return customers

    def decode(self, stored: Sequence[StoredEvent]) -> list[Any]:
        """Domain events from stored ones, with the keys of their customers read once for all."""
        with self.keys.loaded({s.originator_id for s in stored if has_personal_fields(s.topic)}):  # type: ignore[misc]
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
        return self._keys(event_ids, "")

    def lookup_legacy_keys(self, event_ids: Sequence[str]) -> dict[str, StoredKey]:
        return self._keys(event_ids, " AND k.source IS NULL")

    def has_legacy_keys(self) -> bool:
        with self.read_store.transaction(commit=False) as sql:
            return sql.execute("SELECT 1 AS found FROM ingest_keys WHERE source IS NULL LIMIT 1").one() is not None

    def _keys(self, event_ids: Sequence[str], condition: str) -> dict[str, StoredKey]:
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
                    f"AND e.originator_version = k.customer_version WHERE {match}{condition}",
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

    def lookup_holdings(self, msisdns: Sequence[str]) -> dict[str, list[Holding]]:
        if not msisdns:
            return {}
        rows = []
        with self.read_store.transaction(commit=False) as sql:
            for chunk in self._chunks(msisdns):
                match, params = self._any("msisdn", chunk)
                rows += sql.execute(
                    f"SELECT msisdn, customer_id, held_from, released_at FROM msisdn_holdings WHERE {match}", params
                ).all()
        return holdings_of(rows)

    def deciding(self, *, exclusive: bool) -> AbstractContextManager[None]:
        """Hold the writers' lock while a batch is decided and stored.

        Every writer process decides a batch on customer state it read before its insert
        takes the table lock, so another process may store events of the same customer in
        between; the insert then fails on (customer, version) and the batch is decided
        again. Alone that retry can lose again and again to a busy neighbour. Writers
        therefore hold the writers' lock from before they read to after they commit: shared
        on the fast path (many processes decide at once, their inserts are serialised by
        the table lock anyway), exclusive on the careful path, so a batch decided again on
        fresh state is never overtaken.

        PostgreSQL: advisory lock WRITERS_LOCK (postgres.py); SQLite: flock on a file beside
        the database (sqlite.py). Raises WritersBusy when it is not granted in time.
        """
        return self.writers_lock.hold(exclusive=exclusive)

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
        with self.keys.loaded({e.originator_id for e in ordered if has_personal_fields(type(e).TOPIC)}):  # type: ignore[attr-defined]
            stored = [self.mapper.to_stored_event(e) for e in ordered]
            new_keys = self.keys.take_pending()
        erased = [e.originator_id for e in ordered if isinstance(e, Customer.Erased)]
        positions = self.recorder.insert_events(
            stored, ingest_keys=ingest_keys, claims=claims, customer_keys=new_keys, erased=erased,
            holding_changes=holding_changes(cast("list[Customer.Event]", ordered)),
        ) or []
        return {(e.originator_id, e.originator_version): p for e, p in zip(stored, positions, strict=True)}  # type: ignore[misc]

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
