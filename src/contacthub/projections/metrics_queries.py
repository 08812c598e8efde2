"""The metrics endpoints' answers, read from read models only (never from the log).

Every figure comes with the counts it is made of, so a reader can check each ratio.
Definitions: docs/metrics.md. Periods are whole local days in the operator's time zone,
`first_day` to `last_day` inclusive, and a fact belongs to the day of its `occurred_at`
(an order to the day it was placed, a complaint to the day it was opened).

Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the
value at rank ceil(p/100 * n) (the median of an even count is the lower middle value).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from contacthub.domain.complaint import OPEN_STATUSES
from contacthub.projections.base import ReadQueries, utc_text

TOP_SHARE = 0.2
"""Value concentration: the share of ARPU held by this top fraction of customers."""
CALLS_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 11, 16, 21)
"""Lower bounds of the calls-to-activation distribution's buckets (the last is open-ended)."""


@dataclass(frozen=True)
class MetricsFilter:
    first_day: date
    last_day: date
    channel: str | None = None
    tier: str | None = None
    reason: str | None = None
    category: str | None = None


def ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    total = sum(ordered)
    return {
        "count": len(ordered),
        "total": total,
        "mean": None if not ordered else round(total / len(ordered), 2),
        "median": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
    }


# --- contact quality ------------------------------------------------------------------

_CONTACT_SUMS = (
    "contacts", "inbound", "handled", "handled_s", "issues", "fcr", "repeated", "self_service", "contained", "assisted",
)


def contact_quality(sums: dict[str, int]) -> dict[str, Any]:
    """The contact-quality block for one group of rm_contact_daily sums."""
    return {
        "contacts": sums["contacts"],
        "inbound": sums["inbound"],
        "first_contact_resolution": {
            "issues": sums["issues"], "resolved_first_contact": sums["fcr"], "rate": ratio(sums["fcr"], sums["issues"]),
        },
        "repeat_contact": {
            "contacts": sums["inbound"], "repeated": sums["repeated"], "rate": ratio(sums["repeated"], sums["inbound"]),
        },
        "handling": {
            "handled": sums["handled"], "handled_s": sums["handled_s"],
            "average_s": None if sums["handled"] == 0 else round(sums["handled_s"] / sums["handled"], 1),
        },
        "self_service": {
            "sessions": sums["self_service"], "contained": sums["contained"],
            "containment_rate": ratio(sums["contained"], sums["self_service"]),
        },
    }


def _add(into: dict[str, int], row: dict[str, Any]) -> None:
    for name in _CONTACT_SUMS:
        into[name] = into.get(name, 0) + int(row[name])


def _zero() -> dict[str, int]:
    return dict.fromkeys(_CONTACT_SUMS, 0)


