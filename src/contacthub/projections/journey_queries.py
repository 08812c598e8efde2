"""Orders' journeys, answered from rm_order_journey and the customer's timeline (journey_view.py).

Also the jeopardy watcher's question: which orders, not yet flagged, were in progress past
a limit (`jeopardy_candidates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from contacthub.domain.order import Jeopardy, JeopardyLimits, order_jeopardy
from contacthub.domain.vocabulary import OrderStatus
from contacthub.projections.base import ReadQueries, contact_item, utc_text
from contacthub.projections.sql import POSTGRESQL, SQLITE, Sql

OPEN_STATES = (OrderStatus.IN_PROGRESS.value, OrderStatus.PARTIALLY_ACTIVATED.value)
FINISHED_STATES = (OrderStatus.ACTIVATED.value, OrderStatus.CANCELLED.value)

# Seconds from an order's placing to the end of its window, for the finished orders' days
# limit: the one date difference the two backends spell differently. Only a filter: the
# exact decision is `order_jeopardy` on the rows it lets through.
_WINDOW_SECONDS = {
    POSTGRESQL: "EXTRACT(EPOCH FROM CAST(window_end AS timestamptz) - CAST(placed_at AS timestamptz))",
    SQLITE: "(julianday(window_end) - julianday(placed_at)) * 86400.0",
}


@dataclass(frozen=True)
class JeopardyCandidate:
    order_id: str
    customer_id: str
    jeopardy: Jeopardy


@dataclass(frozen=True)
class OrderFilter:
    jeopardy: bool | None = None
    states: tuple[str, ...] = ()
    customer_id: str | None = None


class JourneyQueries(ReadQueries):
    def summary(self, order: dict[str, Any]) -> dict[str, Any]:
        """One rm_order_journey row as the API shows an order's journey (without its touchpoints)."""
        services = orjson.loads(order["services"])
        activated = orjson.loads(order["activated"])
        end = order["window_end"]
        seconds = None
        if order["state"] == OrderStatus.ACTIVATED.value and end is not None:
            seconds = int((datetime.fromisoformat(end) - datetime.fromisoformat(order["placed_at"])).total_seconds())
        return {
            "order_id": order["order_id"],
            "customer_id": order["customer_id"],
            "state": order["state"],
            "services": services,
            "activated": [s for s in services if s in activated],
            "pending": [s for s in services if s not in activated and order["state"] != OrderStatus.CANCELLED.value],
            "placed_at": self._local(order["placed_at"]),
            "activated_at": self._local(end) if order["state"] == OrderStatus.ACTIVATED.value else None,
            "cancelled_at": self._local(order["cancelled_at"]),
            "order_to_activation_s": seconds,
            "calls_to_activation": int(order["calls"]),
            "contacts_to_activation": int(order["contacts"]),
            "technician_visits_to_activation": int(order["visits"]),
            "jeopardy": self._jeopardy(order),
        }

    def _jeopardy(self, order: dict[str, Any]) -> dict[str, Any] | None:
        if order["jeopardy_at"] is None:
            return None
        return {
            "at": self._local(order["jeopardy_at"]),
            "reasons": orjson.loads(order["jeopardy_reasons"]),
            "limits": {"days": float(order["jeopardy_limit_days"]), "calls": int(order["jeopardy_limit_calls"])},
            "calls": int(order["jeopardy_calls"]),
            "observed_at": self._local(order["jeopardy_observed_at"]),
        }

    def order_journey(self, order_id: str) -> dict[str, Any] | None:
        """The order's counts, and its touchpoints in event time with the running counts after each."""
        with self.store.transaction(commit=False) as sql:  # one snapshot
            order = sql.execute("SELECT * FROM rm_order_journey WHERE order_id = ?", (order_id,)).one()
            if order is None:
                return None
            records = merged_records(sql, [order["customer_id"]]).get(order["customer_id"], [order["customer_id"]])
            window = f"customer_id IN ({','.join('?' * len(records))}) AND occurred_at >= ?"
            params: list[Any] = [*records, order["placed_at"]]
            if order["window_end"] is not None:
                window += " AND occurred_at <= ?"
                params.append(order["window_end"])
            contacts = sql.execute(
                f"SELECT * FROM rm_contact WHERE {window} ORDER BY occurred_at, event_id", params
            ).all()
        calls = visits = 0
        touchpoints = []
        for n, c in enumerate(contacts, start=1):
            calls += c["channel"] == "hotline" and c["direction"] == "inbound"
            visits += c["channel"] == "technician"
            touchpoints.append(
                {**contact_item(c, self.zone), "calls_so_far": calls, "contacts_so_far": n, "technician_visits_so_far": visits}
            )
        # Of a merged person, the touchpoints of all its records count (as recounted here).
        counts = {"calls": calls, "contacts": len(touchpoints), "visits": visits} if len(records) > 1 else {}
        return {**self.summary({**order, **counts}), "touchpoints": touchpoints}

    def customer_of(self, order_id: str) -> str | None:
        """The customer who placed the order, or None when the read model does not know it."""
        row = self.store.query_one("SELECT customer_id FROM rm_order_journey WHERE order_id = ?", (order_id,))
        return None if row is None else row["customer_id"]

    def orders(self, f: OrderFilter, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        """One page of order journeys matching the filter, newest placing first, and how many match in all."""
        where: list[str] = []
        params: list[Any] = []
        if f.jeopardy is not None:
            where.append("jeopardy_at IS NOT NULL" if f.jeopardy else "jeopardy_at IS NULL")
        if f.states:
            states = sorted(set(f.states))
            where.append(f"state IN ({','.join('?' * len(states))})")
            params += states
        with self.store.transaction(commit=False) as sql:
            if f.customer_id is not None:  # of a merged person (either id): every record's orders
                records = merged_records(sql, [f.customer_id]).get(f.customer_id, [f.customer_id])
                where.append(f"customer_id IN ({','.join('?' * len(records))})")
                params += records
            clause = f"WHERE {' AND '.join(where)}" if where else ""
            total = int(sql.execute(f"SELECT COUNT(*) AS n FROM rm_order_journey {clause}", params).one()["n"])  # type: ignore[index]
            rows = sql.execute(
                f"SELECT * FROM rm_order_journey {clause} ORDER BY placed_at DESC, order_id DESC LIMIT ? OFFSET ?",
                (*params, page_size, (page - 1) * page_size),
            ).all()
            rows = _recounted_for_merged(sql, rows)
        return [self.summary(r) for r in rows], total

    def jeopardy_candidates(self, now: datetime, limits: JeopardyLimits, limit: int = 10_000) -> list[JeopardyCandidate]:
        """Orders not yet flagged that were in progress past a limit at `now`, on event time; oldest placing first.

        Open orders placed `limits.days` ago or with `limits.calls` calls; finished orders
        whose window lasted that long or held that many calls (flagged late, dated when the
        limit passed). Each is then decided by `order_jeopardy` on its calls, taken from the
        customer's timeline in event time (ties by event id, so any delivery order agrees).
        """
        moment = utc_text(now)
        cutoff = utc_text(now - limits.duration)
        with self.store.transaction(commit=False) as sql:  # one snapshot
            rows = sql.execute(
                f"SELECT order_id, customer_id, placed_at, window_end FROM rm_order_journey "
                f"WHERE jeopardy_at IS NULL AND placed_at <= ? AND ("
                f"  (state IN (?, ?) AND (placed_at <= ? OR calls >= ?))"
                f"  OR (state IN (?, ?) AND (calls >= ? OR (placed_at <= ? AND {_WINDOW_SECONDS[sql.dialect]} >= ?)))"
                f") ORDER BY placed_at, order_id LIMIT ?",
                (
                    moment, *OPEN_STATES, cutoff, limits.calls,
                    # one second of slack for floating-point date arithmetic; decided exactly below
                    *FINISHED_STATES, limits.calls, cutoff, limits.duration.total_seconds() - 1, limit,
                ),
            ).all()
            candidates = []
            for row in rows:
                placed_at = datetime.fromisoformat(row["placed_at"])
                finished_at = datetime.fromisoformat(row["window_end"]) if row["window_end"] else None
                calls = _call_times(sql, row["customer_id"], row["placed_at"], min(moment, row["window_end"] or moment))
                jeopardy = order_jeopardy(placed_at, finished_at, calls, limits, now)
                if jeopardy is not None:
                    candidates.append(JeopardyCandidate(row["order_id"], row["customer_id"], jeopardy))
        return candidates


def _call_times(sql: Sql, customer_id: str, start: str, end: str) -> Sequence[datetime]:
    """The customer's inbound hotline calls in [start, end], in event time."""
    rows = sql.execute(
        "SELECT occurred_at FROM rm_contact WHERE customer_id = ? AND occurred_at >= ? AND occurred_at <= ? "
        "AND channel = 'hotline' AND direction = 'inbound' ORDER BY occurred_at, event_id",
        (customer_id, start, end),
    ).all()
    return [datetime.fromisoformat(r["occurred_at"]) for r in rows]


def merged_records(sql: Sql, customer_ids: Sequence[str]) -> dict[str, list[str]]:
    """For each of these customers that is a record of a merged person now (rm_merge): every record of
    that person, the survivor first. Customers of no merge are left out."""
    if not customer_ids:
        return {}
    wanted = sorted(set(customer_ids))
    marks = ",".join("?" * len(wanted))
    survivors = {r["duplicate_id"]: r["survivor_id"] for r in sql.execute(
        f"SELECT duplicate_id, survivor_id FROM rm_merge WHERE duplicate_id IN ({marks})", wanted).all()}
    heads = sorted({survivors.get(c, c) for c in wanted})
    groups: dict[str, list[str]] = {}
    for r in sql.execute(
        f"SELECT duplicate_id, survivor_id FROM rm_merge WHERE survivor_id IN ({','.join('?' * len(heads))}) "
        "ORDER BY position", heads,
    ).all():
        groups.setdefault(r["survivor_id"], [r["survivor_id"]]).append(r["duplicate_id"])
    return {c: groups[survivors.get(c, c)] for c in wanted if survivors.get(c, c) in groups}


def _recounted_for_merged(sql: Sql, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Journeys of merged persons' orders with the touchpoints of every record of the person counted
    (rm_order_journey counts the touchpoints of the order's own record: its partitions stay independent)."""
    groups = merged_records(sql, [r["customer_id"] for r in rows])
    if not groups:
        return rows
    recounted = []
    for row in rows:
        records = groups.get(row["customer_id"])
        if records is None:
            recounted.append(row)
            continue
        window = f"customer_id IN ({','.join('?' * len(records))}) AND occurred_at >= ?"
        params: list[Any] = [*records, row["placed_at"]]
        if row["window_end"] is not None:
            window += " AND occurred_at <= ?"
            params.append(row["window_end"])
        found = sql.execute(f"SELECT channel, direction FROM rm_contact WHERE {window}", params).all()
        recounted.append({
            **row, "contacts": len(found),
            "calls": sum(c["channel"] == "hotline" and c["direction"] == "inbound" for c in found),
            "visits": sum(c["channel"] == "technician" for c in found),
        })
    return recounted
