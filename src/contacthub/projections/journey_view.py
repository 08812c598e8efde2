"""Each order's journey to activation: calls, contacts and technician visits it took, and how long.

Consumes: order.placed, service.activated, order.cancelled, contact.logged.
Owns: rm_order_journey (migrations/0004_order_journey.sql).
Reads: rm_contact, the customer view's timeline: the projector applies a batch here only
once the customer view has applied it (`reads_from`), also with several projector processes.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from contacthub.adapters.store.database import Sql
from contacthub.domain.customer import Customer
from contacthub.domain.vocabulary import OrderStatus
from contacthub.projections.base import PositionedEvent, utc_text

T = "text"
JOURNEY_COLUMNS = (
    ("order_id", T), ("customer_id", T), ("placed_at", T), ("services", T), ("activated", T), ("state", T),
    ("last_activated_at", T), ("cancelled_at", T), ("window_end", T),
)

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


class JourneyView:
    name = "journey_view"
    tables = (("rm_order_journey", "order_id"),)
    reads_from = ("customer_view",)  # rm_contact

    def apply(self, sql: Sql, events: Sequence[PositionedEvent]) -> None:
        order_events = [e for _, e in events if isinstance(e, (Customer.OrderPlaced, Customer.ServiceActivated, Customer.OrderCancelled))]
        contact_customers = {e.originator_id for _, e in events if isinstance(e, Customer.ContactLogged)}
        if not order_events and not contact_customers:
            return
        rows: dict[str, dict[str, Any]] = {}
        placed_here = {e.order_id for e in order_events if isinstance(e, Customer.OrderPlaced)}
        stepped = sorted({e.order_id for e in order_events} - placed_here)  # type: ignore[attr-defined]
        for row in sql.select_where_in("rm_order_journey", "order_id", stepped):
            rows[row["order_id"]] = row
        for e in order_events:
            if isinstance(e, Customer.OrderPlaced):
                rows[e.order_id] = {
                    "order_id": e.order_id, "customer_id": e.originator_id, "placed_at": utc_text(e.occurred_at),
                    "services": orjson.dumps(list(e.services)).decode(), "activated": "[]",
                    "last_activated_at": None, "cancelled_at": None,
                }
                continue
            row = rows[e.order_id]
            if isinstance(e, Customer.ServiceActivated):
                activated = orjson.loads(row["activated"]) + [e.service]
                row["activated"] = orjson.dumps(activated).decode()
                at = utc_text(e.occurred_at)
                row["last_activated_at"] = max(filter(None, (row["last_activated_at"], at)))
            else:
                row["cancelled_at"] = utc_text(e.occurred_at)
        for row in rows.values():
            services, activated = orjson.loads(row["services"]), orjson.loads(row["activated"])
            row["state"] = order_state(services, activated, row["cancelled_at"] is not None)
            row["window_end"] = (
                row["last_activated_at"] if row["state"] == OrderStatus.ACTIVATED.value else row["cancelled_at"]
            )
        names = [c for c, _ in JOURNEY_COLUMNS]
        updates = ", ".join(f"{c} = excluded.{c}" for c in names[1:])
        sql.insert_rows(
            "rm_order_journey", JOURNEY_COLUMNS, [tuple(r[c] for c in names) for r in rows.values()],
            f"ON CONFLICT (order_id) DO UPDATE SET {updates}",
        )
        # Every order that may have gained a contact or changed its window: recount.
        affected = set(rows)
        if contact_customers:
            affected |= {
                r["order_id"]
                for r in sql.select_where_in("rm_order_journey", "customer_id", sorted(contact_customers))
            }
        ordered = sorted(affected)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            sql.execute(_RECOUNT.format(window=_WINDOW, orders=sql.in_list(chunk)), chunk)
