"""Ingesting a batch of channel events: validate, deduplicate, resolve, decide, store.

The batch is one unit: every event is stored, in one transaction, or none is. Event ids
are durable idempotency keys: posting an already stored event again answers "duplicate"
and changes nothing; reusing an id for different content is refused.
"""

from __future__ import annotations

import gc
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import structlog
from eventsourcing.persistence import IntegrityError

from contacthub.contract import (
    CLAIMED_BY,
    COMMANDS,
    IDENTITY_EVENT_ID_PREFIX,
    LATE_EVENT_ID_PREFIX,
    MAX_BATCH,
    ComplaintOpened,
    ContactLogged,
    CustomerMerged,
    CustomerRegistered,
    CustomerUnmerged,
    EventSchema,
    FieldError,
    MsisdnAdded,
    MsisdnReleased,
    OrderCancelled,
    ServiceActivated,
    content_digest,
    validate_event,
)
from contacthub.domain.complaint import SlaPolicy
from contacthub.domain.customer import SYSTEM, Customer, attribute
from contacthub.domain.errors import RuleViolation
from contacthub.domain.numbers import (
    UNIDENTIFIED_PREFIX,
    Holding,
    holding_at,
    is_unidentified_party,
    last_release,
)
from contacthub.domain.roles import OPERATOR, UNSCOPED_SOURCES, stored_event_id
from contacthub.services.ports import ERASED_DIGEST, Claim, EventLog, IngestKey, WritersBusy

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class EventResult:
    event_id: str
    status: str  # recorded | duplicate
    position: int


@dataclass(frozen=True)
class IngestOutcome:
    results: list[EventResult]
    position: int


class IngestRejected(Exception):
    """Nothing of the batch was stored. 422: the input is malformed; 409: it conflicts with what is stored;
    503: other writers kept the log busy past the lock timeout (retry). `owners`: the customer each
    event (by index) was resolved to, as far as the batch got."""

    def __init__(self, status_code: int, errors: list[FieldError], owners: dict[int, str] | None = None) -> None:
        super().__init__(f"{len(errors)} error(s)")
        self.status_code = status_code
        self.errors = errors
        self.owners = owners or {}


