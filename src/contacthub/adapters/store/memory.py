"""The event log in this process's memory: the EventLog port (services/ports.py) for unit tests.

No database and no I/O. What it promises is what CustomerLog (eventlog.py) promises on
SQLite and PostgreSQL, checked side by side in tests/integration/test_event_log_parity.py:

- `record()` stores every pending event of the given customers with their ingest keys and
  claims, all or nothing: eventsourcing's IntegrityError, and nothing stored, when a
  (customer, version) is already stored, an event_id already has a key, or an identifier
  (kind, claim) already belongs to a customer (the primary keys of the real tables, also
  within the batch itself). Events without an ingest key are refused with ValueError.
- Positions are 1, 2, 3... in the order of the ingest keys (the real log's may have gaps).
- The holdings of numbers follow the events (domain/numbers.py): a release ends its holding
  and frees its claim; a `Customer.Erased` event frees the customer's msisdn claims, forgets
  their holdings and sets the digests of their stored ingest keys to ERASED_DIGEST; all of
  it before the batch's own claims and keys are written (the recorders' order).
- `load_customers()` rebuilds customers from the stored events on every call: never the
  instances the caller then mutates.

Deliberately different: personal data is not encrypted, so after an erasure the events
still read with the personal fields they were recorded with (the real store destroys the
customer's key, and those fields then read as erased). Events are kept as the objects
recorded (they are frozen dataclasses), so nothing is upcast. The writers' lock is one
re-entrant lock: shared and exclusive holders alike are serialised (one process only).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import cast

from eventsourcing.persistence import IntegrityError

from contacthub.domain.customer import Customer
from contacthub.domain.numbers import Holding, holding_changes
from contacthub.projections.base import PositionedEvent
from contacthub.services.ports import ERASED_DIGEST, Claim, IngestKey, StoredKey, WritersBusy

WRITERS_LOCK_TIMEOUT_S = 30.0  # as long as the SQLite writers' lock waits (sqlite.py)


class InMemoryEventLog:
    """Every customer's events in one ordered list, with their keys and claims (see the module docstring)."""

    def __init__(self, *, lock_timeout_s: float = WRITERS_LOCK_TIMEOUT_S) -> None:
        self.lock_timeout_s = lock_timeout_s
        self._events: list[Customer.Event] = []  # the event at position p is _events[p - 1]
        self._positions: dict[tuple[str, int], int] = {}  # (customer_id, version) -> position
        self._streams: dict[str, list[tuple[int, int]]] = {}  # customer_id -> [(version, position)]
        self._keys: dict[str, IngestKey] = {}  # event_id -> its key
        self._claims: dict[tuple[str, str], str] = {}  # (kind, claim) -> customer_id
        self._holdings: list[Holding] = []  # every holding of every number, in the order they started
        self._data = threading.Lock()  # held briefly by every read and by each record()
        self._writers = threading.RLock()  # the writers' lock (deciding)

    # --- write path -----------------------------------------------------------------

    def lookup_keys(self, event_ids: Sequence[str]) -> dict[str, StoredKey]:
        return self._lookup(event_ids, legacy_only=False)

    def lookup_legacy_keys(self, event_ids: Sequence[str]) -> dict[str, StoredKey]:
        return self._lookup(event_ids, legacy_only=True)

    def has_legacy_keys(self) -> bool:
        with self._data:
            return any(key.source is None for key in self._keys.values())

    def _lookup(self, event_ids: Sequence[str], *, legacy_only: bool) -> dict[str, StoredKey]:
        found: dict[str, StoredKey] = {}
        with self._data:
            for event_id in event_ids:
                key = self._keys.get(event_id)
                if key is not None and legacy_only and key.source is not None:
                    continue
                position = None if key is None else self._positions.get((key.customer_id, key.customer_version))
                if key is not None and position is not None:
                    found[event_id] = StoredKey(key.digest, key.customer_id, position)
        return found

    def lookup_claims(self, kind: str, claims: Sequence[str]) -> dict[str, str]:
        with self._data:
            return {claim: self._claims[(kind, claim)] for claim in claims if (kind, claim) in self._claims}

    def lookup_holdings(self, msisdns: Sequence[str]) -> dict[str, list[Holding]]:
        wanted = set(msisdns)
        found: dict[str, list[Holding]] = {}
        with self._data:
            for holding in self._holdings:
                if holding.msisdn in wanted:
                    found.setdefault(holding.msisdn, []).append(holding)
        return found

    def load_customers(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        with self._data:
            streams = {
                customer_id: [self._events[position - 1] for _, position in sorted(self._streams[customer_id])]
                for customer_id in dict.fromkeys(customer_ids)
                if customer_id in self._streams
            }
        customers: dict[str, Customer] = {}
        for customer_id, events in streams.items():
            customer: Customer | None = None
            for event in events:
                customer = event.mutate(customer)
            if customer is not None:
                customers[customer_id] = customer
        return customers

    @contextmanager
    def deciding(self, *, exclusive: bool) -> Iterator[None]:
        """Hold the writers' lock for the block, whatever `exclusive` says (one process: one lock)."""
        if not self._writers.acquire(timeout=self.lock_timeout_s):
            raise WritersBusy
        try:
            yield
        finally:
            self._writers.release()

    def record(
        self, customers: Sequence[Customer], ingest_keys: Sequence[IngestKey], claims: Sequence[Claim]
    ) -> dict[tuple[str, int], int]:
        """Store every pending event of these customers with their keys and claims, all or nothing.

        Returns each stored event's position by (customer_id, version)."""
        # As CustomerLog.record: in the order of the keys, and every event must have one.
        pending: dict[tuple[str, int], Customer.Event] = {
            (e.originator_id, e.originator_version): cast(Customer.Event, e) for c in customers for e in c.collect_events()
        }
        ordered = [pending.pop((k.customer_id, k.customer_version)) for k in ingest_keys]
        if pending:
            raise ValueError(f"events without an ingest key: {sorted(pending)}")
        erased = {e.originator_id for e in ordered if isinstance(e, Customer.Erased)}
        changes = holding_changes(ordered)
        released = {(c.msisdn, c.customer_id) for c in changes if not c.started}
        with self._data:
            self._check(ordered, ingest_keys, claims, erased, released)
            # Nothing below can fail: the batch is stored whole.
            for change in changes:
                if change.started:
                    taken_again = (change.msisdn, change.customer_id, change.at)  # a zero-length holding, taken again
                    self._holdings = [h for h in self._holdings if (h.msisdn, h.customer_id, h.held_from) != taken_again]
                    self._holdings.append(Holding(change.msisdn, change.customer_id, change.at))
                    continue
                self._holdings = [
                    dataclasses.replace(h, released_at=change.at)
                    if (h.msisdn, h.customer_id, h.released_at) == (change.msisdn, change.customer_id, None) else h
                    for h in self._holdings
                ]
                if self._claims.get(("msisdn", change.msisdn)) == change.customer_id:
                    del self._claims[("msisdn", change.msisdn)]
            self._holdings = [h for h in self._holdings if h.customer_id not in erased]
            for (kind, claim), owner in list(self._claims.items()):
                if kind in ("msisdn", "unidentified") and owner in erased:
                    del self._claims[(kind, claim)]
            for event_id, key in self._keys.items():
                if key.customer_id in erased:
                    self._keys[event_id] = dataclasses.replace(key, digest=ERASED_DIGEST)
            for c in claims:
                self._claims[(c.kind, c.claim)] = c.customer_id
            for k in ingest_keys:
                self._keys[k.event_id] = k
            positions: dict[tuple[str, int], int] = {}
            for event in ordered:
                self._events.append(event)
                position = len(self._events)
                at = (event.originator_id, event.originator_version)
                self._positions[at] = positions[at] = position
                self._streams.setdefault(event.originator_id, []).append((event.originator_version, position))
        return positions

    def _check(
        self, ordered: Sequence[Customer.Event], keys: Sequence[IngestKey], claims: Sequence[Claim], erased: set[str],
        released: set[tuple[str, str]],
    ) -> None:
        """The unique keys of the real tables: events (customer, version), ingest_keys (event_id),
        customer_claims (kind, claim), the latter after the releases and erasures have freed their msisdns."""
        versions: set[tuple[str, int]] = set()
        for event in ordered:
            at = (event.originator_id, event.originator_version)
            if at in self._positions or at in versions:
                raise IntegrityError(f"customer {at[0]} version {at[1]} is already stored")
            versions.add(at)
        event_ids: set[str] = set()
        for k in keys:
            if k.event_id in self._keys or k.event_id in event_ids:
                raise IntegrityError(f"event_id {k.event_id} is already stored")
            event_ids.add(k.event_id)
        claimed: set[tuple[str, str]] = set()
        for c in claims:
            owner = self._claims.get((c.kind, c.claim))
            freed = owner is not None and c.kind == "msisdn" and (owner in erased or (c.claim, owner) in released)
            if (owner is not None and not freed) or (c.kind, c.claim) in claimed:
                raise IntegrityError(f"{c.kind} {c.claim} already belongs to a customer")
            claimed.add((c.kind, c.claim))

    # --- read path ------------------------------------------------------------------

    def head_position(self) -> int:
        with self._data:
            return len(self._events)

    def read_events(self, after: int, limit: int) -> list[PositionedEvent]:
        start = max(after, 0)
        with self._data:
            stop = min(start + max(limit, 0), len(self._events))
            return [(position, self._events[position - 1]) for position in range(start + 1, stop + 1)]

    def customer_history(self, customer_id: str) -> list[PositionedEvent]:
        with self._data:
            return [(position, self._events[position - 1]) for _, position in sorted(self._streams.get(customer_id, []))]

    def close(self) -> None:
        """Nothing to release."""