class MetricsQueries(ReadQueries):
    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    def _bounds(self, f: MetricsFilter) -> tuple[str, str]:
        """The period as UTC text bounds [start, end) for comparing stored moments."""
        start = datetime.combine(f.first_day, time(0), self.zone)
        end = datetime.combine(f.last_day + timedelta(days=1), time(0), self.zone)
        return utc_text(start), utc_text(end)

    def _period(self, f: MetricsFilter) -> dict[str, Any]:
        return {"from": f.first_day.isoformat(), "to": f.last_day.isoformat(), "time_zone": str(self.zone)}

    def _filters(self, f: MetricsFilter, *names: str) -> dict[str, Any]:
        return {n: getattr(f, n) for n in names}

    # --- contacts and channels ------------------------------------------------------

    def _daily(self, f: MetricsFilter, group: str) -> list[dict[str, Any]]:
        where = ["day >= ?", "day <= ?"]
        params: list[Any] = [f.first_day.isoformat(), f.last_day.isoformat()]
        for column in ("channel", "tier", "reason"):
            if getattr(f, column) is not None:
                where.append(f"{column} = ?")
                params.append(getattr(f, column))
        sums = ", ".join(f"SUM({c}) AS {c}" for c in _CONTACT_SUMS)
        return self._report_rows(
            f"SELECT {group}, {sums} FROM rm_contact_daily WHERE {' AND '.join(where)} GROUP BY {group} ORDER BY {group}",
            params,
        )

    def _per_staff(self, f: MetricsFilter, column: str) -> list[dict[str, Any]]:
        """The contact sums per agent (`handled_by`) or per `site`, from each contact's fact in the period."""
        start, end = self._bounds(f)
        where = ["occurred_at >= ?", "occurred_at < ?"]
        params: list[Any] = [start, end]
        for name in ("channel", "tier", "reason"):
            if getattr(f, name) is not None:
                where.append(f"{name} = ?")
                params.append(getattr(f, name))
        sums = ("COUNT(*) AS contacts, SUM(inbound) AS inbound, SUM(handled) AS handled, "
                "SUM(CASE WHEN handled = 1 THEN duration_s ELSE 0 END) AS handled_s, SUM(issue_start) AS issues, "
                "SUM(fcr) AS fcr, SUM(repeated) AS repeated, SUM(self_service) AS self_service, "
                "SUM(contained) AS contained, SUM(assisted) AS assisted")
        return self._report_rows(
            f"SELECT COALESCE({column}, '') AS grouped, {sums} FROM rm_contact_fact WHERE {' AND '.join(where)} "
            f"GROUP BY COALESCE({column}, '') ORDER BY grouped",
            params,
        )

    def contacts(self, f: MetricsFilter, per: tuple[str, ...] = ()) -> dict[str, Any]:
        """Contact quality in the period, by channel, reason and tier; `per`: also per agent ("handled_by")
        and/or per "site", counted from each contact's fact (contacts with no site under "")."""
        extra = {
            f"by_{column}": [{column: row["grouped"], **contact_quality(row)} for row in self._per_staff(f, column)]
            for column in per
        }
        rows = self._daily(f, "channel, reason, tier")
        total = _zero()
        groups: dict[str, dict[str, dict[str, int]]] = {"channel": {}, "reason": {}, "tier": {}}
        for row in rows:
            _add(total, row)
            for name, by in groups.items():
                _add(by.setdefault(row[name], _zero()), row)
        return {
            "period": self._period(f),
            "filters": self._filters(f, "channel", "tier", "reason"),
            "totals": contact_quality(total),
            **{
                f"by_{name}": [{name: key, **contact_quality(sums)} for key, sums in sorted(by.items())]
                for name, by in groups.items()
            },
            **extra,
        }

    def channels(self, f: MetricsFilter) -> dict[str, Any]:
        rows = self._daily(f, "day, channel")
        return {
            "period": self._period(f),
            "filters": self._filters(f, "channel", "tier", "reason"),
            "days": [{"day": r["day"], "channel": r["channel"], **contact_quality(r)} for r in rows],
        }

    # --- complaints ---------------------------------------------------------------------

    def complaints(self, f: MetricsFilter) -> dict[str, Any]:
        start, end = self._bounds(f)
        # A duplicate linked to its primary is the same issue: counted once, on the primary.
        where = ["opened_at >= ?", "opened_at < ?", "primary_id IS NULL"]
        params: list[Any] = [start, end]
        for column in ("channel", "tier", "category"):
            if getattr(f, column) is not None:
                where.append(f"{column} = ?")
                params.append(getattr(f, column))
        rows = self._report_rows(
            "SELECT channel, category, tier, status, reopen_count, satisfaction, first_resolution_s, first_sla_met, "
            "breached, deadline_at, fr_allowance_s, fr_stopped_at, fr_deadline_at, fr_breached, followup_due_at, "
            f"followed_up_at FROM rm_complaint WHERE {' AND '.join(where)}",
            params,
        )
        now = utc_text(self.clock())
        open_statuses = frozenset(s.value for s in OPEN_STATUSES)
        totals = _ComplaintTally()
        groups: dict[str, dict[str, _ComplaintTally]] = {"channel": {}, "category": {}, "tier": {}}
        for row in rows:
            row["tier"] = row["tier"] or "unknown"  # complaints recorded before catalogue v2 carry no tier
            facts = _complaint_facts(row, now, open_statuses)
            totals.add(facts)
            for name, by in groups.items():
                tally = by.get(row[name])
                if tally is None:
                    tally = by[row[name]] = _ComplaintTally()
                tally.add(facts)
        return {
            "period": self._period(f),
            "filters": self._filters(f, "channel", "tier", "category"),
            "totals": totals.block(),
            **{
                f"by_{name}": [{name: key, **tally.block()} for key, tally in sorted(by.items())]
                for name, by in groups.items()
            },
        }

    # --- journeys -----------------------------------------------------------------------

    def journeys(self, f: MetricsFilter) -> dict[str, Any]:
        start, end = self._bounds(f)
        where = ["placed_at >= ?", "placed_at < ?"]
        params: list[Any] = [start, end]
        if f.tier is not None:
            where.append("tier = ?")
            params.append(f.tier)
        rows = self._report_rows(
            "SELECT state, placed_at, window_end, calls, contacts, visits, jeopardy_at "
            f"FROM rm_order_journey WHERE {' AND '.join(where)}",
            params,
        )
        states: dict[str, int] = defaultdict(int)
        activated = []
        for row in rows:
            states[row["state"]] += 1
            if row["state"] == "activated":
                activated.append(row)
        calls = [int(r["calls"]) for r in activated]
        distribution = []
        for i, low in enumerate(CALLS_BUCKETS):
            high = CALLS_BUCKETS[i + 1] - 1 if i + 1 < len(CALLS_BUCKETS) else None
            label = str(low) if high == low else (f"{low}+" if high is None else f"{low}-{high}")
            count = sum(1 for c in calls if c >= low and (high is None or c <= high))
            distribution.append({"calls": label, "orders": count})
        durations = [
            (datetime.fromisoformat(r["window_end"]) - datetime.fromisoformat(r["placed_at"])).total_seconds()
            for r in activated
        ]
        return {
            "period": self._period(f),
            "filters": self._filters(f, "tier"),
            "orders": {
                "placed": len(rows),
                **{state: states.get(state, 0) for state in ("activated", "partiallyActivated", "inProgress", "cancelled")},
                "flagged_in_jeopardy": sum(1 for r in rows if r["jeopardy_at"] is not None),
                "open_in_jeopardy": sum(
                    1 for r in rows if r["jeopardy_at"] is not None and r["state"] in ("inProgress", "partiallyActivated")
                ),
            },
            "calls_to_activation": {**spread(calls), "distribution": distribution},
            "contacts_to_activation": spread(int(r["contacts"]) for r in activated),
            "technician_visits_to_activation": spread(int(r["visits"]) for r in activated),
            "order_to_activation_s": spread(int(d) for d in durations),
        }

    # --- value ----------------------------------------------------------------------------

    def value(self, f: MetricsFilter, as_of_today: bool) -> dict[str, Any]:
        """Each customer's latest ARPU known by the end of `last_day`, and how concentrated it is.

        Added up in SQL: the customers' values are never read into the service, only one row
        per tier and the sum of the top `TOP_SHARE` of ARPUs (read in ARPU order).
        """
        params: list[Any] = []
        if as_of_today:
            source = "SELECT customer_id, tier, arpu FROM rm_customer_value"
        else:
            _, end = self._bounds(f)
            source, params = _VALUE_AS_OF, [end, end]
        where, tier_params = ("WHERE tier = ?", [f.tier]) if f.tier is not None else ("", [])
        with self.store.report() as sql:
            by_tier = sql.execute(
                f"SELECT tier, COUNT(*) AS customers, COUNT(arpu) AS priced, SUM(arpu) AS total "
                f"FROM ({source}) AS v {where} GROUP BY tier ORDER BY tier",
                (*params, *tier_params),
            ).all()
            priced = sum(int(r["priced"]) for r in by_tier)
            top_n = math.ceil(TOP_SHARE * priced)
            top_row = sql.execute(
                f"SELECT SUM(arpu) AS top FROM (SELECT arpu FROM ({source}) AS v "
                f"WHERE arpu IS NOT NULL {'AND tier = ?' if f.tier is not None else ''} "
                f"ORDER BY arpu DESC LIMIT ?) AS t",
                (*params, *tier_params, top_n),
            ).one()
        total = sum(float(r["total"] or 0) for r in by_tier)
        top = float(top_row["top"] or 0) if top_row else 0.0
        customers = sum(int(r["customers"]) for r in by_tier)
        return {
            "as_of": f.last_day.isoformat(),
            "time_zone": str(self.zone),
            "filters": self._filters(f, "tier"),
            "customers": customers,
            "customers_with_arpu": priced,
            "arpu_total": round(total, 2),
            "arpu_mean": None if not priced else round(total / priced, 2),
            "concentration": {
                "top_fraction": TOP_SHARE,
                "top_customers": top_n,
                "top_arpu": round(top, 2),
                "share": None if total == 0 else round(top / total, 4),
            },
            "by_tier": [
                {
                    "tier": r["tier"],
                    "customers": int(r["customers"]),
                    "customers_with_arpu": int(r["priced"]),
                    "arpu_total": round(float(r["total"] or 0), 2),
                }
                for r in by_tier
            ],
        }


