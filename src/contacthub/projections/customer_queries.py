"""Questions answered from the customer view's tables (see customer_view.py), with the customer's open complaints."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from contacthub.domain.numbers import UNIDENTIFIED_PREFIX, holder_at
from contacthub.domain.vocabulary import OrderStatus
from contacthub.projections.base import ReadQueries, contact_item, holdings_of, local_time, utc_text
from contacthub.projections.complaint_queries import ComplaintQueries
from contacthub.projections.risk_queries import RiskQueries
from contacthub.projections.sql import ReadStore, Sql

RECENT_CONTACTS = 10
_OPEN_ORDER_STATUSES = (OrderStatus.IN_PROGRESS.value, OrderStatus.PARTIALLY_ACTIVATED.value)


class BadCursor(ValueError):
    pass


def encode_cursor(occurred_at: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{occurred_at}|{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        occurred_at, position_text = raw.split("|")
        datetime.fromisoformat(occurred_at)
        position = int(position_text)
        if not 0 <= position < 2**63:
            raise ValueError(position)
        return occurred_at, position
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor this API returned") from None


_PERSON = """
    WITH person AS (SELECT COALESCE((SELECT survivor_id FROM rm_merge WHERE duplicate_id = ?), ?) AS survivor)
    SELECT c.*, p.survivor, NULL AS merged_at, NULL AS merge_position
    FROM person p JOIN rm_customer c ON c.customer_id = p.survivor
    UNION ALL
    SELECT c.*, p.survivor, m.merged_at, m.position
    FROM person p JOIN rm_merge m ON m.survivor_id = p.survivor JOIN rm_customer c ON c.customer_id = m.duplicate_id
"""
"""Every record of the person a customer id is a record of (rm_merge), with each duplicate's merge."""


