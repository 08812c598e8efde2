"""An order's journey, answered from rm_order_journey and the customer's timeline (journey_view.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from contacthub.adapters.store.database import ReadStore
from contacthub.projections.base import contact_item, local_time


class JourneyQueries:
    def __init__(self, store: ReadStore, zone: ZoneInfo, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.zone = zone
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def _local(self, utc: str | None) -> str | None:
        return local_time(utc, self.zone)

    def order_journey(self, order_id: str) -> dict[str, Any] | None:
        """The order's counts, and its touchpoints in event time with the running counts after each."""
        with self.store.transaction(commit=False) as sql:  # one snapshot
            order = sql.execute("SELECT * FROM rm_order_journey WHERE order_id = ?", (order_id,)).one()
            if order is None:
                return None
            window = "customer_id = ? AND occurred_at >= ?"
            params: list[Any] = [order["customer_id"], order["placed_at"]]
            if order["window_end"] is not None:
                window += " AND occurred_at <= ?"
                params.append(order["window_end"])
            contacts = sql.execute(
                f"SELECT * FROM rm_contact WHERE {window} ORDER BY occurred_at, position", params
            ).all()
        services = orjson.loads(order["services"])
        activated = orjson.loads(order["activated"])
        end = order["window_end"]
        seconds = None
        if order["state"] == "activated" and end is not None:
            seconds = int((datetime.fromisoformat(end) - datetime.fromisoformat(order["placed_at"])).total_seconds())
        calls = visits = 0
        touchpoints = []
        for n, c in enumerate(contacts, start=1):
            calls += c["channel"] == "hotline" and c["direction"] == "inbound"
            visits += c["channel"] == "technician"
            touchpoints.append(
                {**contact_item(c, self.zone), "calls_so_far": calls, "contacts_so_far": n, "technician_visits_so_far": visits}
            )
        return {
            "order_id": order["order_id"],
            "customer_id": order["customer_id"],
            "state": order["state"],
            "services": services,
            "activated": [s for s in services if s in activated],
            "pending": [s for s in services if s not in activated and order["state"] != "cancelled"],
            "placed_at": self._local(order["placed_at"]),
            "activated_at": self._local(end) if order["state"] == "activated" else None,
            "cancelled_at": self._local(order["cancelled_at"]),
            "order_to_activation_s": seconds,
            "calls_to_activation": int(order["calls"]),
            "contacts_to_activation": int(order["contacts"]),
            "technician_visits_to_activation": int(order["visits"]),
            "touchpoints": touchpoints,
        }