_VALUE_AS_OF = (
    "SELECT customer_id, tier, arpu_in_force AS arpu FROM rm_tier_history "
    "WHERE effective_at < ? AND (superseded_at IS NULL OR superseded_at >= ?)"
)
"""Every customer known by a moment, with the tier and ARPU in force then; params: the moment twice."""


def _complaint_facts(row: dict[str, Any], now: str, open_statuses: frozenset[str]) -> tuple[Any, ...]:
    """One rm_complaint row reduced to what the complaint-quality block counts, worked out once."""
    met = row["first_sla_met"]
    is_open = row["status"] in open_statuses
    overdue = met is None and is_open and (
        int(row["breached"]) == 1 or (row["deadline_at"] is not None and row["deadline_at"] < now)
    )
    resolution = row["first_resolution_s"]
    first = None  # the first-response clock: "met", "missed", "overdue" (open, unanswered, past it) or None
    if row["fr_allowance_s"] is not None:
        late = bool(row["fr_breached"])
        if row["fr_stopped_at"] is not None:
            first = "missed" if late or row["fr_stopped_at"] > row["fr_deadline_at"] else "met"
        elif is_open and (late or row["fr_deadline_at"] < now):
            first = "overdue"
    follow_up = None  # "waiting", "overdue" (waiting past its time) or "made" (since the latest resolution)
    if row["followup_due_at"] is not None and row["status"] == "resolved":
        follow_up = "overdue" if row["followup_due_at"] < now else "waiting"
    elif row["followed_up_at"] is not None:
        follow_up = "made"
    return (
        is_open,
        met is not None and int(met) == 1,
        met is not None and int(met) == 0,
        overdue,
        None if resolution is None else float(resolution),
        int(row["reopen_count"]) > 0,
        None if row["satisfaction"] is None else int(row["satisfaction"]),
        first,
        follow_up,
    )