class CustomerQueries(ReadQueries):
    def __init__(self, store: ReadStore, zone: ZoneInfo, clock: Any = None) -> None:
        super().__init__(store, zone, clock)
        self.complaints = ComplaintQueries(store, zone, self.clock)
        self.risk = RiskQueries(store, zone, self.clock)

    def _age_s(self, utc_text: str) -> int:
        return max(0, int((self.clock() - datetime.fromisoformat(utc_text)).total_seconds()))

    def customer_id_for_msisdn(self, msisdn: str, at: datetime | None = None) -> str | None:
        """Who held the number at `at` (default: now), as domain/numbers.py's holder_at says."""
        rows = self.store.query("SELECT * FROM rm_msisdn_holding WHERE msisdn = ?", (msisdn,))
        return holder_at(holdings_of(rows).get(msisdn, []), self.clock() if at is None else at)

    def unidentified_contacts(self, msisdn: str, limit: int = RECENT_CONTACTS) -> tuple[str | None, int, list[dict[str, Any]]]:
        """The touchpoints from `msisdn` that joined no customer (its unidentified party's timeline):
        the party's id (None: the number has none), how many, and the latest `limit`, newest first."""
        with self.store.transaction(commit=False) as sql:
            party = sql.execute("SELECT party_id FROM rm_unidentified_party WHERE msisdn = ? "
                                "ORDER BY position DESC LIMIT 1", (msisdn,)).one()
            if party is None:
                return None, 0, []
            count = sql.execute("SELECT COUNT(*) AS n FROM rm_contact WHERE customer_id = ?",
                                (party["party_id"],)).one()
            rows = sql.execute(
                "SELECT * FROM rm_contact WHERE customer_id = ? ORDER BY occurred_at DESC, position DESC LIMIT ?",
                (party["party_id"], limit),
            ).all()
        return party["party_id"], int(count["n"]) if count else 0, [contact_item(r, self.zone) for r in rows]

    def conflicts(self, unresolved_before: datetime, limit: int) -> dict[str, Any]:
        """What operators must look at (late references, docs/events.md §3.15): steps that came before
        their order or complaint and contradicted it once it came, and steps whose order or complaint
        has still not come, recorded before `unresolved_before`. Newest first, `limit` of each, with
        their totals; `reference_type` says which (order, complaint), `reference` its id."""
        cutoff = utc_text(unresolved_before)
        conflicts = (
            "SELECT event_id, customer_id, 'order' AS reference_type, order_id AS reference, step_event_id, step_type, "
            "reason, occurred_at, recorded_at FROM rm_order_conflict UNION ALL "
            "SELECT event_id, customer_id, 'complaint', complaint_id, step_event_id, step_type, reason, occurred_at, "
            "recorded_at FROM rm_complaint_conflict")
        unresolved = (
            "SELECT event_id, customer_id, 'order' AS reference_type, order_id AS reference, step_type, occurred_at, "
            "recorded_at FROM rm_pending_step WHERE recorded_at < ? UNION ALL "
            "SELECT event_id, customer_id, 'complaint', complaint_id, step_type, occurred_at, recorded_at "
            "FROM rm_complaint_pending_step WHERE recorded_at < ?")
        with self.store.transaction(commit=False) as sql:
            found = sql.execute(f"SELECT * FROM ({conflicts}) c ORDER BY recorded_at DESC, event_id LIMIT ?",
                                (limit,)).all()
            found_total = sql.execute(f"SELECT COUNT(*) AS n FROM ({conflicts}) c").one()
            pending = sql.execute(f"SELECT * FROM ({unresolved}) u ORDER BY recorded_at DESC, event_id LIMIT ?",
                                  (cutoff, cutoff, limit)).all()
            pending_total = sql.execute(f"SELECT COUNT(*) AS n FROM ({unresolved}) u", (cutoff, cutoff)).one()

        def shown(row: dict[str, Any]) -> dict[str, Any]:
            return {**row, "occurred_at": local_time(row["occurred_at"], self.zone),
                    "recorded_at": local_time(row["recorded_at"], self.zone)}

        return {
            "conflicts": [shown(r) for r in found],
            "conflict_total": int(found_total["n"]) if found_total else 0,
            "unresolved": [shown(r) for r in pending],
            "unresolved_total": int(pending_total["n"]) if pending_total else 0,
        }

    @staticmethod
    def identity(sql: Sql, customer_id: str) -> tuple[str, list[dict[str, Any]]]:
        """The person `customer_id` is a record of (rm_merge): its survivor (the record itself unless it is
        merged into another) and the records merged into the survivor now, oldest merge first."""
        merged = sql.execute(
            "SELECT duplicate_id, survivor_id, merged_at FROM rm_merge WHERE survivor_id = "
            "COALESCE((SELECT survivor_id FROM rm_merge WHERE duplicate_id = ?), ?) ORDER BY position",
            (customer_id, customer_id),
        ).all()
        return (merged[0]["survivor_id"] if merged else customer_id), merged

    def records_of(self, customer_id: str) -> list[str]:
        """Every record of the person `customer_id` is a record of, its survivor first."""
        with self.store.transaction(commit=False) as sql:
            survivor, merged = self.identity(sql, customer_id)
        return [survivor, *(m["duplicate_id"] for m in merged)]

    def customer_360(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's view; of a merged person (either id), the survivor's view of all its records."""
        now = self.clock()
        with self.store.transaction(commit=False) as sql:  # one snapshot for the whole view
            # The records of the person and their rows in one statement (the hottest read: one round trip).
            found = sql.execute(_PERSON, (customer_id, customer_id)).all()
            by_id = {row["customer_id"]: row for row in found}
            survivor = found[0]["survivor"] if found else customer_id
            merged = sorted(({"duplicate_id": r["customer_id"], "survivor_id": survivor, "merged_at": r["merged_at"],
                              "position": r["merge_position"]} for r in found if r["merged_at"] is not None),
                            key=lambda m: m["position"])
            records = [survivor, *(m["duplicate_id"] for m in merged)]
            who, ids = _who(records)
            if survivor not in by_id and customer_id in by_id:
                # A store that holds one record's events only (an auditor's replay of it): its own view.
                survivor, merged, records = customer_id, [], [customer_id]
                who, ids = _who(records)
            customer = by_id.get(survivor)
            if customer is None:
                return None
            orders = sql.execute(
                f"SELECT * FROM rm_order WHERE {who} ORDER BY placed_at, order_id", ids
            ).all()
            complaints = self.complaints.customer_rows(sql, survivor, True, records)
            contacts = sql.execute(
                f"SELECT * FROM rm_contact WHERE {who} ORDER BY occurred_at DESC, position DESC LIMIT ?",
                (*ids, RECENT_CONTACTS),
            ).all()
            counts = sql.execute(
                f"SELECT channel, SUM(contacts) AS contacts FROM rm_channel_count WHERE {who} "
                "GROUP BY channel ORDER BY channel", ids
            ).all() if merged else sql.execute(
                "SELECT channel, contacts FROM rm_channel_count WHERE customer_id = ? ORDER BY channel", ids
            ).all()
            churn_risk = self.risk.for_customer(survivor, now, sql, records if merged else ())
            former = sql.execute(
                "SELECT msisdn, held_from, released_at FROM rm_msisdn_holding "
                f"WHERE {who} AND released_at IS NOT NULL ORDER BY released_at, msisdn",
                ids,
            ).all()

        services = []
        open_orders = []
        for order in orders:
            ordered = orjson.loads(order["services"])
            activated = set(orjson.loads(order["activated"]))
            cancelled = order["status"] == OrderStatus.CANCELLED.value
            for service in ordered:
                if service in activated:
                    services.append({"service": service, "order_id": order["order_id"], "status": "active"})
                elif not cancelled:
                    services.append({"service": service, "order_id": order["order_id"], "status": "pending"})
            if order["status"] in _OPEN_ORDER_STATUSES:
                open_orders.append(
                    {
                        "order_id": order["order_id"],
                        "status": order["status"],
                        "services": ordered,
                        "activated": [s for s in ordered if s in activated],
                        "pending": [s for s in ordered if s not in activated],
                        "placed_at": self._local(order["placed_at"]),
                        "age_s": self._age_s(order["placed_at"]),
                    }
                )
        return {
            "customer_id": customer["customer_id"],
            "name": customer["name"],
            "segment": customer["segment"],
            "tier": customer["tier"],
            "arpu": customer["arpu"],
            "msisdns": list(dict.fromkeys(m for r in records if r in by_id for m in orjson.loads(by_id[r]["msisdns"]))),
            "former_msisdns": [
                {"msisdn": f["msisdn"], "held_from": self._local(f["held_from"]), "released_at": self._local(f["released_at"])}
                for f in former
            ],
            "registered_at": self._local(customer["registered_at"]),
            "erased_at": self._local(customer.get("erased_at")),
            "redirected_from": customer_id if customer_id != survivor else None,
            "merged_records": [{"customer_id": m["duplicate_id"], "merged_at": self._local(m["merged_at"])}
                               for m in merged],
            "services": services,
            "open_orders": open_orders,
            "open_complaints": [self.complaints.summary(c, now) for c in complaints],
            "recent_contacts": [self._contact(c) for c in contacts],
            "contact_counts": {c["channel"]: int(c["contacts"]) for c in counts},
            "contact_count": sum(int(c["contacts"]) for c in counts),
            "last_contact_at": self._local(contacts[0]["occurred_at"]) if contacts else None,
            "churn_risk": churn_risk,
        }

    def _contact(self, row: dict[str, Any]) -> dict[str, Any]:
        return contact_item(row, self.zone)

    def customer_exists(self, customer_id: str) -> bool:
        return self.store.query_one("SELECT 1 AS one FROM rm_customer WHERE customer_id = ?", (customer_id,)) is not None

    def latest_contacts(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        """The newest touchpoints first (of every record of a merged person)."""
        who, ids = _who(self.records_of(customer_id))
        rows = self.store.query(
            f"SELECT * FROM rm_contact WHERE {who} ORDER BY occurred_at DESC, position DESC LIMIT ?",
            (*ids, limit),
        )
        return [self._contact(r) for r in rows]

    def timeline(self, customer_id: str, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Touchpoints in event-time order, a page at a time (keyset paging: stable while new events arrive);
        of a merged person (either id), those of all its records."""
        where, ids = _who(self.records_of(customer_id))
        params: list[Any] = list(ids)
        if after is not None:
            occurred_at, position = decode_cursor(after)
            where += " AND (occurred_at > ? OR (occurred_at = ? AND position > ?))"
            params += [occurred_at, occurred_at, position]
        rows = self.store.query(
            f"SELECT * FROM rm_contact WHERE {where} ORDER BY occurred_at, position LIMIT ?", (*params, limit + 1)
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1]["occurred_at"], int(page[-1]["position"])) if more else None
        return [self._contact(r) for r in page], next_cursor


    # --- touchpoints across customers (TMF683 Party Interaction) ---------------------------------

    def touchpoints(self, equal: Mapping[str, str], offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Customers' touchpoints, newest recorded first, whose columns equal `equal` (TOUCHPOINT_FILTERS),
        from the `offset`-th on; and how many match in all. An unidentified caller's party's are left out."""
        where = ["customer_id NOT LIKE ?"]
        params: list[Any] = [f"{UNIDENTIFIED_PREFIX}%"]
        for column, value in equal.items():
            if column not in TOUCHPOINT_FILTERS:
                raise ValueError(f"not a touchpoint filter: {column}")
            where.append(f"{column} = ?")
            params.append(value)
        clause = " AND ".join(where)
        with self.store.transaction(commit=False) as sql:
            total = int(sql.execute(f"SELECT COUNT(*) AS n FROM rm_contact WHERE {clause}", params).one()["n"])  # type: ignore[index]
            rows = sql.execute(f"SELECT * FROM rm_contact WHERE {clause} ORDER BY position DESC LIMIT ? OFFSET ?",
                               (*params, limit, offset)).all()
        return [{"customer_id": r["customer_id"], **self._contact(r)} for r in rows], total

    def touchpoint(self, position: int) -> dict[str, Any] | None:
        """One customer's touchpoint by its log position (None for an unidentified caller's)."""
        row = self.store.query_one("SELECT * FROM rm_contact WHERE position = ? AND customer_id NOT LIKE ?",
                                   (position, f"{UNIDENTIFIED_PREFIX}%"))
        return {"customer_id": row["customer_id"], **self._contact(row)} if row else None


TOUCHPOINT_FILTERS = ("customer_id", "channel", "direction", "reason", "outcome", "handled_by", "site", "order_id",
                      "complaint_id")


def _who(records: list[str]) -> tuple[str, list[str]]:
    """The condition on customer_id for one record, or for every record of a merged person."""
    if len(records) == 1:
        return "customer_id = ?", records
    return f"customer_id IN ({','.join('?' * len(records))})", records
