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

    @dataclass(frozen=True)
    class OrderPlaced(Event):
        TOPIC = "order.placed"
        order_id: str
        services: tuple[str, ...]

    @dataclass(frozen=True)
    class ServiceActivated(Event):
        TOPIC = "service.activated"
        order_id: str
        service: str

    @dataclass(frozen=True)
    class OrderCancelled(Event):
        TOPIC = "order.cancelled"
        order_id: str
        reason: str

    @dataclass(frozen=True)
    class ComplaintOpened(Event):
        TOPIC = "complaint.opened"
        complaint_id: str
        category: str
        severity: str
        summary: str
        channel: str
        handled_by: str  # the first-contact owner

    @dataclass(frozen=True)
    class ComplaintAcknowledged(Event):
        TOPIC = "complaint.acknowledged"
        complaint_id: str
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintAssigned(Event):
        TOPIC = "complaint.assigned"
        complaint_id: str
        to: str
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintEscalated(Event):
        TOPIC = "complaint.escalated"
        complaint_id: str
        level: int
        reason: str
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintResolved(Event):
        TOPIC = "complaint.resolved"
        complaint_id: str
        resolution: str
        by: str
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintFollowedUp(Event):
        TOPIC = "complaint.followed_up"
        complaint_id: str
        satisfaction: int
        channel: str
        by: str | None

    @dataclass(frozen=True)
    class ComplaintClosed(Event):
        TOPIC = "complaint.closed"
        complaint_id: str
        by: str | None
        channel: str | None

    @dataclass(frozen=True)
    class ComplaintReopened(Event):
        TOPIC = "complaint.reopened"
        complaint_id: str
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

    def change_tier(self, event_id: str, occurred_at: datetime, tier: str, arpu: float) -> None:
        self._tier_changed(event_id=event_id, occurred_at=occurred_at, tier=tier, arpu=arpu)

    def log_contact(
        self,
        event_id: str,
        occurred_at: datetime,
        channel: str,
        direction: str,
        reason: str,
        handled_by: str,
        site: str | None,
        duration_s: int,
        outcome: str,
        order_id: str | None,
        complaint_id: str | None,
    ) -> None:
        # A touchpoint is a fact that happened: it may name an order or complaint that
        # the log learns of later (channels deliver late), so the reference is not checked.
        self._contact_logged(
            event_id=event_id,
            occurred_at=occurred_at,
            channel=channel,
            direction=direction,
            reason=reason,
            handled_by=handled_by,
            site=site,
            duration_s=duration_s,
            outcome=outcome,
            order_id=order_id,
            complaint_id=complaint_id,
        )

    def place_order(self, event_id: str, occurred_at: datetime, order_id: str, services: tuple[str, ...]) -> None:
        if order_id in self.orders:
            raise RuleViolation("order_id", f"order {order_id} was already placed", code="duplicate_order")
        if len(set(services)) != len(services):
            raise RuleViolation("services", "an order lists each service once")
        self._order_placed(event_id=event_id, occurred_at=occurred_at, order_id=order_id, services=tuple(services))

    def activate_service(self, event_id: str, occurred_at: datetime, order_id: str, service: str) -> None:
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
        self._service_activated(event_id=event_id, occurred_at=occurred_at, order_id=order_id, service=service)

    def cancel_order(self, event_id: str, occurred_at: datetime, order_id: str, reason: str) -> None:
        order = self._order(order_id)
        if order.cancelled:
            raise RuleViolation("order_id", f"order {order_id} is already cancelled", code="order_cancelled")
        if order.finished:
            raise RuleViolation("order_id", f"order {order_id} is fully activated and cannot be cancelled")
        self._order_cancelled(event_id=event_id, occurred_at=occurred_at, order_id=order_id, reason=reason)

    def open_complaint(
        self,
        event_id: str,
        occurred_at: datetime,
        complaint_id: str,
        category: str,
        severity: str,
        summary: str,
        channel: str,
        handled_by: str,
    ) -> None:
        if complaint_id in self.complaints:
            raise RuleViolation(
                "complaint_id", f"complaint {complaint_id} was already opened", code="duplicate_complaint"
            )
        self._complaint_opened(
            event_id=event_id,
            occurred_at=occurred_at,
            complaint_id=complaint_id,
            category=category,
            severity=severity,
            summary=summary,
            channel=channel,
            handled_by=handled_by,
        )

    def acknowledge_complaint(
        self, event_id: str, occurred_at: datetime, complaint_id: str, by: str | None, channel: str | None
    ) -> None:
        self._check_action(complaint_id, "acknowledge")
        self._complaint_acknowledged(
            event_id=event_id, occurred_at=occurred_at, complaint_id=complaint_id, by=by, channel=channel
        )

    def assign_complaint(
        self, event_id: str, occurred_at: datetime, complaint_id: str, to: str, by: str | None, channel: str | None
    ) -> None:
        self._check_action(complaint_id, "assign")
        self._complaint_assigned(
            event_id=event_id, occurred_at=occurred_at, complaint_id=complaint_id, to=to, by=by, channel=channel
        )

    def escalate_complaint(
        self,
        event_id: str,
        occurred_at: datetime,
        complaint_id: str,
        level: int,
        reason: str,
        by: str | None,
        channel: str | None,
    ) -> None:
        self._check_action(complaint_id, "escalate")
        self._complaint_escalated(
            event_id=event_id,
            occurred_at=occurred_at,
            complaint_id=complaint_id,
            level=level,
            reason=reason,
            by=by,
            channel=channel,
        )

    def resolve_complaint(
        self, event_id: str, occurred_at: datetime, complaint_id: str, resolution: str, by: str, channel: str | None
    ) -> None:
        self._check_action(complaint_id, "resolve")
        self._complaint_resolved(
            event_id=event_id,
            occurred_at=occurred_at,
            complaint_id=complaint_id,
            resolution=resolution,
            by=by,
            channel=channel,
        )

    def record_follow_up(
        self, event_id: str, occurred_at: datetime, complaint_id: str, satisfaction: int, channel: str, by: str | None
    ) -> None:
        self._check_action(complaint_id, "follow_up")
        self._complaint_followed_up(
            event_id=event_id,
            occurred_at=occurred_at,
            complaint_id=complaint_id,
            satisfaction=satisfaction,
            channel=channel,
            by=by,
        )

    def close_complaint(
        self, event_id: str, occurred_at: datetime, complaint_id: str, by: str | None, channel: str | None
    ) -> None:
        self._check_action(complaint_id, "close")
        self._complaint_closed(
            event_id=event_id, occurred_at=occurred_at, complaint_id=complaint_id, by=by, channel=channel
        )

    def reopen_complaint(
        self, event_id: str, occurred_at: datetime, complaint_id: str, reason: str, by: str | None, channel: str | None
    ) -> None:
        self._check_action(complaint_id, "reopen")
        self._complaint_reopened(
            event_id=event_id, occurred_at=occurred_at, complaint_id=complaint_id, reason=reason, by=by, channel=channel
        )

    # --- rule helpers -------------------------------------------------------------

    def _order(self, order_id: str) -> OrderState:
        try:
            return self.orders[order_id]
        except KeyError:
            raise RuleViolation(
                "order_id", f"order {order_id} is not known for customer {self.id}", code="unknown_order"
            ) from None

    def _check_action(self, complaint_id: str, action: str) -> None:
        try:
            status = self.complaints[complaint_id]
        except KeyError:
            raise RuleViolation(
                "complaint_id",
                f"complaint {complaint_id} is not known for customer {self.id}",
                code="unknown_complaint",
            ) from None
        next_status(complaint_id, status, action)

    # --- state changes: run when an event is recorded and when it is replayed ----

    @event(TierChanged)
    def _tier_changed(self, event_id: str, occurred_at: datetime, tier: str, arpu: float) -> None:
        self.tier = tier
        self.arpu = arpu

    @event(ContactLogged)
    def _contact_logged(
        self,
        event_id: str,
        occurred_at: datetime,
        channel: str,
        direction: str,
        reason: str,
        handled_by: str,
        site: str | None,
        duration_s: int,
        outcome: str,
        order_id: str | None,
        complaint_id: str | None,
    ) -> None:
        self.contact_count += 1

    @event(OrderPlaced)
    def _order_placed(self, event_id: str, occurred_at: datetime, order_id: str, services: tuple[str, ...]) -> None:
        self.orders[order_id] = OrderState(services=tuple(services))

    @event(ServiceActivated)
    def _service_activated(self, event_id: str, occurred_at: datetime, order_id: str, service: str) -> None:
        self.orders[order_id].activated.add(service)

    @event(OrderCancelled)
    def _order_cancelled(self, event_id: str, occurred_at: datetime, order_id: str, reason: str) -> None:
        self.orders[order_id].cancelled = True

    @event(ComplaintOpened)
    def _complaint_opened(
        self,
        event_id: str,
        occurred_at: datetime,
        complaint_id: str,
        category: str,
        severity: str,
        summary: str,
        channel: str,
        handled_by: str,
    ) -> None:
        self.complaints[complaint_id] = ComplaintStatus.OPENED

    def _move(self, complaint_id: str, action: str) -> None:
        self.complaints[complaint_id] = next_status(complaint_id, self.complaints[complaint_id], action)

    @event(ComplaintAcknowledged)
    def _complaint_acknowledged(
        self, event_id: str, occurred_at: datetime, complaint_id: str, by: str | None, channel: str | None
    ) -> None:
        self._move(complaint_id, "acknowledge")

    @event(ComplaintAssigned)
    def _complaint_assigned(
        self, event_id: str, occurred_at: datetime, complaint_id: str, to: str, by: str | None, channel: str | None
    ) -> None:
        self._move(complaint_id, "assign")

    @event(ComplaintEscalated)
    def _complaint_escalated(
        self,
        event_id: str,
        occurred_at: datetime,
        complaint_id: str,
        level: int,
        reason: str,
        by: str | None,
        channel: str | None,
    ) -> None:
        self._move(complaint_id, "escalate")

    @event(ComplaintResolved)
    def _complaint_resolved(
        self, event_id: str, occurred_at: datetime, complaint_id: str, resolution: str, by: str, channel: str | None
    ) -> None:
        self._move(complaint_id, "resolve")

    @event(ComplaintFollowedUp)
    def _complaint_followed_up(
        self, event_id: str, occurred_at: datetime, complaint_id: str, satisfaction: int, channel: str, by: str | None
    ) -> None:
        self._move(complaint_id, "follow_up")

    @event(ComplaintClosed)
    def _complaint_closed(
        self, event_id: str, occurred_at: datetime, complaint_id: str, by: str | None, channel: str | None
    ) -> None:
        self._move(complaint_id, "close")

    @event(ComplaintReopened)
    def _complaint_reopened(
        self, event_id: str, occurred_at: datetime, complaint_id: str, reason: str, by: str | None, channel: str | None
    ) -> None:
        self._move(complaint_id, "reopen")


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
