"""The customer aggregate: the unit of consistency and of audit.

A customer's whole history (profile, touchpoints, orders, complaints) is one ordered
sequence of events, so "replay this customer" is exact. The aggregate keeps only the
state its rules need; everything shown to people lives in read models.

Each event class's TOPIC is the public `type` name of the event catalogue
(docs/events.md). Stored events carry that name and nothing from Python module paths,
so code can move without breaking the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, cast

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate, event

from contacthub.domain.calendar import CALENDAR_TIME
from contacthub.domain.complaint import (
    OPEN_STATUSES,
    RESOLUTION,
    ClockTerms,
    ComplaintCase,
    SlaPolicy,
    SlaTerms,
    legacy_terms,
)
from contacthub.domain.errors import RuleViolation
from contacthub.domain.order import OrderState
from contacthub.domain.personal_data import ERASED
from contacthub.domain.vocabulary import ComplaintStatus

_CHECKED_EVENT_CLASSES: set[type[Any]] = set()
"""Event classes whose TOPIC registration Customer.trigger_event has checked once."""


class Customer(BaseAggregate[str]):
    TOPIC = "contacthub.customer"

    # --- events: the facts, and what each one changes ------------------------------

    @dataclass(frozen=True)
    class Event(CanMutateAggregate[str]):
        TOPIC: ClassVar[str]  # the public type name (docs/events.md), set by each event class
        originator_id: str
        originator_version: int
        timestamp: datetime  # when ContactHub recorded the event
        event_id: str  # the channel's own id: the idempotency key
        occurred_at: datetime  # when it happened at the channel; every metric uses it

    @dataclass(frozen=True)
    class Registered(Event, CanInitAggregate[str]):
        TOPIC = "customer.registered"
        originator_topic: str
        customer_id: str
        name: str
        segment: str
        tier: str
        msisdns: tuple[str, ...]

    @dataclass(frozen=True)
    class UnidentifiedCaller(Event, CanInitAggregate[str]):
        """A touchpoint came from a number nobody held at its moment: the number's unidentified
        party is opened (by ContactHub, with that first touchpoint) to keep such touchpoints,
        not refuse them. Its id is `unidentified-` and a random part: it says nothing of the number."""

        TOPIC = "caller.unidentified"
        originator_topic: str
        msisdn: str

        def mutate(self, aggregate: Customer | None) -> Customer:  # type: ignore[override]
            # Not Customer.__init__ (which is registration's): the same aggregate, opened bare.
            party = Customer.__new__(Customer)
            party.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            party._open(name="", segment="", tier="", msisdns=(self.msisdn,), held_from=None)
            party.unidentified_msisdn = self.msisdn
            return party

    @dataclass(frozen=True)
    class ContactIdentified(Event):
        """On an unidentified party: one of its touchpoints joined the customer who took the number
        within the look-back after it (recorded on that customer as the same `contact.logged`)."""

        TOPIC = "contact.identified"
        contact_event_id: str
        customer_id: str

        def apply(self, customer: Customer) -> None:
            customer.parked.pop(self.contact_event_id, None)

    @dataclass(frozen=True)
    class Erased(Event):
        """The customer's personal data was erased (their key destroyed): 个人信息已删除.

        Carries no personal data itself. From here on the customer's personal fields read
        as erased (domain/personal_data.py) and the customer accepts no new events."""

        TOPIC = "customer.erased"
        by: str
        reason: str

        def apply(self, customer: Customer) -> None:
            customer.name = ERASED
            customer.msisdns = ()
            customer.held_since = {}
            customer.ever_held = set()
            customer.parked = {}
            customer.erased_at = self.occurred_at

    @dataclass(frozen=True)
    class TierChanged(Event):
        TOPIC = "customer.tier_changed"
        tier: str
        arpu: float

        def apply(self, customer: Customer) -> None:
            customer.tier = self.tier
            customer.arpu = self.arpu

    @dataclass(frozen=True)
    class MsisdnAdded(Event):
        """The customer took one more number (BOSS): it is theirs from `occurred_at` (domain/numbers.py)."""

        TOPIC = "customer.msisdn_added"
        msisdn: str

        def apply(self, customer: Customer) -> None:
            customer.msisdns = (*customer.msisdns, self.msisdn)
            customer.ever_held.add(self.msisdn)
            customer.held_since[self.msisdn] = self.occurred_at

    @dataclass(frozen=True)
    class MsisdnReleased(Event):
        """The customer gave a number up (BOSS: account closed, number ported out or reclaimed).

        From `occurred_at` the number is nobody's until another customer registers or adds it;
        the touchpoints it brought while it was this customer's stay with this customer."""

        TOPIC = "customer.msisdn_released"
        msisdn: str
        reason: str

        def apply(self, customer: Customer) -> None:
            customer.msisdns = tuple(m for m in customer.msisdns if m != self.msisdn)
            customer.held_since.pop(self.msisdn, None)

    @dataclass(frozen=True)
    class Merged(Event):
        """This customer is a duplicate record of the person `survivor_id` is (BOSS or an operator).

        Recorded on the duplicate's stream. Nothing moves: each stream keeps its events and its
        hash chain, and what is posted to the duplicate's id or numbers is still stored on it;
        reads of either id answer the survivor's unified view (docs/events.md §3.16)."""

        TOPIC = "customer.merged"
        survivor_id: str

        def apply(self, customer: Customer) -> None:
            customer.merged_into = self.survivor_id

    @dataclass(frozen=True)
    class Unmerged(Event):
        """The merge into `survivor_id` was wrong: this customer is a record of its own again,
        with every event stored on its stream, including those posted to it while merged."""

        TOPIC = "customer.unmerged"
        survivor_id: str

        def apply(self, customer: Customer) -> None:
            customer.merged_into = None

    @dataclass(frozen=True)
    class DuplicateMerged(Event):
        """On the survivor, recorded by ContactHub with a `customer.merged`: `duplicate_id` is merged into it."""

        TOPIC = "customer.duplicate_merged"
        duplicate_id: str

        def apply(self, customer: Customer) -> None:
            customer.duplicates = (*customer.duplicates, self.duplicate_id)

    @dataclass(frozen=True)
    class DuplicateUnmerged(Event):
        """On the survivor, recorded by ContactHub with a `customer.unmerged`: `duplicate_id` left it."""

        TOPIC = "customer.duplicate_unmerged"
        duplicate_id: str

        def apply(self, customer: Customer) -> None:
            customer.duplicates = tuple(d for d in customer.duplicates if d != self.duplicate_id)

    @dataclass(frozen=True)
    class ContactLogged(Event):
        TOPIC = "contact.logged"
        channel: str
        direction: str
        reason: str
        handled_by: str
        site: str | None
        duration_s: int
        outcome: str
        order_id: str | None
        complaint_id: str | None

        def apply(self, customer: Customer) -> None:
            customer.contact_count += 1
            if customer.unidentified_msisdn is not None:
                customer.parked[self.event_id] = self

    @dataclass(frozen=True)
    class OrderPlaced(Event):
        TOPIC = "order.placed"
        order_id: str
        services: tuple[str, ...]

        def apply(self, customer: Customer) -> None:
            customer.orders[self.order_id] = OrderState(services=tuple(self.services), placed_at=self.occurred_at)
            customer.pending_steps.pop(self.order_id, None)  # linked by the command, recorded right after this

    @dataclass(frozen=True)
    class ServiceActivated(Event):
        TOPIC = "service.activated"
        order_id: str
        service: str

        def apply(self, customer: Customer) -> None:
            order = customer.orders.get(self.order_id)
            if order is None:  # the order is not placed yet: linked when it is (Customer.place_order)
                customer.pending_steps.setdefault(self.order_id, []).append(self)
                return
            order.activated.add(self.service)
            if order.last_activated_at is None or self.occurred_at > order.last_activated_at:
                order.last_activated_at = self.occurred_at

    @dataclass(frozen=True)
    class OrderCancelled(Event):
        TOPIC = "order.cancelled"
        order_id: str
        reason: str

        def apply(self, customer: Customer) -> None:
            order = customer.orders.get(self.order_id)
            if order is None:  # the order is not placed yet: linked when it is (Customer.place_order)
                customer.pending_steps.setdefault(self.order_id, []).append(self)
                return
            order.cancelled = True
            order.cancelled_at = self.occurred_at

    @dataclass(frozen=True)
    class ComplaintStepConflict(Event):
        """A complaint step that came before its complaint (complaint.acknowledged, .resolved, ...) that
        the transition table refuses once the complaint is opened: recorded, listed for operators
        (GET /v1/conflicts), never applied."""

        TOPIC = "complaint.conflict"
        complaint_id: str
        step_event_id: str
        step_type: str
        reason: str

    @dataclass(frozen=True)
    class OrderStepConflict(Event):
        """A step that came before its order (service.activated, order.cancelled) contradicts the order
        once it is placed (a service the order does not contain, a step after the order finished):
        recorded, listed for operators (GET /v1/conflicts), never applied."""

        TOPIC = "order.conflict"
        order_id: str
        step_event_id: str
        step_type: str
        reason: str

    @dataclass(frozen=True)
    class OrderJeopardy(Event):
        """Recorded by the jeopardy watcher once per order: in progress past a limit (TMF622's jeopardy alert).

        occurred_at is when the first limit passed; observed_at when the watcher saw it. The
        flag stays as history once the order is activated or cancelled.
        """

        TOPIC = "order.jeopardy"
        order_id: str
        reasons: tuple[str, ...]  # "days" and/or "calls"
        limit_days: float
        limit_calls: int
        calls: int  # inbound hotline calls in the order's window when it was seen
        observed_at: datetime

        def apply(self, customer: Customer) -> None:
            customer.orders[self.order_id].jeopardy_at = self.occurred_at

    @dataclass(frozen=True)
    class ComplaintOpened(Event):
        """v2 records the SLA terms in force and the customer's tier at the opening."""

        TOPIC = "complaint.opened"
        class_version = 3
        complaint_id: str
        category: str
        severity: str
        summary: str
        channel: str
        handled_by: str  # the first-contact owner
        tier: str | None  # None only on v1 events
        sla_policy: str
        sla_allowance_s: int
        sla_warning_s: int
        sla_calendar: str  # v3: the resolution clock's time basis (a calendar id, or calendar-time)
        response_allowance_s: int | None  # v3: the first-response clock, if the policy had one
        response_warning_s: int | None
        response_calendar: str | None
        followup_s: int | None  # v3: the follow-up call (回访) falls due this long after a resolution
        followup_calendar: str | None
        followup_required: bool  # v3: closing needs a follow-up since the last resolution

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            terms = legacy_terms(state["severity"])
            state.update(tier=None, sla_policy=terms.policy, sla_allowance_s=terms.allowance_s, sla_warning_s=terms.warning_s)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.update(sla_calendar=CALENDAR_TIME.id, response_allowance_s=None, response_warning_s=None,
                         response_calendar=None, followup_s=None, followup_calendar=None, followup_required=False)

        def terms(self) -> SlaTerms:
            first = None
            if self.response_allowance_s is not None:
                first = ClockTerms(self.response_allowance_s, self.response_warning_s or 0,
                                   self.response_calendar or CALENDAR_TIME.id)
            return SlaTerms(self.sla_policy, self.sla_allowance_s, self.sla_warning_s, self.sla_calendar,
                            first_response=first, followup_s=self.followup_s, followup_calendar=self.followup_calendar,
                            followup_required=self.followup_required)

        def case(self) -> ComplaintCase:
            return ComplaintCase.opened(
                complaint_id=self.complaint_id,
                at=self.occurred_at,
                owner=self.handled_by,
                tier=self.tier,
                severity=self.severity,
                category=self.category,
                channel=self.channel,
                terms=self.terms(),
            )

        def apply(self, customer: Customer) -> None:
            customer.complaints[self.complaint_id] = self.case()
            customer.pending_complaint_steps.pop(self.complaint_id, None)  # linked by the command, right after

    @dataclass(frozen=True)
    class ComplaintStep(Event):
        """A step in a complaint's life; ACTION names its row in the transition table.

        Never stored itself; eventsourcing requires a topic on every event class of an aggregate.
        `change` is the whole effect on the complaint, shared with the complaint read model.
        """

        TOPIC = "contacthub.complaint_step"
        ACTION = ""
        complaint_id: str

        def change(self, case: ComplaintCase) -> None:
            case.step(self.ACTION, self.occurred_at)

        def apply(self, customer: Customer) -> None:
            case = customer.complaints.get(self.complaint_id)
            if case is None:  # the complaint is not opened yet: linked when it is (Customer.open_complaint)
                customer.pending_complaint_steps.setdefault(self.complaint_id, []).append(self)
                return
            self.change(case)

    @dataclass(frozen=True)
    class ComplaintAcknowledged(ComplaintStep):
        TOPIC = "complaint.acknowledged"
        ACTION = "acknowledge"
        by: str | None  # always given since catalogue v2
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintStarted(ComplaintStep):
        TOPIC = "complaint.started"
        ACTION = "start"
        by: str
        channel: str
        reason: str | None

    @dataclass(frozen=True)
    class ComplaintPended(ComplaintStep):
        """Waiting on the customer (TMF621 `pending`): the SLA clock stops."""

        TOPIC = "complaint.pended"
        ACTION = "pend"
        by: str
        channel: str
        reason: str

    @dataclass(frozen=True)
    class ComplaintHeld(ComplaintStep):
        """Blocked inside the operator (TMF621 `held`): the SLA clock keeps running."""

        TOPIC = "complaint.held"
        ACTION = "hold"
        by: str
        channel: str
        reason: str

    @dataclass(frozen=True)
    class ComplaintResumed(ComplaintStep):
        TOPIC = "complaint.resumed"
        ACTION = "resume"
        by: str
        channel: str
        reason: str | None

    @dataclass(frozen=True)
    class ComplaintHandedOver(ComplaintStep):
        """Ownership passes from one handler to another (首问负责 ends only here or at closing)."""

        TOPIC = "complaint.handed_over"
        ACTION = "handover"
        from_owner: str
        to: str
        reason: str
        by: str
        channel: str

        def change(self, case: ComplaintCase) -> None:
            super().change(case)
            case.hand_over(self.to)

    @dataclass(frozen=True)
    class ComplaintAssigned(ComplaintStep):
        """Catalogue v1 only (no longer accepted): handed to `to`, who starts the work. Read from the log."""

        TOPIC = "complaint.assigned"
        ACTION = "assign"
        to: str
        by: str | None
        channel: str | None

        def change(self, case: ComplaintCase) -> None:
            super().change(case)
            if self.to != case.owner:
                case.hand_over(self.to)

    @dataclass(frozen=True)
    class ComplaintEscalated(ComplaintStep):
        TOPIC = "complaint.escalated"
        ACTION = "escalate"
        level: int
        reason: str
        by: str | None
        channel: str | None

        def change(self, case: ComplaintCase) -> None:
            super().change(case)
            case.escalation_level = max(case.escalation_level, self.level)

    @dataclass(frozen=True)
    class ComplaintResolved(ComplaintStep):
        TOPIC = "complaint.resolved"
        ACTION = "resolve"
        resolution: str
        by: str
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintFollowedUp(ComplaintStep):
        """The follow-up call (回访) after resolution, with the customer's satisfaction 1-5."""

        TOPIC = "complaint.followed_up"
        ACTION = "follow_up"
        satisfaction: int
        channel: str
        by: str | None

        def change(self, case: ComplaintCase) -> None:
            super().change(case)
            case.satisfaction = self.satisfaction

    @dataclass(frozen=True)
    class ComplaintClosed(ComplaintStep):
        TOPIC = "complaint.closed"
        ACTION = "close"
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintReopened(ComplaintStep):
        TOPIC = "complaint.reopened"
        ACTION = "reopen"
        reason: str
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintCancelled(ComplaintStep):
        """Withdrawn by the customer: final."""

        TOPIC = "complaint.cancelled"
        ACTION = "cancel"
        by: str
        channel: str
        reason: str

    @dataclass(frozen=True)
    class ComplaintRejected(ComplaintStep):
        """Not a valid complaint (duplicate, not the operator's matter): final."""

        TOPIC = "complaint.rejected"
        ACTION = "reject"
        by: str
        channel: str
        reason: str

    @dataclass(frozen=True)
    class ComplaintNoted(ComplaintStep):
        TOPIC = "complaint.noted"
        ACTION = "note"
        by: str
        channel: str
        text: str

    @dataclass(frozen=True)
    class ComplaintLinked(ComplaintStep):
        """A duplicate (the same issue lodged twice, e.g. on the hotline and in a store) linked to its primary."""

        TOPIC = "complaint.linked"
        ACTION = "link"
        primary_id: str
        by: str
        channel: str
        reason: str | None

        def change(self, case: ComplaintCase) -> None:
            super().change(case)
            case.link_to(self.primary_id, self.occurred_at)

        def apply(self, customer: Customer) -> None:
            super().apply(customer)
            primary = customer.complaints.get(self.primary_id)
            if primary is not None and self.complaint_id in customer.complaints:
                primary.duplicates.append(self.complaint_id)

    @dataclass(frozen=True)
    class SlaWarningRecorded(ComplaintStep):
        """Recorded by the SLA watcher once per complaint and clock: the warning share of the allowance is used up."""

        TOPIC = "complaint.sla_warning"
        KIND = "warning"
        class_version = 2
        clock: int
        allowance_s: int
        deadline: datetime | None
        observed_at: datetime  # when the watcher saw it; occurred_at is when the point passed
        metric: str  # v2: which clock, first_response or resolution (v1 events: resolution)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["metric"] = RESOLUTION

        def change(self, case: ComplaintCase) -> None:
            case.sla_recorded(self.KIND, self.clock, self.metric)

    @dataclass(frozen=True)
    class SlaBreached(SlaWarningRecorded):
        """Recorded by the SLA watcher once per complaint and clock: the deadline has passed unresolved."""

        TOPIC = "complaint.sla_breached"
        KIND = "breached"

    # --- creation ---------------------------------------------------------------

    @staticmethod
    def create_id(customer_id: str) -> str:
        return customer_id

    @event(Registered)
    def __init__(
        self,
        customer_id: str,
        event_id: str,
        occurred_at: datetime,
        name: str,
        segment: str,
        tier: str,
        msisdns: tuple[str, ...],
    ) -> None:
        self._open(name=name, segment=segment, tier=tier, msisdns=msisdns, held_from=occurred_at)

    def _open(self, *, name: str, segment: str, tier: str, msisdns: tuple[str, ...], held_from: datetime | None) -> None:
        self.name = name
        self.segment = segment
        self.tier = tier
        self.arpu: float | None = None
        self.msisdns = tuple(msisdns)
        self.ever_held: set[str] = set(msisdns)
        """Every number the customer has held, current or released (their unidentified parties are erased with them)."""
        self.held_since: dict[str, datetime] = (  # number -> held from
            dict.fromkeys(self.msisdns, held_from) if held_from is not None else {})
        self.orders: dict[str, OrderState] = {}
        self.pending_steps: dict[str, list[Customer.ServiceActivated | Customer.OrderCancelled]] = {}
        self.pending_complaint_steps: dict[str, list[Customer.ComplaintStep]] = {}
        """Steps of complaints not opened yet (late references), by complaint id, in the order they came."""
        """Steps of orders not placed yet (late references), by order id, in the order they came."""
        self.complaints: dict[str, ComplaintCase] = {}
        self.contact_count = 0
        self.erased_at: datetime | None = None
        self.merged_into: str | None = None
        """The survivor this customer is merged into (customer.merged), while it is."""
        self.duplicates: tuple[str, ...] = ()
        """The customers merged into this one, in the order they were merged."""
        self.unidentified_msisdn: str | None = None
        """Set on a number's unidentified party (caller.unidentified): the number."""
        self.parked: dict[str, Customer.ContactLogged] = {}
        """An unidentified party's touchpoints that joined no customer yet, by event id."""

    @classmethod
    def register(cls, *, recorded_at: datetime, **fields: Any) -> Customer:
        """A new customer, its registration stamped with the batch's recorded time like every
        other event (the library's own creation path would stamp its own clock)."""
        return cls._create(cls.Registered, timestamp=recorded_at, **fields)

    @classmethod
    def open_unidentified(cls, *, party_id: str, msisdn: str, event_id: str, occurred_at: datetime,
                          recorded_at: datetime) -> Customer:
        """The unidentified party of a number (its id: domain/numbers.py, UNIDENTIFIED_PREFIX), opened at
        the moment of its first touchpoint."""
        return cls._create(cls.UnidentifiedCaller, id=party_id, timestamp=recorded_at, msisdn=msisdn,
                           event_id=event_id, occurred_at=occurred_at)

    @property
    def is_unidentified(self) -> bool:
        return self.unidentified_msisdn is not None

    # --- commands: check the rule, then record the fact -------------------------
    # Each takes the event's own fields as keyword arguments (event_id, occurred_at, ...).

    def trigger_event(self, event_class: Any, **fields: Any) -> None:
        # An erased customer's history is closed: nothing more is recorded about them.
        if getattr(self, "erased_at", None) is not None:
            raise RuleViolation(
                "customer_id", f"customer {self.id}'s personal data was erased; no new events are accepted",
                code="customer_erased",
            )
        if event_class not in _CHECKED_EVENT_CLASSES:
            # The library's own path, once per class: it checks that the class's TOPIC is
            # registered to it (a topic lookup each time, the costliest part of a command).
            super().trigger_event(event_class, **fields)
            _CHECKED_EVENT_CLASSES.add(event_class)
            return
        # From then on the rest of the library's trigger_event, unchanged: the next event in
        # the customer's sequence, applied, then pending. `fields` is this call's own dict.
        fields["originator_id"] = self.id
        fields["originator_version"] = self.version + 1
        if fields.get("timestamp") is None:
            fields["timestamp"] = event_class.create_timestamp()
        try:
            new_event = event_class(**fields)
        except TypeError as e:
            raise TypeError(f"Can't construct event {event_class}: {e}") from None
        new_event.mutate(self)
        self._pending_events.append(new_event)

    def erase(self, *, by: str, reason: str, **fields: Any) -> None:
        """Record the erasure of the customer's personal data (the key is destroyed with it)."""
        self.trigger_event(Customer.Erased, by=by, reason=reason, **fields)

    def change_tier(self, **fields: Any) -> None:
        self.trigger_event(Customer.TierChanged, **fields)

    def add_msisdn(self, *, msisdn: str, **fields: Any) -> None:
        """Give the customer one more number. That nobody else holds it, and that the holding
        starts after its last release, is checked across customers (services/ingest.py)."""
        if msisdn in self.msisdns:
            raise RuleViolation("msisdn", f"customer {self.id} already has msisdn {msisdn}", code="msisdn_held")
        self.trigger_event(Customer.MsisdnAdded, msisdn=msisdn, **fields)

    def release_msisdn(self, *, msisdn: str, **fields: Any) -> None:
        """Release one of the customer's numbers, no earlier than the customer got it."""
        since = self.held_since.get(msisdn)
        if since is None:
            raise RuleViolation("msisdn", f"customer {self.id} does not hold msisdn {msisdn}", code="msisdn_not_held")
        if fields["occurred_at"] < since:
            raise RuleViolation(
                "occurred_at",
                f"customer {self.id} has held msisdn {msisdn} since {since.isoformat()}; it cannot be released before that",
            )
        self.trigger_event(Customer.MsisdnReleased, msisdn=msisdn, **fields)

    def merge_into(self, survivor: Customer, *, survivor_id: str, event_id: str, occurred_at: datetime,
                   timestamp: datetime | None = None) -> None:
        """Merge this duplicate record into `survivor` (the aggregate of `survivor_id`): recorded on
        both streams, `customer.merged` here and `customer.duplicate_merged` on the survivor.

        Identities are one level deep: a customer merged into another cannot take duplicates, and
        one that has duplicates cannot be merged (merge them into the final survivor directly)."""
        if survivor_id == self.id or survivor.id != survivor_id:
            raise RuleViolation("survivor_id", f"customer {self.id} cannot be merged into itself", code="merge_into_self")
        if self.merged_into is not None:
            raise RuleViolation("customer_id", f"customer {self.id} is already merged into {self.merged_into}",
                                code="already_merged")
        if self.duplicates:
            raise RuleViolation(
                "customer_id", f"customers {', '.join(self.duplicates)} are merged into customer {self.id}: "
                f"merge them into {survivor_id} directly, or unmerge them first", code="has_duplicates")
        if survivor.erased_at is not None:
            raise RuleViolation("survivor_id", f"customer {survivor_id}'s personal data was erased", code="customer_erased")
        if survivor.merged_into is not None:
            raise RuleViolation("survivor_id", f"customer {survivor_id} is itself merged into {survivor.merged_into}: "
                                f"merge into {survivor.merged_into}", code="survivor_merged")
        if self.is_unidentified or survivor.is_unidentified:
            raise RuleViolation("survivor_id", "a number's unidentified party is merged by registering the number")
        self.trigger_event(Customer.Merged, survivor_id=survivor_id, event_id=event_id, occurred_at=occurred_at,
                           timestamp=timestamp)
        survivor.trigger_event(Customer.DuplicateMerged, duplicate_id=self.id, event_id=f"{IDENTITY}merge-{event_id}",
                               occurred_at=occurred_at, timestamp=timestamp)
        attribute(cast(Customer.Event, survivor._pending_events[-1]), SYSTEM)

    def unmerge_from(self, survivor: Customer, *, survivor_id: str, event_id: str, occurred_at: datetime,
                     timestamp: datetime | None = None) -> None:
        """Undo this customer's merge into `survivor`: `customer.unmerged` here, `customer.duplicate_unmerged`
        on the survivor. Every event stays on the stream it was stored on, so each record is again
        exactly what it was, with what was posted to it while merged."""
        if self.merged_into != survivor_id or survivor.id != survivor_id:
            now = f"merged into {self.merged_into}" if self.merged_into is not None else "not merged"
            raise RuleViolation("survivor_id", f"customer {self.id} is not merged into {survivor_id} (it is {now})",
                                code="not_merged")
        self.trigger_event(Customer.Unmerged, survivor_id=survivor_id, event_id=event_id, occurred_at=occurred_at,
                           timestamp=timestamp)
        survivor.trigger_event(Customer.DuplicateUnmerged, duplicate_id=self.id,
                               event_id=f"{IDENTITY}unmerge-{event_id}", occurred_at=occurred_at, timestamp=timestamp)
        attribute(cast(Customer.Event, survivor._pending_events[-1]), SYSTEM)

    def log_contact(self, **fields: Any) -> None:
        # A touchpoint is a fact that happened: it may name an order or complaint that
        # the log learns of later (channels deliver late), so the reference is not checked.
        self.trigger_event(Customer.ContactLogged, **fields)

    def identify_contact(self, *, contact_event_id: str, customer_id: str, **fields: Any) -> None:
        """On an unidentified party: its touchpoint `contact_event_id` joined `customer_id`."""
        if contact_event_id not in self.parked:
            raise RuleViolation("event_id", f"{contact_event_id} is no unidentified touchpoint of {self.id}")
        self.trigger_event(Customer.ContactIdentified, contact_event_id=contact_event_id, customer_id=customer_id,
                           **fields)

    def join_contact(self, contact: Customer.ContactLogged, *, timestamp: datetime) -> None:
        """Take an unidentified party's touchpoint into this customer's history: the same fact
        (its id, moment, channel and content), recorded here by ContactHub."""
        self.trigger_event(Customer.ContactLogged, timestamp=timestamp, **_same_fact(contact))

    def parked_since(self, since: datetime, until: datetime | None) -> list[Customer.ContactLogged]:
        """An unidentified party's touchpoints still unidentified, from `since` to before `until`, in time order."""
        found = [c for c in self.parked.values()
                 if since <= c.occurred_at and (until is None or c.occurred_at < until)]
        return sorted(found, key=lambda c: (c.occurred_at, c.event_id))

    def place_order(self, *, order_id: str, services: tuple[str, ...], **fields: Any) -> None:
        if order_id in self.orders:
            raise RuleViolation("order_id", f"order {order_id} was already placed", code="duplicate_order")
        if len(set(services)) != len(services):
            raise RuleViolation("services", "an order lists each service once")
        pending = self.pending_steps.get(order_id, [])
        self.trigger_event(Customer.OrderPlaced, order_id=order_id, services=tuple(services), **fields)
        self._link_pending_steps(order_id, pending, fields.get("timestamp"))

    def _link_pending_steps(self, order_id: str, pending: list[Customer.ServiceActivated | Customer.OrderCancelled],
                            timestamp: datetime | None) -> None:
        """The steps that came before the order, judged now in event time as if they had come after it:
        each that the order allows is recorded again after the placement (the same fact, by ContactHub),
        each that contradicts it is recorded as order.conflict."""
        for step in sorted(pending, key=lambda step: (step.occurred_at, step.event_id)):
            order = self.orders[order_id]
            problem = self._step_problem(order_id, order, step)
            if problem is None:
                self.trigger_event(type(step), timestamp=timestamp, **_same_fact(step))
            else:
                self.trigger_event(Customer.OrderStepConflict, order_id=order_id, step_event_id=step.event_id,
                                   step_type=step.TOPIC, reason=problem, event_id=f"late-conflict-{step.event_id}",
                                   occurred_at=step.occurred_at, timestamp=timestamp)
            attribute(cast(Customer.Event, self._pending_events[-1]), SYSTEM)

    @staticmethod
    def _step_problem(order_id: str, order: OrderState, step: Customer.Event) -> str | None:
        """Why a step contradicts its order, or None when the order allows it."""
        if order.cancelled and isinstance(step, Customer.ServiceActivated):
            late = Customer._activation_problem(order_id, order, step.service, step.occurred_at)
            if late is not None:
                return late
        elif order.cancelled:
            return f"order {order_id} was cancelled"
        if isinstance(step, Customer.ServiceActivated):
            if step.service not in order.services:
                return f"order {order_id} does not contain service '{step.service}' (it contains: {', '.join(order.services)})"
            if step.service in order.activated:
                return f"service '{step.service}' of order {order_id} is already active"
        elif order.finished:
            return f"order {order_id} is fully activated and cannot be cancelled"
        return None

    def activate_service(self, *, order_id: str, service: str, **fields: Any) -> None:
        """An activation; of an order not placed yet, kept until it is (a late reference: BOSS's
        feeds and the field service's deliver in their own order)."""
        if order_id not in self.orders:
            self.trigger_event(Customer.ServiceActivated, order_id=order_id, service=service, **fields)
            return
        order = self._order(order_id)
        if order.cancelled and (late := self._activation_problem(order_id, order, service, fields["occurred_at"])):
            raise RuleViolation("order_id", late, code="order_cancelled")
        if service not in order.services:
            raise RuleViolation(
                "service",
                f"order {order_id} does not contain service '{service}' (it contains: {', '.join(order.services)})",
            )
        if service in order.activated:
            raise RuleViolation("service", f"service '{service}' of order {order_id} is already active")
        self.trigger_event(Customer.ServiceActivated, order_id=order_id, service=service, **fields)

    @staticmethod
    def _activation_problem(order_id: str, order: OrderState, service: str, occurred_at: datetime) -> str | None:
        """Why an activation of a cancelled order is refused, or None when it is a fact delivered late: dated at
        or before the cancellation, it would have come first in event time and been accepted (the order stays
        cancelled). Refused when dated after the cancellation, or when it would complete the order before it,
        which a fully activated order would have refused."""
        assert order.cancelled_at is not None
        if occurred_at > order.cancelled_at:
            return f"order {order_id} was cancelled at {order.cancelled_at.isoformat()}"
        if service in order.services and order.activated | {service} >= set(order.services):
            return (f"order {order_id} was cancelled at {order.cancelled_at.isoformat()}; activating '{service}' "
                    "before that would have fully activated it, and a fully activated order is not cancelled")
        return None

    def cancel_order(self, *, order_id: str, **fields: Any) -> None:
        if order_id not in self.orders:  # a late reference, as for activate_service
            self.trigger_event(Customer.OrderCancelled, order_id=order_id, **fields)
            return
        order = self._order(order_id)
        if order.cancelled:
            raise RuleViolation("order_id", f"order {order_id} is already cancelled", code="order_cancelled")
        if order.finished:
            raise RuleViolation("order_id", f"order {order_id} is fully activated and cannot be cancelled")
        self.trigger_event(Customer.OrderCancelled, order_id=order_id, **fields)

    def open_complaint(self, *, complaint_id: str, severity: str, sla_policy: SlaPolicy | None, **fields: Any) -> None:
        """Open a complaint owned by its first contact (`handled_by`), under the SLA policy in force now."""
        if complaint_id in self.complaints:
            raise RuleViolation(
                "complaint_id", f"complaint {complaint_id} was already opened", code="duplicate_complaint"
            )
        terms = sla_policy.terms(self.tier, severity) if sla_policy is not None else legacy_terms(severity)
        pending = self.pending_complaint_steps.get(complaint_id, [])
        self.trigger_event(
            Customer.ComplaintOpened,
            complaint_id=complaint_id,
            severity=severity,
            tier=self.tier,
            sla_policy=terms.policy,
            sla_allowance_s=terms.allowance_s,
            sla_warning_s=terms.warning_s,
            sla_calendar=terms.calendar,
            response_allowance_s=None if terms.first_response is None else terms.first_response.allowance_s,
            response_warning_s=None if terms.first_response is None else terms.first_response.warning_s,
            response_calendar=None if terms.first_response is None else terms.first_response.basis,
            followup_s=terms.followup_s,
            followup_calendar=terms.followup_calendar,
            followup_required=terms.followup_required,
            **fields,
        )
        self._link_pending_complaint_steps(complaint_id, pending, fields.get("timestamp"))

    def _link_pending_complaint_steps(self, complaint_id: str, pending: list[Customer.ComplaintStep],
                                      timestamp: datetime | None) -> None:
        """The steps that came before the complaint, judged now in event time by the transition table,
        as if they had come after the opening: each it allows is recorded again (the same fact, by
        ContactHub), each it refuses is recorded as complaint.conflict."""
        for step in sorted(pending, key=lambda step: (step.occurred_at, step.event_id)):
            try:
                self.complaints[complaint_id].check(step.ACTION, step.occurred_at)
            except RuleViolation as refused:
                self.trigger_event(Customer.ComplaintStepConflict, complaint_id=complaint_id,
                                   step_event_id=step.event_id, step_type=step.TOPIC, reason=refused.message,
                                   event_id=f"late-conflict-{step.event_id}", occurred_at=step.occurred_at,
                                   timestamp=timestamp)
            else:
                self.trigger_event(type(step), timestamp=timestamp, **_same_fact(step))
            attribute(cast(Customer.Event, self._pending_events[-1]), SYSTEM)

    def acknowledge_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintAcknowledged, fields)

    def start_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintStarted, fields)

    def pend_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintPended, fields)

    def hold_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintHeld, fields)

    def resume_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintResumed, fields)

    def hand_over_complaint(self, *, complaint_id: str, to: str, **fields: Any) -> None:
        case = self._complaint(complaint_id)
        case.check_handover(to, fields["occurred_at"])
        self.trigger_event(
            Customer.ComplaintHandedOver, complaint_id=complaint_id, from_owner=case.owner, to=to, **fields
        )

    def escalate_complaint(self, *, complaint_id: str, level: int | None = None, **fields: Any) -> None:
        """Escalate to `level`, or one level above the current one when no level is given."""
        case = self._complaint(complaint_id)
        case.check("escalate", fields["occurred_at"])
        if level is None:
            level = case.escalation_level + 1
        elif level <= case.escalation_level:
            raise RuleViolation(
                "level", f"complaint {complaint_id} is already at escalation level {case.escalation_level}"
            )
        self.trigger_event(Customer.ComplaintEscalated, complaint_id=complaint_id, level=level, **fields)

    def resolve_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintResolved, fields)
        case = self.complaints.get(fields["complaint_id"])
        if case is not None:
            self._resolve_duplicates(case, fields)

    def _resolve_duplicates(self, primary: ComplaintCase, fields: dict[str, Any]) -> None:
        """A primary's resolution resolves its open duplicates too, in the same decision: each is recorded as
        `complaint.resolved` by ContactHub, with the primary's resolution."""
        self._follow_primary(primary, Customer.ComplaintResolved, fields,
                             resolution=f"resolved with {primary.complaint_id}: {fields['resolution']}")

    def _follow_primary(self, primary: ComplaintCase, step: type[Customer.ComplaintStep], fields: dict[str, Any],
                        **content: Any) -> None:
        """The primary's end (resolved, cancelled, rejected) recorded on each of its open duplicates, by ContactHub,
        never dated before the duplicate's link (a channel may deliver the primary's step back-dated)."""
        for duplicate_id in primary.duplicates:
            duplicate = self.complaints[duplicate_id]
            if duplicate.status not in OPEN_STATUSES:
                continue
            linked_at = duplicate.clock.stopped_at or duplicate.opened_at
            self.trigger_event(
                step, complaint_id=duplicate_id, event_id=f"{LINKED_PREFIX}{fields['event_id']}:{duplicate_id}",
                occurred_at=max(fields["occurred_at"], linked_at), timestamp=fields.get("timestamp"), by=SYSTEM,
                channel=fields["channel"], **content,
            )
            attribute(cast(Customer.Event, self._pending_events[-1]), SYSTEM)

    def link_complaint(self, *, complaint_id: str, primary_id: str, **fields: Any) -> None:
        """Link a duplicate to its primary (this customer's); one already resolved resolves the duplicate now."""
        if complaint_id not in self.complaints:  # unlike other steps, a link is not kept for a complaint to come
            raise RuleViolation("complaint_id", f"complaint {complaint_id} is not known for customer {self.id}",
                                code="unknown_complaint")
        case = self._complaint(complaint_id)
        primary = self.complaints.get(primary_id)
        if primary is None:
            raise RuleViolation("primary_id", f"complaint {primary_id} is not known for customer {self.id}",
                                code="unknown_complaint")
        case.check_link(primary, fields["occurred_at"])
        self.trigger_event(Customer.ComplaintLinked, complaint_id=complaint_id, primary_id=primary_id, **fields)
        if primary.status in (ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED):
            self._resolve_duplicates(primary, {**fields, "resolution": "the primary was resolved before the link"})

    def record_follow_up(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintFollowedUp, fields)

    def close_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintClosed, fields)

    def reopen_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintReopened, fields)

    def cancel_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintCancelled, fields)
        case = self.complaints.get(fields["complaint_id"])
        if case is not None:
            self._follow_primary(case, Customer.ComplaintCancelled, fields,
                                 reason=f"cancelled with {case.complaint_id}: {fields['reason']}")

    def reject_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintRejected, fields)
        case = self.complaints.get(fields["complaint_id"])
        if case is not None:
            self._follow_primary(case, Customer.ComplaintRejected, fields,
                                 reason=f"rejected with {case.complaint_id}: {fields['reason']}")

    def note_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintNoted, fields)

    def record_sla_warning(self, *, complaint_id: str, clock: int, occurred_at: datetime,
                           metric: str = RESOLUTION, **fields: Any) -> None:
        """`occurred_at` is when the watcher saw it; the event is dated when the warning point passed."""
        self._record_sla(Customer.SlaWarningRecorded, complaint_id, clock, metric, occurred_at, fields)

    def record_sla_breach(self, *, complaint_id: str, clock: int, occurred_at: datetime,
                          metric: str = RESOLUTION, **fields: Any) -> None:
        self._record_sla(Customer.SlaBreached, complaint_id, clock, metric, occurred_at, fields)

    def record_order_jeopardy(
        self,
        *,
        order_id: str,
        reasons: tuple[str, ...],
        limit_days: float,
        limit_calls: int,
        calls: int,
        passed_at: datetime,
        occurred_at: datetime,
        **fields: Any,
    ) -> None:
        """`occurred_at` is when the watcher saw it; the event is dated when the first limit passed (`passed_at`).

        Once per order: refused for an unknown order, one already flagged, and one that was no
        longer in progress when the limit passed (activated or cancelled before it). The calls
        are not kept here, so their count is taken as the watcher saw it in the customer's timeline.
        """
        order = self._order(order_id)
        if order.jeopardy_at is not None:
            raise RuleViolation(
                "order_id",
                f"order {order_id} was already flagged in jeopardy at {order.jeopardy_at.isoformat()}",
                code="jeopardy_recorded",
            )
        finished_at = order.finished_at
        if finished_at is not None and passed_at > finished_at:
            how = "cancelled" if order.cancelled else "activated"
            raise RuleViolation(
                "order_id",
                f"order {order_id} was no longer in progress at {passed_at.isoformat()} ({how} at {finished_at.isoformat()})",
                code="order_finished",
            )
        if not order.placed_at <= passed_at <= occurred_at:
            raise RuleViolation(
                "passed_at",
                f"the jeopardy of order {order_id} must date from between its placing ({order.placed_at.isoformat()}) "
                f"and when it was seen ({occurred_at.isoformat()})",
            )
        days_at = order.placed_at + timedelta(days=limit_days)
        if "days" in reasons and days_at > min(occurred_at, finished_at or occurred_at):
            raise RuleViolation(
                "reasons", f"order {order_id} was not in progress for {limit_days:g} days (that is {days_at.isoformat()})"
            )
        if "calls" in reasons and calls < limit_calls:
            raise RuleViolation("reasons", f"{calls} call(s) do not reach the limit of {limit_calls}")
        self.trigger_event(
            Customer.OrderJeopardy,
            order_id=order_id,
            reasons=tuple(reasons),
            limit_days=limit_days,
            limit_calls=limit_calls,
            calls=calls,
            occurred_at=passed_at,
            observed_at=occurred_at,
            **fields,
        )

    # --- rule helpers -------------------------------------------------------------

    def _order(self, order_id: str) -> OrderState:
        try:
            return self.orders[order_id]
        except KeyError:
            raise RuleViolation(
                "order_id", f"order {order_id} is not known for customer {self.id}", code="unknown_order"
            ) from None

    def _complaint(self, complaint_id: str) -> ComplaintCase:
        try:
            return self.complaints[complaint_id]
        except KeyError:
            raise RuleViolation(
                "complaint_id",
                f"complaint {complaint_id} is not known for customer {self.id}",
                code="unknown_complaint",
            ) from None

    def _complaint_step(self, step: type[Customer.ComplaintStep], fields: dict[str, Any]) -> None:
        if fields["complaint_id"] not in self.complaints:  # a late reference: kept until the complaint is opened
            self.trigger_event(step, **fields)
            return
        case = self._complaint(fields["complaint_id"])
        case.check(step.ACTION, fields["occurred_at"])  # refuses an illegal transition or an impossible time
        self.trigger_event(step, **fields)

    def _record_sla(
        self, step: type[Customer.SlaWarningRecorded], complaint_id: str, clock: int, metric: str,
        seen_at: datetime, fields: dict[str, Any],
    ) -> None:
        """Record that a clock passed its warning point or deadline, dated when it passed, not when it was seen."""
        case = self._complaint(complaint_id)
        running = case.clock_of(metric)
        if running is None or clock != running.number or not case.sla_due(step.KIND, seen_at, metric):
            raise RuleViolation(
                "complaint_id",
                f"complaint {complaint_id} has no SLA {step.KIND} due for clock {clock} ({metric}) at {seen_at.isoformat()}",
                code="sla_not_due",
            )
        self.trigger_event(
            step,
            complaint_id=complaint_id,
            occurred_at=running.passed_at(step.KIND, seen_at),
            observed_at=seen_at,
            clock=clock,
            metric=metric,
            allowance_s=running.allowance_s,
            deadline=running.deadline,
            **fields,
        )


