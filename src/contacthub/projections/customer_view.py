"""The 360-degree customer view.

Consumes: customer.registered, customer.tier_changed, contact.logged, order.placed,
service.activated, order.cancelled, and every complaint.* event.
Owns: rm_customer, rm_msisdn, rm_order, rm_complaint, rm_contact, rm_channel_count
(migrations/0002_customer_view.sql).

A batch of events is applied as a unit of work: the rows it touches are read in one
query per table, changed in memory in log order, and written back with one statement
per table. That keeps catch-up fast without giving up log-order semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from contacthub.adapters.store.database import Sql
from contacthub.domain.complaint import next_status
from contacthub.domain.customer import Customer
from contacthub.domain.vocabulary import ComplaintStatus, OrderStatus
from contacthub.projections.base import PositionedEvent, utc_text

Row = dict[str, Any]

CUSTOMER_COLUMNS = (
    "customer_id", "name", "segment", "tier", "arpu", "msisdns",
    "registered_at", "contact_count", "last_contact_at", "last_position",
)
ORDER_COLUMNS = (
    "order_id", "customer_id", "status", "services", "activated",
    "placed_at", "last_activated_at", "cancelled_at", "cancel_reason",
)
COMPLAINT_COLUMNS = (
    "complaint_id", "customer_id", "status", "category", "severity", "summary", "channel", "owner",
    "opened_at", "acknowledged_at", "assigned_to", "escalation_level", "resolved_at", "resolved_by",
    "resolution", "satisfaction", "followed_up_at", "closed_at", "reopen_count", "last_changed_at",
)
CONTACT_COLUMNS = (
    "position", "customer_id", "event_id", "occurred_at", "recorded_at", "channel", "direction",
    "reason", "handled_by", "site", "duration_s", "outcome", "order_id", "complaint_id",
)


@dataclass
class UnitOfWork:
    """The rows one batch touches, as they will be after the batch."""

    customers: dict[str, Row] = field(default_factory=dict)
    orders: dict[str, Row] = field(default_factory=dict)
    complaints: dict[str, Row] = field(default_factory=dict)
    msisdns: list[tuple[str, str]] = field(default_factory=list)
    contacts: list[tuple[Any, ...]] = field(default_factory=list)
    channel_counts: dict[tuple[str, str], int] = field(default_factory=dict)


# --- what each event does to the view (pure: rows in, rows out) -------------------------


def _registered(uow: UnitOfWork, position: int, e: Customer.Registered) -> None:
    uow.customers[e.customer_id] = {
        "customer_id": e.customer_id,
        "name": e.name,
        "segment": e.segment,
        "tier": e.tier,
        "arpu": None,
        "msisdns": orjson.dumps(list(e.msisdns)).decode(),
        "registered_at": utc_text(e.occurred_at),
        "contact_count": 0,
        "last_contact_at": None,
        "last_position": position,
    }
    uow.msisdns.extend((m, e.customer_id) for m in e.msisdns)


def _tier_changed(uow: UnitOfWork, position: int, e: Customer.TierChanged) -> None:
    row = uow.customers[e.originator_id]
    row["tier"] = e.tier
    row["arpu"] = e.arpu


def _contact_logged(uow: UnitOfWork, position: int, e: Customer.ContactLogged) -> None:
    row = uow.customers[e.originator_id]
    row["contact_count"] += 1
    occurred = utc_text(e.occurred_at)
    if row["last_contact_at"] is None or occurred > row["last_contact_at"]:
        row["last_contact_at"] = occurred  # channels deliver late: keep the latest by event time
    uow.contacts.append(
        (
            position, e.originator_id, e.event_id, occurred, utc_text(e.timestamp), e.channel, e.direction,
            e.reason, e.handled_by, e.site, e.duration_s, e.outcome, e.order_id, e.complaint_id,
        )
    )
    key = (e.originator_id, e.channel)
    uow.channel_counts[key] = uow.channel_counts.get(key, 0) + 1


def _order_placed(uow: UnitOfWork, position: int, e: Customer.OrderPlaced) -> None:
    uow.orders[e.order_id] = {
        "order_id": e.order_id,
        "customer_id": e.originator_id,
        "status": OrderStatus.IN_PROGRESS.value,
        "services": orjson.dumps(list(e.services)).decode(),
        "activated": "[]",
        "placed_at": utc_text(e.occurred_at),
        "last_activated_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
    }


def _service_activated(uow: UnitOfWork, position: int, e: Customer.ServiceActivated) -> None:
    row = uow.orders[e.order_id]
    activated = orjson.loads(row["activated"]) + [e.service]
    services = orjson.loads(row["services"])
    row["activated"] = orjson.dumps([s for s in services if s in activated]).decode()
    occurred = utc_text(e.occurred_at)
    if row["last_activated_at"] is None or occurred > row["last_activated_at"]:
        row["last_activated_at"] = occurred
    row["status"] = (
        OrderStatus.ACTIVATED.value if set(activated) >= set(services) else OrderStatus.PARTIALLY_ACTIVATED.value
    )


def _order_cancelled(uow: UnitOfWork, position: int, e: Customer.OrderCancelled) -> None:
    row = uow.orders[e.order_id]
    row["status"] = OrderStatus.CANCELLED.value
    row["cancelled_at"] = utc_text(e.occurred_at)
    row["cancel_reason"] = e.reason


def _complaint_opened(uow: UnitOfWork, position: int, e: Customer.ComplaintOpened) -> None:
    opened = utc_text(e.occurred_at)
    uow.complaints[e.complaint_id] = {
        "complaint_id": e.complaint_id,
        "customer_id": e.originator_id,
        "status": ComplaintStatus.OPENED.value,
        "category": e.category,
        "severity": e.severity,
        "summary": e.summary,
        "channel": e.channel,
        "owner": e.handled_by,
        "opened_at": opened,
        "acknowledged_at": None,
        "assigned_to": None,
        "escalation_level": 0,
        "resolved_at": None,
        "resolved_by": None,
        "resolution": None,
        "satisfaction": None,
        "followed_up_at": None,
        "closed_at": None,
        "reopen_count": 0,
        "last_changed_at": opened,
    }


def _complaint_step(action: str, change: Callable[[Row, Any], None]) -> Callable[[UnitOfWork, int, Any], None]:
    def apply(uow: UnitOfWork, position: int, e: Any) -> None:
        row = uow.complaints[e.complaint_id]
        # The same transition table as the domain, so the view cannot disagree with it.
        row["status"] = next_status(e.complaint_id, ComplaintStatus(row["status"]), action).value
        row["last_changed_at"] = utc_text(e.occurred_at)
        change(row, e)

    return apply


def _set(**columns: Callable[[Any], Any]) -> Callable[[Row, Any], None]:
    def change(row: Row, e: Any) -> None:
        for column, value in columns.items():
            row[column] = value(e)

    return change


def _escalate(row: Row, e: Customer.ComplaintEscalated) -> None:
    row["escalation_level"] = max(row["escalation_level"], e.level)


def _reopen(row: Row, e: Customer.ComplaintReopened) -> None:
    row["reopen_count"] += 1
    row["resolved_at"] = row["closed_at"] = None


HANDLERS: dict[type, Callable[[UnitOfWork, int, Any], None]] = {
    Customer.Registered: _registered,
    Customer.TierChanged: _tier_changed,
    Customer.ContactLogged: _contact_logged,
    Customer.OrderPlaced: _order_placed,
    Customer.ServiceActivated: _service_activated,
    Customer.OrderCancelled: _order_cancelled,
    Customer.ComplaintOpened: _complaint_opened,
    Customer.ComplaintAcknowledged: _complaint_step("acknowledge", _set(acknowledged_at=lambda e: utc_text(e.occurred_at))),
    Customer.ComplaintAssigned: _complaint_step("assign", _set(assigned_to=lambda e: e.to)),
    Customer.ComplaintEscalated: _complaint_step("escalate", _escalate),
    Customer.ComplaintResolved: _complaint_step(
        "resolve",
        _set(resolved_at=lambda e: utc_text(e.occurred_at), resolved_by=lambda e: e.by, resolution=lambda e: e.resolution),
    ),
    Customer.ComplaintFollowedUp: _complaint_step(
        "follow_up", _set(satisfaction=lambda e: e.satisfaction, followed_up_at=lambda e: utc_text(e.occurred_at))
    ),
    Customer.ComplaintClosed: _complaint_step("close", _set(closed_at=lambda e: utc_text(e.occurred_at))),
    Customer.ComplaintReopened: _complaint_step("reopen", _reopen),
}

_ORDER_STEPS = (Customer.ServiceActivated, Customer.OrderCancelled)


class CustomerView:
    name = "customer_view"
    tables = (
        ("rm_customer", "customer_id"),
        ("rm_msisdn", "msisdn"),
        ("rm_order", "order_id"),
        ("rm_complaint", "complaint_id"),
        ("rm_contact", "position"),
        ("rm_channel_count", "customer_id, channel"),
    )

    def apply(self, sql: Sql, events: Sequence[PositionedEvent]) -> None:
        relevant = [(p, e) for p, e in events if type(e) in HANDLERS]
        if not relevant:
            return
        uow = UnitOfWork()
        new_customers = {e.customer_id for _, e in relevant if isinstance(e, Customer.Registered)}
        new_orders = {e.order_id for _, e in relevant if isinstance(e, Customer.OrderPlaced)}
        new_complaints = {e.complaint_id for _, e in relevant if isinstance(e, Customer.ComplaintOpened)}
        _load(sql, uow.customers, "rm_customer", "customer_id",
              {e.originator_id for _, e in relevant} - new_customers)
        _load(sql, uow.orders, "rm_order", "order_id",
              {e.order_id for _, e in relevant if isinstance(e, _ORDER_STEPS)} - new_orders)
        _load(sql, uow.complaints, "rm_complaint", "complaint_id",
              {e.complaint_id for _, e in relevant if type(e).__name__.startswith("Complaint")} - new_complaints)
        for position, event in relevant:
            HANDLERS[type(event)](uow, position, event)
            if event.originator_id in uow.customers:
                uow.customers[event.originator_id]["last_position"] = position
        _upsert(sql, "rm_customer", CUSTOMER_COLUMNS, "customer_id", uow.customers.values())
        _upsert(sql, "rm_order", ORDER_COLUMNS, "order_id", uow.orders.values())
        _upsert(sql, "rm_complaint", COMPLAINT_COLUMNS, "complaint_id", uow.complaints.values())
        sql.executemany("INSERT INTO rm_msisdn (msisdn, customer_id) VALUES (?, ?)", uow.msisdns)
        sql.executemany(
            f"INSERT INTO rm_contact ({', '.join(CONTACT_COLUMNS)}) VALUES ({', '.join('?' * len(CONTACT_COLUMNS))})",
            uow.contacts,
        )
        sql.executemany(
            "INSERT INTO rm_channel_count (customer_id, channel, contacts) VALUES (?, ?, ?) "
            "ON CONFLICT (customer_id, channel) DO UPDATE SET contacts = rm_channel_count.contacts + excluded.contacts",
            [(c, ch, n) for (c, ch), n in uow.channel_counts.items()],
        )


def _load(sql: Sql, into: dict[str, Row], table: str, key: str, ids: set[str]) -> None:
    if not ids:
        return
    wanted = sorted(ids)
    for start in range(0, len(wanted), 900):  # stay under SQLite's bound-parameter limit
        chunk = wanted[start : start + 900]
        for row in sql.execute(f"SELECT * FROM {table} WHERE {key} IN ({sql.in_list(chunk)})", chunk).all():
            into[row[key]] = row


def _upsert(sql: Sql, table: str, columns: Sequence[str], key: str, rows: Any) -> None:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    sql.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}",
        [tuple(row[c] for c in columns) for row in rows],
    )
