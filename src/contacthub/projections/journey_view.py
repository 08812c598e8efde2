"""Each order's journey to activation: calls, contacts and technician visits it took, and how long.

Consumes (JourneyView.handlers): order.placed, service.activated, order.cancelled, order.jeopardy,
contact.logged (its customer's orders are recounted), customer.registered and customer.tier_changed
(the tier its customer's orders were placed at is looked up again).
Ignores (JourneyView.ignores): customer.erased (a journey holds no personal data), customer.msisdn_added
and customer.msisdn_released (a number changes no journey), complaint.opened and every complaint step, and the merges (customer.merged, customer.unmerged
and their survivor's side): a journey counts the touchpoints of its order's record; for a merged
person's orders journey_queries.py counts every record's when read, so partitions stay independent.
Owns: rm_order_journey (migrations/0004_order_journey.sql, 0005_order_jeopardy.sql, 0006_metrics_view.sql).
Reads: rm_contact, the customer view's timeline, and rm_tier_history, the metrics view's tier
history: the projector applies a batch here only once those read models have applied it
(`reads_from`), also with several projector processes.

Definitions (docs/metrics.md), all on event time (`occurred_at`), the window of an order
being [placed, last service activated] inclusive (open while in progress; up to the
cancellation for a cancelled order):
- calls-to-activation: inbound hotline contacts of the customer in the window;
- contacts-to-activation: every contact of the customer in the window, any channel;
- technician-visits-to-activation: technician contacts of the customer in the window.

The counts are not incremented; they are recounted with one statement per batch for every
order whose window changed or whose customer had contacts in the batch. A recount is
exact whatever order the events arrived in, which is what makes late and out-of-order
delivery give the same numbers as in-order delivery.

An order.jeopardy (recorded by the jeopardy watcher) marks the order as flagged; the flag
stays as history once the order is activated or cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from contacthub.domain.customer import Customer
from contacthub.domain.numbers import is_unidentified_party
from contacthub.domain.vocabulary import OrderStatus
from contacthub.projections.base import PositionedEvent, ReadModel, family, row_tuples, utc_text
from contacthub.projections.sql import Sql

T, N, F = "text", "bigint", "double precision"
JOURNEY_COLUMNS = (
    ("order_id", T), ("customer_id", T), ("placed_at", T), ("services", T), ("activated", T), ("state", T),
    ("last_activated_at", T), ("cancelled_at", T), ("window_end", T),
    ("jeopardy_at", T), ("jeopardy_reasons", T), ("jeopardy_observed_at", T), ("jeopardy_limit_days", F),
    ("jeopardy_limit_calls", N), ("jeopardy_calls", N),
)
_ORDER_STEPS = (Customer.ServiceActivated, Customer.OrderCancelled, Customer.OrderJeopardy)

_RECOUNT = """
UPDATE rm_order_journey SET
    calls = (SELECT COUNT(*) FROM rm_contact c WHERE {window} AND c.channel = 'hotline' AND c.direction = 'inbound'),
    contacts = (SELECT COUNT(*) FROM rm_contact c WHERE {window}),
    visits = (SELECT COUNT(*) FROM rm_contact c WHERE {window} AND c.channel = 'technician')
WHERE order_id IN ({orders})
"""
_WINDOW = (
    "c.customer_id = rm_order_journey.customer_id AND c.occurred_at >= rm_order_journey.placed_at "
    "AND (rm_order_journey.window_end IS NULL OR c.occurred_at <= rm_order_journey.window_end)"
)


def order_state(services: Sequence[str], activated: Sequence[str], cancelled: bool) -> str:
    if cancelled:
        return OrderStatus.CANCELLED.value
    if set(activated) >= set(services):
        return OrderStatus.ACTIVATED.value
    return OrderStatus.PARTIALLY_ACTIVATED.value if activated else OrderStatus.IN_PROGRESS.value


# The customer's tier when the order was placed, from the metrics view's tier history
# (domain/contact_quality.py `tier_at`: the latest change at or before; before the first, the first).
_TIER = """
UPDATE rm_order_journey SET tier = COALESCE(
    (SELECT h.tier FROM rm_tier_history h WHERE h.customer_id = rm_order_journey.customer_id
     AND h.effective_at <= rm_order_journey.placed_at ORDER BY h.effective_at DESC, h.event_id DESC LIMIT 1),
    (SELECT h.tier FROM rm_tier_history h WHERE h.customer_id = rm_order_journey.customer_id
     ORDER BY h.effective_at, h.event_id LIMIT 1))
WHERE order_id IN ({orders})
"""


@dataclass
class UnitOfWork:
    """The orders one batch touches, as they will be after it, and the customers whose orders it recounts or re-tiers."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    placed: list[str] = field(default_factory=list)
    contact_customers: set[str] = field(default_factory=set)
    retiered: set[str] = field(default_factory=set)


# --- what each event does to the view -------------------------------------------------------


def _order_placed(uow: UnitOfWork, position: int, e: Customer.OrderPlaced) -> None:
    uow.rows[e.order_id] = {
        "order_id": e.order_id, "customer_id": e.originator_id, "placed_at": utc_text(e.occurred_at),
        "services": orjson.dumps(list(e.services)).decode(), "activated": "[]",
        "last_activated_at": None, "cancelled_at": None, "jeopardy_at": None, "jeopardy_reasons": None,
        "jeopardy_observed_at": None, "jeopardy_limit_days": None, "jeopardy_limit_calls": None,
        "jeopardy_calls": None,
    }
    uow.placed.append(e.order_id)