class _ComplaintTally:
    """The complaint-quality block of a group, added up in one pass over its complaints."""

    def __init__(self) -> None:
        self.complaints = self.open = self.met = self.missed = self.overdue = self.reopened = 0
        self.times: list[float] = []
        self.scores: list[int] = []
        self.first: Counter[str] = Counter()
        self.follow_up: Counter[str] = Counter()

    def add(self, facts: tuple[Any, ...]) -> None:
        is_open, met, missed, overdue, resolution, reopened, score, first, follow_up = facts
        if first is not None:
            self.first[first] += 1
        if follow_up is not None:
            self.follow_up[follow_up] += 1
        self.complaints += 1
        self.open += is_open
        self.met += met
        self.missed += missed
        self.overdue += overdue
        if resolution is not None:
            self.times.append(resolution)
            self.reopened += reopened
        if score is not None:
            self.scores.append(score)

    def block(self) -> dict[str, Any]:
        times = spread(self.times)
        satisfied = sum(1 for s in self.scores if s >= 4)
        resolved = len(self.times)
        return {
            "complaints": self.complaints,
            "open": self.open,
            "sla": {
                "met": self.met, "missed": self.missed, "overdue_unresolved": self.overdue,
                "compliance": ratio(self.met, self.met + self.missed + self.overdue),
            },
            "first_response": {
                "met": self.first["met"], "missed": self.first["missed"], "overdue_unanswered": self.first["overdue"],
                "compliance": ratio(self.first["met"], sum(self.first.values())),
            },
            "follow_up": {
                "waiting": self.follow_up["waiting"] + self.follow_up["overdue"], "overdue": self.follow_up["overdue"],
                "made": self.follow_up["made"],
            },
            "time_to_resolve_s": {
                "resolved": times["count"], "median": times["median"], "p90": times["p90"], "mean": times["mean"],
            },
            "reopen": {"resolved": resolved, "reopened": self.reopened, "rate": ratio(self.reopened, resolved)},
            "satisfaction": {
                "responses": len(self.scores), "satisfied": satisfied, "csat": ratio(satisfied, len(self.scores)),
                "mean": None if not self.scores else round(sum(self.scores) / len(self.scores), 2),
            },
        }