# --- provenance: who posted each event ------------------------------------------------------

POSTED_BY = "posted_by"
"""The stored attribute naming who posted an event: the id of the API key whose request
carried it, or `SYSTEM` for what ContactHub records itself (the watchers' SLA and jeopardy
events). It is part of the stored event, so the customer's hash chain covers it. Events
stored before it was recorded (and events loaded in bulk, not posted) have none."""
SYSTEM = "contacthub"
LINKED_PREFIX = "linked-"
"""The ids of duplicates' resolutions recorded with their primary's (`<prefix><primary's step id>:<duplicate>`)."""
IDENTITY = "identity-"
"""The prefix of the ids of what ContactHub records about identities: unknown callers' joins and marks,
the survivor's side of a merge (a channel's ids cannot start with it: contract/schemas.py)."""


def _same_fact(event: Customer.Event) -> dict[str, Any]:
    """An event's own fields (its id, moments and content), to record the same fact again elsewhere
    in the log: an unknown caller's touchpoint on the customer it joins, a step after the order or
    complaint that came later than it. Not its place in a stream, not who posted it."""
    fields = {k: v for k, v in event.__dict__.items()
              if k not in ("originator_id", "originator_version", "timestamp", POSTED_BY) and not k.startswith("_")}
    return fields


def identity_in(events: Iterable[Customer.Event]) -> tuple[str | None, tuple[str, ...]]:
    """Which person a record was part of after these events of its stream (in log order; any subset an
    audit replays, which the aggregate itself cannot be folded from): the survivor it was merged into, if
    any, and the records merged into it. The merge events' own `apply` decides it."""
    record = _Identity()
    for fact in events:
        if isinstance(fact, _IDENTITY_EVENTS):
            fact.apply(cast(Customer, record))
    return record.merged_into, record.duplicates


@dataclass
class _Identity:
    """The part of a customer the merge events change."""

    merged_into: str | None = None
    duplicates: tuple[str, ...] = ()


_IDENTITY_EVENTS = (Customer.Merged, Customer.Unmerged, Customer.DuplicateMerged, Customer.DuplicateUnmerged)


def attribute(event: Customer.Event, source: str) -> None:
    """Record who posted `event` (before it is stored)."""
    object.__setattr__(event, POSTED_BY, source)


def posted_by(event: Customer.Event) -> str | None:
    """Who posted `event`, when that was recorded."""
    source = event.__dict__.get(POSTED_BY)
    return source if isinstance(source, str) else None