def _service_activated(uow: UnitOfWork, position: int, e: Customer.ServiceActivated) -> None:
    row = uow.rows.get(e.order_id)
    if row is None:
        return  # before its order (a late reference): applied when it is linked, after the placement
    activated = orjson.loads(row["activated"]) + [e.service]
    row["activated"] = orjson.dumps(activated).decode()
    at = utc_text(e.occurred_at)
    row["last_activated_at"] = max(filter(None, (row["last_activated_at"], at)))


def _order_cancelled(uow: UnitOfWork, position: int, e: Customer.OrderCancelled) -> None:
    row = uow.rows.get(e.order_id)
    if row is not None:  # else before its order: applied when it is linked
        row["cancelled_at"] = utc_text(e.occurred_at)


def _order_jeopardy(uow: UnitOfWork, position: int, e: Customer.OrderJeopardy) -> None:
    uow.rows[e.order_id].update(
        jeopardy_at=utc_text(e.occurred_at), jeopardy_reasons=orjson.dumps(list(e.reasons)).decode(),
        jeopardy_observed_at=utc_text(e.observed_at), jeopardy_limit_days=float(e.limit_days),
        jeopardy_limit_calls=e.limit_calls, jeopardy_calls=e.calls,
    )


def _contact_logged(uow: UnitOfWork, position: int, e: Customer.ContactLogged) -> None:
    if not is_unidentified_party(e.originator_id):  # a party has no orders
        uow.contact_customers.add(e.originator_id)


def _retiered(uow: UnitOfWork, position: int, e: Customer.Registered | Customer.TierChanged) -> None:
    uow.retiered.add(e.originator_id)


class JourneyView(ReadModel[UnitOfWork]):
    # Renamed when its table changed shape (the tier column) so it is rebuilt from the log (migrations/0006).
    name = "journey_view.v2"
    tables = (("rm_order_journey", "order_id"),)
    reads_from = ("customer_view", "metrics_view")  # rm_contact; rm_tier_history
    handlers = {
        Customer.OrderPlaced: _order_placed,
        Customer.ServiceActivated: _service_activated,
        Customer.OrderCancelled: _order_cancelled,
        Customer.OrderJeopardy: _order_jeopardy,
        Customer.ContactLogged: _contact_logged,
        Customer.Registered: _retiered,
        Customer.TierChanged: _retiered,
    }
    ignores = frozenset({
        Customer.Erased, Customer.MsisdnAdded, Customer.MsisdnReleased, Customer.ComplaintOpened,
        *family(Customer.ComplaintStep), Customer.UnidentifiedCaller, Customer.ContactIdentified,
        Customer.OrderStepConflict, Customer.ComplaintStepConflict,
        Customer.Merged, Customer.Unmerged, Customer.DuplicateMerged, Customer.DuplicateUnmerged,
    })

    def start(self, sql: Sql, relevant: Sequence[PositionedEvent]) -> UnitOfWork:
        uow = UnitOfWork()
        placed_here = {e.order_id for _, e in relevant if isinstance(e, Customer.OrderPlaced)}
        stepped = sorted({e.order_id for _, e in relevant if isinstance(e, _ORDER_STEPS)} - placed_here)
        for row in sql.select_where_in("rm_order_journey", "order_id", stepped):
            uow.rows[row["order_id"]] = row
        return uow

    def finish(self, sql: Sql, uow: UnitOfWork) -> None:
        if uow.retiered:
            # A late tier change can change the tier any of the customer's orders was placed at.
            orders = sorted(
                r["order_id"] for r in sql.select_where_in("rm_order_journey", "customer_id", sorted(uow.retiered))
            )
            self._set_tiers(sql, orders)
        rows = uow.rows
        for row in rows.values():
            services, activated = orjson.loads(row["services"]), orjson.loads(row["activated"])
            row["state"] = order_state(services, activated, row["cancelled_at"] is not None)
            row["window_end"] = (
                row["last_activated_at"] if row["state"] == OrderStatus.ACTIVATED.value else row["cancelled_at"]
            )
        sql.upsert_rows("rm_order_journey", JOURNEY_COLUMNS, row_tuples(JOURNEY_COLUMNS, rows.values()), "order_id")
        self._set_tiers(sql, sorted(set(uow.placed)))
        # Every order that may have gained a contact or changed its window: recount.
        affected = set(rows)
        if uow.contact_customers:
            affected |= {
                r["order_id"]
                for r in sql.select_where_in("rm_order_journey", "customer_id", sorted(uow.contact_customers))
            }
        ordered = sorted(affected)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            sql.execute(_RECOUNT.format(window=_WINDOW, orders=sql.in_list(chunk)), chunk)

    @staticmethod
    def _set_tiers(sql: Sql, orders: Sequence[str]) -> None:
        for start in range(0, len(orders), 500):
            chunk = orders[start : start + 500]
            sql.execute(_TIER.format(orders=sql.in_list(chunk)), chunk)