_collector_lock = threading.Lock()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while one batch is ingested.

    A batch allocates a few hundred thousand short-lived objects (schemas, events, keys,
    stored rows), all freed by reference counting when it ends. With the collector running
    they outlive many young-generation passes and are promoted to the oldest generation,
    whose growth then triggers full collections, each walking every long-lived object
    (every cached customer): at 100,000 customers these cost 12-15 us of each event's
    15-20. Paused, the batch's garbage is gone before the collector looks again, and cycles
    made meanwhile are collected as soon as it runs again.

    Only the batch that found the collector running pauses it, and it resumes it when it
    ends, whatever other threads do meanwhile: a pause never outlasts one batch, so
    overlapping batches cannot keep the collector off for good, and a collector someone
    else switched off stays off.
    """
    with _collector_lock:
        pausing = gc.isenabled()
        if pausing:
            gc.disable()
    try:
        yield
    finally:
        if pausing:
            gc.enable()


class _Retry(Exception):
    """Another writer changed what this batch was decided on; decide again."""


class CustomerCache:
    """Customers' decision state kept between batches, least recently used dropped first.

    Only customers whose batch was stored are put (back) here. With other writers an entry
    may be stale: its next save then fails on (customer, version), or a rule refuses an
    event on stale state; either way the batch is decided again on the careful path, which
    loads every customer fresh from the log.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[str, Customer] = OrderedDict()

    def get(self, customer_id: str) -> Customer | None:
        customer = self._entries.get(customer_id)
        if customer is not None:
            self._entries.move_to_end(customer_id)
        return customer

    def take(self, customer_id: str) -> Customer | None:
        return self._entries.pop(customer_id, None)

    def put(self, customer: Customer) -> None:
        self.put_all([customer])

    def put_all(self, customers: Iterable[Customer]) -> None:
        if self.maxsize <= 0:
            return
        entries = self._entries
        for customer in customers:
            entries[customer.id] = customer
            entries.move_to_end(customer.id)
        while len(entries) > self.maxsize:
            entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class IngestService:
    def __init__(
        self,
        event_log: EventLog,
        cache_size: int = 200_000,
        future_tolerance: timedelta = timedelta(days=1),
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_recorded: Callable[[int], None] | None = None,
        sla_policy: SlaPolicy | None = None,
        unidentified_look_back: timedelta = timedelta(days=30),
    ) -> None:
        self.log = event_log
        self.unidentified_look_back = unidentified_look_back
        """How long before a number's holding starts a touchpoint from it still joins the holder
        (domain/numbers.py, holding_at); older ones stay on the number's unidentified party."""
        self.sla_policy = sla_policy  # recorded on every complaint opened from now on
        self.cache = CustomerCache(cache_size)
        self.future_tolerance = future_tolerance
        self.clock = clock
        self.on_recorded = on_recorded
        self._has_legacy: bool | None = None  # keys from before ids were scoped; asked once
        # One batch at a time per process: the cache is shared, and the database
        # serialises writers anyway (PostgreSQL's table lock, SQLite's single writer).
        self._lock = threading.Lock()

    def ingest(self, raw_events: Sequence[Any], *, digest_ignores: frozenset[str] = frozenset(),
               posted_by: str | None = None, name_customers: bool = True,
               source: str = OPERATOR) -> IngestOutcome:
        """Validate and store a batch, all or nothing.

        `digest_ignores`: fields left out of "the same content" for these events, for callers
        that fill a field themselves on each attempt (an action's time defaulted to "now").
        `posted_by`: the API key that posted the batch, stored with each new event (domain/customer.py, POSTED_BY).
        `name_customers`: False for a channel's key, which may not learn whose a number, an order or
        a complaint is: a refusal then names no customer the event did not name itself.
        `source`: whose namespace the event ids are in (domain/roles.py, `source_of`): a channel's
        binding, `clerk:<name>`; OPERATOR (the default, for the operator's own tools) stores them as posted.
        """
        if not 1 <= len(raw_events) <= MAX_BATCH:
            raise IngestRejected(
                422,
                [FieldError(index=None, event_id=None, field="events", message=f"a batch holds 1 to {MAX_BATCH} events")],
            )
        with collector_paused():
            # Validation needs no shared state: it runs outside the writer lock, so one
            # request is validated while another's batch is being written.
            events = self._validate(raw_events)
            if digest_ignores:
                raw_events = [{k: v for k, v in raw.items() if k not in digest_ignores} for raw in raw_events]
            try:
                return self._store(events, [content_digest(raw) for raw in raw_events], posted_by, source)
            except IngestRejected as rejected:
                if not name_customers:
                    self._unname_customers(rejected, events)
                raise

    def record_internal(self, events: Sequence[EventSchema]) -> IngestOutcome:
        """Record events ContactHub decides itself (the watchers', and the SLA policy's breach actions, which
        are ordinary complaint steps), through the same rules and keys."""
        # The content of such an event is what it is about, not the moment or the way it was
        # noticed (NOT_CONTENT): the same warning or jeopardy noticed again (a restart, a
        # second watcher) is a duplicate.
        with collector_paused():
            digests = [content_digest(e.model_dump(mode="json", exclude=set(getattr(e, "NOT_CONTENT", ("occurred_at",)))))
                       for e in events]
            return self._store(list(events), digests, SYSTEM, SYSTEM)

    def _store(self, events: list[EventSchema], digests: list[str], posted_by: str | None, source: str) -> IngestOutcome:
        with self._lock:
            # Fast path first: assume nothing in the batch is stored yet (the usual case), so
            # skip the key lookups; the unique key on ingest_keys still refuses a duplicate
            # atomically. Any refusal or conflict is decided again on the careful path, which
            # looks every key up first, so a duplicate is answered as such, never as an error.
            careful = False
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    # The careful path holds the writers' lock alone: no other process can
                    # overtake a batch decided again on fresh state (CustomerLog.deciding).
                    with self._writers_lock(exclusive=careful):
                        return self._decide_and_store(events, digests, careful, posted_by, source)
                except _Retry:
                    if careful:
                        log.info("ingest_retry", attempt=attempt, events=len(events))
                    careful = True
                except IngestRejected:
                    if careful:
                        raise
                    careful = True
        raise IngestRejected(
            409,
            [
                FieldError(
                    index=None,
                    event_id=None,
                    field="events",
                    message="the customers in this batch kept changing under concurrent writers; retry the batch",
                )
            ],
        )

    # --- steps --------------------------------------------------------------------

    def _validate(self, raw_events: Sequence[Any]) -> list[EventSchema]:
        errors: list[FieldError] = []
        events: list[EventSchema] = []
        latest_allowed = self.clock() + self.future_tolerance
        for index, raw in enumerate(raw_events):
            event, problems = validate_event(index, raw)
            errors.extend(problems)
            if event is not None:
                if event.occurred_at > latest_allowed:
                    errors.append(
                        FieldError(
                            index=index,
                            event_id=event.event_id,
                            field="occurred_at",
                            message="occurred_at lies more than "
                            f"{int(self.future_tolerance.total_seconds())} s in the future",
                        )
                    )
                events.append(event)
        if errors:
            raise IngestRejected(422, errors)
        return events

    def _decide_and_store(self, events: list[EventSchema], digests: list[str], careful: bool,
                          posted_by: str | None, source: str) -> IngestOutcome:
        errors: list[FieldError] = []

        # 1. Duplicates: within the batch, then against every key this source ever stored.
        # Ids are compared as stored: scoped by the source, so another source's ids are neither
        # seen nor refused here (domain/roles.py, stored_event_id).
        ids = [stored_event_id(source, e.event_id) for e in events]
        first_index: dict[str, int] = {}
        for i, event in enumerate(events):
            seen = first_index.setdefault(ids[i], i)
            if seen != i and digests[seen] != digests[i]:
                errors.append(_error(i, event, "event_id", f"event_id is used again in this batch (at index {seen}) with different content"))
        stored_keys = self.log.lookup_keys(list(first_index)) if careful else {}
        stored_keys.update(self._legacy_keys(source, events, ids, stored_keys))
        for i, event in enumerate(events):
            stored = stored_keys.get(ids[i])
            if stored is not None and stored.digest not in (digests[i], ERASED_DIGEST):
                errors.append(_error(i, event, "event_id", "event_id was already stored with different content"))
        if errors:
            raise IngestRejected(409, errors)

        new = [i for i in range(len(events)) if ids[i] not in stored_keys and first_index[ids[i]] == i]

        # 2. Which customer each new event belongs to.
        starts: list[tuple[Holding, datetime]] = []
        parties: dict[str, str] = {}  # number -> its unidentified party, for the numbers this batch needs one of
        owners = self._resolve_customers(events, new, errors, careful, starts, parties)
        if errors:
            raise IngestRejected(409, errors, owners)

        # 3. Decide: run each event through its customer's rules, in batch order, except that the
        # batch's registrations come first: a registration starts its customer's stream, and an
        # event that precedes it in the batch (by customer_id, or by a number the registration gives,
        # since routing counts the whole batch's holdings) belongs after it.
        # Customers are taken out of the cache while the batch is decided: whatever goes
        # wrong from here on, no half-decided customer can be left behind in the cache.
        identity_changes = [i for i in new if isinstance(events[i], _IDENTITY_CHANGES)]
        if identity_changes and not careful:
            raise _Retry  # a merge or unmerge is decided on fresh state, holding the writers' lock alone
        survivors = [events[i].survivor_id for i in identity_changes]  # type: ignore[attr-defined]
        customers = self._load([owners[i] for i in new] + survivors, fresh=careful)
        recorded_at = self.clock()  # one moment for the whole batch: it is recorded as one
        touched: dict[str, Customer] = {}
        keys: list[IngestKey] = []
        claims: list[tuple[int, Claim]] = []
        releases: list[tuple[int, Claim]] = []
        registrations = [i for i in new if isinstance(events[i], CustomerRegistered)]
        # A step of an order or a complaint may come before it (a late reference, kept until it
        # comes), but not name an order or complaint that is another customer's.
        referenced: dict[str, set[str]] = {}
        for i in new:
            if (reference := _reference(events[i])) is not None:
                referenced.setdefault(reference[0], set()).add(reference[1])
        reference_owners = {(kind, ref): owner for kind, refs in referenced.items()
                            for ref, owner in self.log.lookup_claims(kind, sorted(refs)).items()}
        for i in registrations + [i for i in new if not isinstance(events[i], CustomerRegistered)]:
            event, customer_id = events[i], owners[i]
            if is_unidentified_party(customer_id) and customer_id not in customers:
                party = self._open_party(customer_id, event, recorded_at)
                customers[customer_id] = touched[customer_id] = party
                keys.append(IngestKey(f"{IDENTITY}open-{customer_id}", content_digest({"opened_with": ids[i]}),
                                      customer_id, party.version, SYSTEM))
                claims.append((i, Claim(PARTY_CLAIM, event.msisdn, customer_id)))  # type: ignore[arg-type]
            reference = _reference(event)
            owner = reference_owners.get(reference, customer_id) if reference is not None else customer_id
            if reference is not None and owner != customer_id:
                if not self._one_identity(customer_id, owner, customers, careful):
                    errors.append(_error(i, event, f"{reference[0]}_id",
                                         f"{reference[0]} {reference[1]} already belongs to customer {owner}"))
                    continue
                # A step of an order or complaint of the same person's other record (merged): it is
                # recorded where the order or complaint is, and stays there if the records are unmerged.
                customer_id = owners[i] = owner
            before = len(customers[customer_id].pending_events) if customer_id in customers else 0
            try:
                customer = self._apply(event, ids[i], customer_id, customers, recorded_at)
            except RuleViolation as violation:
                errors.append(_error(i, event, violation.field, violation.message))
                continue
            # the event, then what ContactHub recorded with it
            decided = cast("list[Customer.Event]", customer.pending_events[before:])
            if posted_by is not None:
                attribute(decided[0], posted_by)
            customers[customer_id] = touched[customer_id] = customer
            keys.append(IngestKey(ids[i], digests[i], customer_id, decided[0].originator_version, source))
            if isinstance(event, _IDENTITY_CHANGES):  # the survivor's side of a merge or unmerge
                survivor = customers[event.survivor_id]
                side = cast("Customer.Event", survivor.pending_events[-1])
                keys.append(IngestKey(side.event_id, content_digest({"identity": ids[i]}), survivor.id,
                                      side.originator_version, SYSTEM))
                touched[survivor.id] = survivor
            for linked in decided[1:]:  # steps that came before their order, linked to it (Customer.place_order)
                key_id = linked.event_id if linked.event_id.startswith(LATE) else f"{LATE}link-{linked.event_id}"
                keys.append(IngestKey(key_id, content_digest({"step": linked.event_id, "order": ids[i]}), customer_id,
                                      linked.originator_version, SYSTEM))
            if event.type in CLAIMED_BY or isinstance(event, CustomerRegistered):  # type: ignore[attr-defined]
                claims.extend((i, claim) for claim in _claims_of(event, customer_id))
            elif isinstance(event, MsisdnReleased):
                releases.append((i, Claim("msisdn", event.msisdn, customer_id)))
        # ... nor one this batch makes another customer's (an opening or a placement earlier or later in it).
        batch_claims = {(c.kind, c.claim): c.customer_id for _, c in claims}
        for i in new:
            reference = _reference(events[i])
            claimed_by = batch_claims.get(reference) if reference is not None else None
            if reference is not None and claimed_by is not None and claimed_by != owners[i]:
                errors.append(_error(i, events[i], f"{reference[0]}_id",
                                     f"{reference[0]} {reference[1]} already belongs to customer {claimed_by}"))
        if errors:
            raise IngestRejected(409, errors, owners)
        if starts:
            self._join_unidentified(starts, parties, customers, touched, keys, recorded_at)
        errors.extend(self._check_claims(events, claims, releases))
        if errors:
            raise IngestRejected(409, errors, owners)
        # A number taken and released again within the batch is not claimed at all: the
        # recorders free released claims before they write the batch's own.
        claims = [(i, c) for i, c in claims if not any(j > i and released == c for j, released in releases)]

        # 4. Store everything at once.
        positions: dict[tuple[str, int], int] = {}
        if touched:
            try:
                positions = self.log.record(list(touched.values()), keys, [claim for _, claim in claims])
            except IntegrityError:
                # Another writer got there first: a customer moved on, or a key or
                # claim was taken meanwhile. Decide again on fresh state.
                raise _Retry from None
        self.cache.put_all(customers.values())  # decided and stored: safe to keep

        # 5. Answer with each event's position in the log.
        new_positions = {k.event_id: positions[(k.customer_id, k.customer_version)] for k in keys
                         if k.source != SYSTEM or source == SYSTEM}  # the batch's own, not a party's or a join's
        results = []
        for i, event in enumerate(events):
            position = new_positions.get(ids[i])
            if position is not None:
                status = "recorded" if first_index[ids[i]] == i else "duplicate"
                results.append(EventResult(event.event_id, status, position))
            else:
                results.append(EventResult(event.event_id, "duplicate", stored_keys[ids[i]].position))
        # Reading at this position shows the whole batch, with what it made ContactHub record (joins).
        batch_position = max([r.position for r in results] + list(positions.values()))
        if new_positions:
            log.info("events_recorded", recorded=len(new_positions), duplicates=len(events) - len(new_positions), position=batch_position)
            if self.on_recorded is not None:
                self.on_recorded(batch_position)
        return IngestOutcome(results=results, position=batch_position)

    def _resolve_customers(
        self, events: list[EventSchema], new: list[int], errors: list[FieldError], careful: bool,
        starts: list[tuple[Holding, datetime]], parties: dict[str, str],
    ) -> dict[int, str]:
        """Which customer each new event belongs to: the one it names, or the holder of the number it
        names at its occurred_at (domain/numbers.py, holding_at, with the unknown callers' look-back).
        A touchpoint (contact.logged) from a number nobody held then goes to the number's
        unidentified party; any other event by such a number is refused. `starts` receives the
        holdings the batch starts, as they stand after the batch, each with the moment from which
        the touchpoints of its number's unidentified party join it (_join_unidentified); `parties`
        the unidentified party of each number that has or gets one in this batch (a new one gets a
        new random id: a party's id says nothing of its number).

        The holdings are read afresh for every batch (a number changes hands in other processes
        too) and then changed by the batch's own registrations, additions and releases, all of
        them, before any event is resolved: where an event sits in the batch does not change whose
        it is. A new holding may not start before the number's last release.

        A batch that releases a number, or gives one that was ever held before, is decided on the
        careful path, which holds the writers' lock alone (_store): no other batch is deciding
        on the holdings it changes meanwhile. So a batch on the fast path never routes an event
        by holdings another writer is ending, and two writers never both give one number away.
        (A brand-new number taken by two writers at once is refused by the claims' unique key.)
        So is a batch that records a touchpoint on an unidentified party: no registration is
        decided meanwhile that should have taken it (_join_unidentified), nor stored after this
        batch read the holdings and found nobody.
        """
        numbers: set[str] = set()
        for i in new:
            event = events[i]
            if (number := event.addressed_by()) is not None:
                numbers.add(number)
            if isinstance(event, CustomerRegistered):
                numbers.update(event.msisdns)
            elif isinstance(event, (MsisdnAdded, MsisdnReleased)):
                numbers.add(event.msisdn)
        holdings = self.log.lookup_holdings(sorted(numbers)) if numbers else {}
        if not careful and any(
            isinstance(e, MsisdnReleased)
            or (isinstance(e, MsisdnAdded) and e.msisdn in holdings)
            or (isinstance(e, CustomerRegistered) and any(m in holdings for m in e.msisdns))
            for e in (events[i] for i in new)
        ):
            raise _Retry  # numbers change hands: decide alone (see above)
        for i in new:
            event = events[i]
            if isinstance(event, CustomerRegistered):
                for number in event.msisdns:
                    self._start_holding(holdings, i, event, "msisdns", number, event.customer_id, errors)
            elif isinstance(event, MsisdnAdded):
                self._start_holding(holdings, i, event, "msisdn", event.msisdn, event.customer_id, errors)
            elif isinstance(event, MsisdnReleased):
                holdings[event.msisdn] = [
                    replace(h, released_at=event.occurred_at)
                    if h.customer_id == event.customer_id and h.released_at is None else h
                    for h in holdings.get(event.msisdn, [])
                ]
        for held in holdings.values():
            for h in held:
                if h.position == _STARTED_HERE:
                    # Joined from the look-back before it, but never from before an earlier holding's end
                    # (as holding_at routes: a touchpoint goes to the next holding to start, if any).
                    ends = [e.released_at for e in held if e is not h and e.released_at is not None
                            and e.released_at <= h.held_from]
                    starts.append((h, max([h.held_from - self.unidentified_look_back, *ends])))
        owners: dict[int, str] = {}
        unknown: list[int] = []
        for i in new:
            event = events[i]
            number = event.addressed_by()
            if number is None:
                owners[i] = event.customer_id  # type: ignore[assignment]
                continue
            held = holdings.get(number, [])
            holding = holding_at(held, event.occurred_at, self.unidentified_look_back)
            if holding is not None:
                owners[i] = holding.customer_id
            elif isinstance(event, ContactLogged):
                if not careful:
                    raise _Retry  # an unknown caller: decide alone (see above)
                unknown.append(i)
            elif not held:
                errors.append(_error(i, event, "msisdn", f"no customer has registered msisdn {number}"))
            else:
                errors.append(_error(i, event, "msisdn",
                                     f"no customer held msisdn {number} at {event.occurred_at.isoformat()}"))
        wanted = {events[i].msisdn for i in unknown} | {h.msisdn for h, _ in starts}
        parties.update(self.log.lookup_claims(PARTY_CLAIM, sorted(wanted)) if wanted else {})  # type: ignore[arg-type]
        for i in unknown:
            number = events[i].msisdn
            party_id = parties.get(number)  # type: ignore[arg-type]
            if party_id is None:
                party_id = parties[number] = f"{UNIDENTIFIED_PREFIX}{uuid.uuid4().hex[:24]}"  # type: ignore[index]
            owners[i] = party_id
        return owners

    @staticmethod
    def _open_party(party_id: str, first: EventSchema, recorded_at: datetime) -> Customer:
        """The unidentified party of the number `first` (a touchpoint) came from, opened with it."""
        offset = first.occurred_at.utcoffset()
        party = Customer.open_unidentified(
            party_id=party_id, msisdn=first.msisdn, event_id=f"{IDENTITY}open-{party_id}",  # type: ignore[arg-type]
            occurred_at=first.occurred_at.replace(tzinfo=timezone(offset) if offset else timezone.utc),
            recorded_at=recorded_at)
        attribute(party.pending_events[-1], SYSTEM)  # type: ignore[arg-type]
        return party

    def _join_unidentified(self, starts: list[tuple[Holding, datetime]], party_ids: dict[str, str],
                           customers: dict[str, Customer], touched: dict[str, Customer], keys: list[IngestKey],
                           recorded_at: datetime) -> None:
        """Touchpoints of the numbers this batch gives to customers that came, while nobody held the
        number, within the look-back before the holding starts: each joins its new holder, as the
        same `contact.logged` recorded on them by ContactHub, and is marked on the number's
        unidentified party (`contact.identified`). The same touchpoint posted after the holding
        started would have gone to the holder directly (_resolve_customers): either way it ends on
        the same customer.

        The parties are read fresh from the log (never from the cache: another process may have
        added to them), and only batches on the careful path add to a party (_resolve_customers).
        """
        wanted = sorted({party_ids[h.msisdn] for h, _ in starts if h.msisdn in party_ids} - set(customers))
        parties = {**self.log.load_customers(wanted), **{p: c for p, c in customers.items() if is_unidentified_party(p)}}
        for holding, since in sorted(starts, key=lambda start: start[0].held_from):
            party = parties.get(party_ids.get(holding.msisdn, ""))
            holder = customers.get(holding.customer_id)
            if party is None or party.erased_at is not None or holder is None or holder.erased_at is not None:
                continue
            for contact in party.parked_since(since, holding.released_at):
                content = content_digest({"contact": contact.event_id, "customer": holder.id})
                party.identify_contact(contact_event_id=contact.event_id, customer_id=holder.id,
                                       event_id=f"{IDENTITY}mark-{contact.event_id}", occurred_at=holding.held_from,
                                       timestamp=recorded_at)
                attribute(party.pending_events[-1], SYSTEM)  # type: ignore[arg-type]
                keys.append(IngestKey(f"{IDENTITY}mark-{contact.event_id}", content, party.id, party.version, SYSTEM))
                holder.join_contact(contact, timestamp=recorded_at)
                attribute(holder.pending_events[-1], SYSTEM)  # type: ignore[arg-type]
                keys.append(IngestKey(f"{IDENTITY}join-{contact.event_id}", content, holder.id, holder.version, SYSTEM))
                customers[party.id] = touched[party.id] = party
                touched[holder.id] = holder
                log.info("unidentified_contact_joined", party_id=party.id, customer_id=holder.id,
                         event_id=contact.event_id)

    @staticmethod
    def _start_holding(holdings: dict[str, list[Holding]], index: int, event: EventSchema, field: str, number: str,
                       customer_id: str, errors: list[FieldError]) -> None:
        held = holdings.setdefault(number, [])
        if any(h.released_at is None for h in held):
            return  # someone holds it now: refused by the claims check (or the domain, if it is this customer)
        released = last_release(held)
        if released is not None and event.occurred_at < released:
            shown = released.astimezone(event.occurred_at.tzinfo).isoformat()  # in the poster's offset, whatever the store
            errors.append(_error(index, event, field, f"msisdn {number} was released at {shown}; "
                                                     "a new holder cannot have it before that"))
        held.append(Holding(number, customer_id, event.occurred_at, position=_STARTED_HERE))

    def erase(self, customer_id: str, *, by: str, reason: str) -> tuple[str, int]:
        """Record the erasure of a customer's personal data; their key is destroyed in the same
        transaction (CustomerLog.record). Returns ("recorded" or "already_erased", log position).

        The unidentified parties of the numbers the customer ever held are erased with them: a
        party names its number, and its `contact.identified` marks name the customer its
        touchpoints joined, so keeping it would tell whose the number was. So are the other records of
        a merged person (its survivor and the survivor's duplicates, _identity_of): one person's data.

        Raises LookupError for an unknown customer."""
        event_id = f"erasure-{customer_id}"
        with self._lock, self._writers_lock(exclusive=True):
            for _attempt in range(MAX_ATTEMPTS):
                customer = self._load([customer_id], fresh=True).get(customer_id)
                if customer is None:
                    raise LookupError(customer_id)
                if customer.erased_at is not None:
                    self.cache.put(customer)
                    stored = self.log.lookup_keys([event_id]).get(event_id)
                    return "already_erased", stored.position if stored else 0
                recorded_at = self.clock()
                records = self._identity_of(customer)
                numbers = sorted({n for r in records for n in r.ever_held}) if not customer.is_unidentified else []
                party_ids = sorted(set(self.log.lookup_claims(PARTY_CLAIM, numbers).values())) if numbers else []
                parties = [p for p in self.log.load_customers(party_ids).values() if p.erased_at is None]
                keys = []
                for record in [*records, *parties]:
                    record_event_id = f"erasure-{record.id}"
                    record.erase(by=by, reason=reason, event_id=record_event_id, occurred_at=recorded_at,
                                 timestamp=recorded_at)
                    keys.append(IngestKey(record_event_id, ERASED_DIGEST, record.id, record.version, SYSTEM))
                try:
                    positions = self.log.record([*records, *parties], keys, [])
                except IntegrityError:
                    continue  # the customer moved on meanwhile: decide again on fresh state
                self.cache.put_all(records)
                for record in records:
                    if record.id != customer_id:
                        log.info("merged_record_erased", customer_id=record.id, erased_with=customer_id)
                for party in parties:
                    self.cache.take(party.id)
                    log.info("unidentified_party_erased", party_id=party.id, customer_id=customer_id)
                position = max(positions.values())  # read models at it show every erasure of the transaction
                log.info("customer_erased", customer_id=customer_id, by=by, position=position)
                if self.on_recorded is not None:
                    self.on_recorded(position)
                return "recorded", position
        raise IngestRejected(409, [FieldError(index=None, event_id=None, field="customer_id",
                                              message="the customer kept changing under concurrent writers; retry")])

    def _identity_of(self, customer: Customer) -> list[Customer]:
        """The records of the person `customer` is, not erased yet, `customer` first: with its survivor and
        the survivor's other duplicates when it is merged, with its duplicates when it is a survivor, fresh
        from the log. Erasing one erases them all: they are one person's personal data."""
        survivor_id = customer.merged_into or customer.id
        survivor = customer if survivor_id == customer.id else self.log.load_customers([survivor_id]).get(survivor_id)
        if survivor is None:
            return [customer]
        others = [d for d in survivor.duplicates if d != customer.id]
        loaded = self.log.load_customers(others)
        records = [customer, *([survivor] if survivor is not customer else []), *(loaded[d] for d in others if d in loaded)]
        return [r for r in records if r.erased_at is None]

    @contextmanager
    def _writers_lock(self, *, exclusive: bool) -> Iterator[None]:
        try:
            with self.log.deciding(exclusive=exclusive):
                yield
        except WritersBusy:
            log.warning("ingest_writers_busy", exclusive=exclusive)
            raise IngestRejected(503, [FieldError(
                index=None, event_id=None, field="events",
                message="the event log is busy with other writers; nothing was stored, retry the batch",
            )]) from None

    def _load(self, customer_ids: list[str], fresh: bool) -> dict[str, Customer]:
        """The batch's customers, taken out of the cache (or all from the log when `fresh`)."""
        customers: dict[str, Customer] = {}
        missing = []
        for customer_id in dict.fromkeys(customer_ids):
            cached = self.cache.take(customer_id)
            if cached is not None and not fresh:
                customers[customer_id] = cached
            else:
                missing.append(customer_id)
        if missing:
            customers.update(self.log.load_customers(missing))
        return customers

    def _legacy_keys(self, source: str, events: list[EventSchema], ids: list[str],
                     found: dict[str, Any]) -> dict[str, Any]:
        """Keys stored before ids were scoped, by the bare id the channel posted (an upgraded database).

        A channel retrying an event it posted before the upgrade must get "duplicate", not a second
        copy: on a database that holds such keys, the bare ids not found scoped are looked up among
        them too (on both paths: the unique key on the scoped id cannot see them)."""
        if source in UNSCOPED_SOURCES:
            return {}
        if self._has_legacy is None:
            self._has_legacy = self.log.has_legacy_keys()
        if not self._has_legacy:
            return {}
        bare = {e.event_id: ids[i] for i, e in enumerate(events) if ids[i] not in found}
        legacy = self.log.lookup_legacy_keys(list(bare)) if bare else {}
        return {bare[event_id]: key for event_id, key in legacy.items()}

    def _apply(self, event: EventSchema, event_id: str, customer_id: str, customers: dict[str, Customer],
               recorded_at: datetime) -> Customer:
        fields = event.domain_fields()
        fields["event_id"] = event_id  # as stored: scoped by its source
        if isinstance(event, CustomerRegistered):
            if customer_id in customers:
                raise RuleViolation("customer_id", f"customer {customer_id} is already registered")
            return Customer.register(recorded_at=recorded_at, **fields)
        fields["timestamp"] = recorded_at
        if isinstance(event, ComplaintOpened):
            fields["sla_policy"] = self.sla_policy
        customer = customers.get(customer_id)
        if customer is None:
            raise RuleViolation("customer_id", f"customer {customer_id} is not registered")
        if isinstance(event, _IDENTITY_CHANGES):
            survivor = customers.get(event.survivor_id)
            if survivor is None:
                raise RuleViolation("survivor_id", f"customer {event.survivor_id} is not registered")
            COMMANDS[event.type](customer, survivor, **fields)
            return customer
        COMMANDS[event.type](customer, **fields)  # type: ignore[attr-defined]
        return customer

    def _one_identity(self, customer_id: str, owner: str, customers: dict[str, Customer], careful: bool) -> bool:
        """Whether two customers are records of one person now: one merged into the other, or both into a third.

        Decided on fresh state only (a merge may have changed since the cache was filled): on the fast
        path a positive answer decides the batch again on the careful path."""
        missing = [c for c in (customer_id, owner) if c not in customers]
        loaded = self.log.load_customers(missing) if missing else {}
        found = {**{c: customers[c] for c in (customer_id, owner) if c in customers}, **loaded}
        if len(found) < 2:
            return False
        one = (found[customer_id].merged_into or customer_id) == (found[owner].merged_into or owner)
        if one and not careful:
            raise _Retry
        customers.update(loaded)
        return one

    def _unname_customers(self, rejected: IngestRejected, events: list[EventSchema]) -> None:
        """Refusals as a channel's key sees them: no customer id the event did not name itself.

        A claim held by a customer becomes "another customer"; a refusal of an event addressed
        by msisdn speaks of "the customer with this msisdn" instead of naming who that is."""
        for error in rejected.errors:
            error.message = _NAMED_OWNER.sub("already belongs to another customer", error.message)
            if error.index is None or not 0 <= error.index < len(events):
                continue
            event = events[error.index]
            owner = rejected.owners.get(error.index) if event.addressed_by() is not None else None
            if owner is not None:
                error.message = re.sub(rf"\b{re.escape(owner)}\b", "(the customer with this msisdn)", error.message)

    def _check_claims(self, events: list[EventSchema], claims: list[tuple[int, Claim]],
                      releases: list[tuple[int, Claim]]) -> list[FieldError]:
        """Refuse, with a clear message, an msisdn/order/complaint id that already belongs to a customer.

        The unique key on customer_claims enforces this under concurrency; checking first
        gives the channel a message that names the field. A number released earlier in the
        batch is free from there on.
        """
        errors: list[FieldError] = []
        taken: dict[tuple[str, str], str] = {}
        for kind in {claim.kind for _, claim in claims}:
            values = sorted({claim.claim for _, claim in claims if claim.kind == kind})
            taken.update({(kind, v): owner for v, owner in self.log.lookup_claims(kind, values).items()})
        steps = sorted([(index, True, claim) for index, claim in claims] + [(index, False, claim) for index, claim in releases],
                       key=lambda step: step[0])
        for index, claiming, claim in steps:
            key = (claim.kind, claim.claim)
            if not claiming:
                if taken.get(key) == claim.customer_id:
                    del taken[key]
                continue
            owner = taken.get(key)
            if owner is None:
                taken[key] = claim.customer_id  # claimed by this batch from here on
                continue
            field = "msisdns" if isinstance(events[index], CustomerRegistered) else CLAIMED_BY.get(
                events[index].type, (claim.kind, "msisdn"))[1]  # type: ignore[attr-defined]
            errors.append(
                _error(index, events[index], field, f"{claim.kind} {claim.claim} already belongs to customer {owner}")
            )
        return errors


