"""The customer aggregate: the unit of consistency and of audit.

A customer's whole history (profile, touchpoints, orders, complaints) is one ordered
sequence of events, so "replay this customer" is exact. The aggregate keeps only the
state its rules need; everything shown to people lives in read models.

Each event class's TOPIC is the public `type` name of the event catalogue
(docs/events.md). Stored events carry that name and nothing from Python module paths,
so code can move without breaking the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from typing import Any

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate, event

from contacthub.domain.complaint import next_status
from contacthub.domain.errors import RuleViolation
from contacthub.domain.vocabulary import ComplaintStatus


@dataclass
class OrderState:
    services: tuple[str, ...]
    activated: set[str] = field(default_factory=set)
    cancelled: bool = False

    @property
    def finished(self) -> bool:
        return self.cancelled or self.activated.issuperset(self.services)


class Customer(BaseAggregate[str]):
    TOPIC = "contacthub.customer"

    # --- events: the facts, and what each one changes ------------------------------

    @dataclass(frozen=True)
    class Event(CanMutateAggregate[str]):
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
    class TierChanged(Event):
        TOPIC = "customer.tier_changed"
        tier: str
        arpu: float

        def apply(self, customer: Customer) -> None:
            customer.tier = self.tier
            customer.arpu = self.arpu

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

    @dataclass(frozen=True)
    class OrderPlaced(Event):
        TOPIC = "order.placed"
        order_id: str
        services: tuple[str, ...]

        def apply(self, customer: Customer) -> None:
            customer.orders[self.order_id] = OrderState(services=tuple(self.services))

    @dataclass(frozen=True)
    class ServiceActivated(Event):
        TOPIC = "service.activated"
        order_id: str
        service: str

        def apply(self, customer: Customer) -> None:
            customer.orders[self.order_id].activated.add(self.service)

    @dataclass(frozen=True)
    class OrderCancelled(Event):
        TOPIC = "order.cancelled"
        order_id: str
        reason: str

        def apply(self, customer: Customer) -> None:
            customer.orders[self.order_id].cancelled = True

    @dataclass(frozen=True)
    class ComplaintOpened(Event):
        TOPIC = "complaint.opened"
        complaint_id: str
        category: str
        severity: str
        summary: str
        channel: str
        handled_by: str  # the first-contact owner

        def apply(self, customer: Customer) -> None:
            customer.complaints[self.complaint_id] = ComplaintStatus.OPENED

    @dataclass(frozen=True)
    class ComplaintStep(Event):
        """A step in a complaint's life; ACTION names its row in the transition table.

        Never stored itself; eventsourcing requires a topic on every event class of an aggregate.
        """

        TOPIC = "contacthub.complaint_step"
        ACTION = ""
        complaint_id: str

        def apply(self, customer: Customer) -> None:
            status = customer.complaints[self.complaint_id]
            customer.complaints[self.complaint_id] = next_status(self.complaint_id, status, self.ACTION)

    @dataclass(frozen=True)
    class ComplaintAcknowledged(ComplaintStep):
        TOPIC = "complaint.acknowledged"
        ACTION = "acknowledge"
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintAssigned(ComplaintStep):
        TOPIC = "complaint.assigned"
        ACTION = "assign"
        to: str
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintEscalated(ComplaintStep):
        TOPIC = "complaint.escalated"
        ACTION = "escalate"
        level: int
        reason: str
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintResolved(ComplaintStep):
        TOPIC = "complaint.resolved"
        ACTION = "resolve"
        resolution: str
        by: str
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintFollowedUp(ComplaintStep):
        TOPIC = "complaint.followed_up"
        ACTION = "follow_up"
        satisfaction: int
        channel: str
        by: str | None

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
        self.name = name
        self.segment = segment
        self.tier = tier
        self.arpu: float | None = None
        self.msisdns = tuple(msisdns)
        self.orders: dict[str, OrderState] = {}
        self.complaints: dict[str, ComplaintStatus] = {}
        self.contact_count = 0

    # --- commands: check the rule, then record the fact -------------------------
    # Each takes the event's own fields as keyword arguments (event_id, occurred_at, ...).

    def change_tier(self, **fields: Any) -> None:
        self.trigger_event(Customer.TierChanged, **fields)

    def log_contact(self, **fields: Any) -> None:
        # A touchpoint is a fact that happened: it may name an order or complaint that
        # the log learns of later (channels deliver late), so the reference is not checked.
        self.trigger_event(Customer.ContactLogged, **fields)

    def place_order(self, *, order_id: str, services: tuple[str, ...], **fields: Any) -> None:
        if order_id in self.orders:
            raise RuleViolation("order_id", f"order {order_id} was already placed", code="duplicate_order")
        if len(set(services)) != len(services):
            raise RuleViolation("services", "an order lists each service once")
        self.trigger_event(Customer.OrderPlaced, order_id=order_id, services=tuple(services), **fields)

    def activate_service(self, *, order_id: str, service: str, **fields: Any) -> None:
        order = self._order(order_id)
        if order.cancelled:
            raise RuleViolation("order_id", f"order {order_id} was cancelled", code="order_cancelled")
        if service not in order.services:
            raise RuleViolation(
                "service",
                f"order {order_id} does not contain service '{service}' (it contains: {', '.join(order.services)})",
            )
        if service in order.activated:
            raise RuleViolation("service", f"service '{service}' of order {order_id} is already active")
        self.trigger_event(Customer.ServiceActivated, order_id=order_id, service=service, **fields)

    def cancel_order(self, *, order_id: str, **fields: Any) -> None:
        order = self._order(order_id)
        if order.cancelled:
            raise RuleViolation("order_id", f"order {order_id} is already cancelled", code="order_cancelled")
        if order.finished:
            raise RuleViolation("order_id", f"order {order_id} is fully activated and cannot be cancelled")
        self.trigger_event(Customer.OrderCancelled, order_id=order_id, **fields)

    def open_complaint(self, *, complaint_id: str, **fields: Any) -> None:
        if complaint_id in self.complaints:
            raise RuleViolation(
                "complaint_id", f"complaint {complaint_id} was already opened", code="duplicate_complaint"
            )
        self.trigger_event(Customer.ComplaintOpened, complaint_id=complaint_id, **fields)

    def acknowledge_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintAcknowledged, fields)

    def assign_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintAssigned, fields)

    def escalate_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintEscalated, fields)

    def resolve_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintResolved, fields)

    def record_follow_up(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintFollowedUp, fields)

    def close_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintClosed, fields)

    def reopen_complaint(self, **fields: Any) -> None:
        self._complaint_step(Customer.ComplaintReopened, fields)

    # --- rule helpers -------------------------------------------------------------

    def _order(self, order_id: str) -> OrderState:
        try:
            return self.orders[order_id]
        except KeyError:
            raise RuleViolation(
                "order_id", f"order {order_id} is not known for customer {self.id}", code="unknown_order"
            ) from None

    def _complaint_step(self, step: type[Customer.ComplaintStep], fields: dict[str, Any]) -> None:
        complaint_id = fields["complaint_id"]
        try:
            status = self.complaints[complaint_id]
        except KeyError:
            raise RuleViolation(
                "complaint_id",
                f"complaint {complaint_id} is not known for customer {self.id}",
                code="unknown_complaint",
            ) from None
        next_status(complaint_id, status, step.ACTION)  # refuses an illegal transition
        self.trigger_event(step, **fields)


EVENT_TYPES: dict[str, type[Customer.Event]] = {
    cls.TOPIC: cls  # type: ignore[attr-defined]
    for cls in (
        Customer.Registered,
        Customer.TierChanged,
        Customer.ContactLogged,
        Customer.OrderPlaced,
        Customer.ServiceActivated,
        Customer.OrderCancelled,
        Customer.ComplaintOpened,
        Customer.ComplaintAcknowledged,
        Customer.ComplaintAssigned,
        Customer.ComplaintEscalated,
        Customer.ComplaintResolved,
        Customer.ComplaintFollowedUp,
        Customer.ComplaintClosed,
        Customer.ComplaintReopened,
    )
}
"""Every event type of catalogue v1, by its public `type` name."""