def _claims_of(event: EventSchema, customer_id: str) -> list[Claim]:
    if isinstance(event, CustomerRegistered):
        return [Claim("msisdn", m, customer_id) for m in event.msisdns]
    kind_field = CLAIMED_BY.get(event.type)  # type: ignore[attr-defined]
    if kind_field is None:
        return []
    kind, field = kind_field
    return [Claim(kind, getattr(event, field), customer_id)]


_ORDER_STEPS = (ServiceActivated, OrderCancelled)
_IDENTITY_CHANGES = (CustomerMerged, CustomerUnmerged)


def _reference(event: EventSchema) -> tuple[str, str] | None:
    """The order or complaint a step names, as its claim (kind, id): None for any other event."""
    if isinstance(event, _ORDER_STEPS):
        return "order", event.order_id
    kind = str(getattr(event, "type", ""))
    if kind.startswith("complaint.") and kind != "complaint.opened":
        return "complaint", str(event.complaint_id)  # type: ignore[attr-defined]
    return None

_STARTED_HERE = -1
"""The position of a holding this batch starts (in _resolve_customers' overlay): not stored yet."""
IDENTITY = IDENTITY_EVENT_ID_PREFIX
LATE = LATE_EVENT_ID_PREFIX
PARTY_CLAIM = "unidentified"
"""The claim kind that names a number's unidentified party (one at a time: freed by the party's erasure)."""

_NAMED_OWNER = re.compile(r"already belongs to customer \S+$")


def _error(index: int, event: EventSchema, field: str, message: str) -> FieldError:
    return FieldError(index=index, event_id=event.event_id, field=field, message=message)
