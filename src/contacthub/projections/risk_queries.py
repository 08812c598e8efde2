"""Churn-risk signals, counted from the read models over the look-back window (domain/churn_risk.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contacthub.domain.churn_risk import (
    EVIDENCE_COUNTS,
    VALUED_TIERS,
    RiskEvidence,
    RiskFlag,
    RiskRule,
    RiskRules,
    risk_flags,
    rule_book,
)
from contacthub.domain.complaint import OPEN_STATUSES
from contacthub.projections.base import ReadQueries, utc_text
from contacthub.projections.sql import ReadStore, Sql

_OPEN = tuple(sorted(s.value for s in OPEN_STATUSES))
# Each rule's count, for the customers selected by {who}; `?` parameters: start, end (+ who's).
_COMPLAINTS = "SELECT customer_id, COUNT(*) AS n FROM rm_complaint WHERE opened_at >= ? AND opened_at < ? {who} GROUP BY customer_id"
_BREACHES = (
    "SELECT customer_id, COUNT(*) AS n FROM rm_complaint WHERE deadline_at >= ? AND deadline_at < ? "
    f"AND (first_sla_met = 0 OR (first_sla_met IS NULL AND status IN ({','.join(repr(s) for s in _OPEN)}))) "
    "{who} GROUP BY customer_id"
)
_UNRESOLVED = (
    "SELECT customer_id, COUNT(*) AS n FROM rm_contact_fact WHERE occurred_at >= ? AND occurred_at < ? "
    "AND inbound = 1 AND outcome <> 'resolved' {who} GROUP BY customer_id"
)
_CALLS = (
    "SELECT customer_id, COUNT(*) AS n FROM rm_contact_fact WHERE occurred_at >= ? AND occurred_at < ? "
    "AND inbound = 1 AND channel = 'hotline' {who} GROUP BY customer_id"
)


def flag_out(flag: RiskFlag) -> dict[str, Any]:
    return asdict(flag)


class RiskQueries(ReadQueries):
    def __init__(
        self, store: ReadStore, zone: ZoneInfo, clock: Callable[[], datetime] | None = None, rules: RiskRules | None = None
    ) -> None:
        super().__init__(store, zone, clock)
        self.rules = rules or RiskRules()

    def _window(self, as_of: datetime | None) -> tuple[datetime, str, str]:
        end = as_of or self.clock()
        return end, utc_text(end - timedelta(days=self.rules.window_days)), utc_text(end)

    def for_customer(self, customer_id: str, as_of: datetime | None = None, sql: Sql | None = None) -> dict[str, Any]:
        """The customer's churn-risk block: the flags that fire now (or at `as_of`)."""
        end, start, stop = self._window(as_of)
        if sql is None:
            with self.store.transaction(commit=False) as own:
                return self.for_customer(customer_id, as_of, own)
        counts = {}
        for name, statement in (("complaints", _COMPLAINTS), ("sla_breaches", _BREACHES),
                                ("unresolved_contacts", _UNRESOLVED), ("service_calls", _CALLS)):
            row = sql.execute(statement.format(who="AND customer_id = ?"), (start, stop, customer_id)).one()
            counts[name] = 0 if row is None else int(row["n"])
        tier_row = sql.execute("SELECT tier FROM rm_customer_value WHERE customer_id = ?", (customer_id,)).one()
        evidence = RiskEvidence(tier=tier_row["tier"] if tier_row else "ordinary", **counts)
        flags = risk_flags(evidence, self.rules)
        return {
            "at_risk": bool(flags),
            "as_of": end.astimezone(self.zone).isoformat(),
            "window_days": self.rules.window_days,
            "flags": [flag_out(f) for f in flags],
        }

    def at_risk(
        self, as_of: datetime | None = None, tier: str | None = None, rule: str | None = None, page: int = 1,
        page_size: int = 50,
    ) -> dict[str, Any]:
        """Every customer with at least one flag, most flags first.

        Counted, judged, sorted and paged in SQL (the rule book evaluated there), so only the
        page's customers are read into the service, however many are at risk.
        """
        end, start, stop = self._window(as_of)
        book = rule_book(self.rules)
        where = ["flags > 0"]
        params: list[Any] = [start, stop, start, stop, start, stop]
        if tier is not None:
            where.append("tier = ?")
            params.append(tier)
        if rule is not None:
            where.append(next(_fires(r) for r in book if r.name == rule))
        statement = _AT_RISK.format(flags=" + ".join(f"(CASE WHEN {_fires(r)} THEN 1 ELSE 0 END)" for r in book))
        first = (page - 1) * page_size
        with self.store.report() as sql:
            rows = sql.execute(
                f"{statement} SELECT *, COUNT(*) OVER () AS total FROM judged WHERE {' AND '.join(where)} "
                "ORDER BY flags DESC, customer_id LIMIT ? OFFSET ?",
                (*params, page_size, first),
            ).all()
            if rows:
                total = int(rows[0]["total"])
            else:  # past the last page: the count alone
                row = sql.execute(f"{statement} SELECT COUNT(*) AS n FROM judged WHERE {' AND '.join(where)}", params).one()
                total = 0 if row is None else int(row["n"])
        customers = []
        for row in rows:
            evidence = RiskEvidence(tier=row["tier"], **{name: int(row[name]) for name in EVIDENCE_COUNTS})
            customers.append(
                {"customer_id": row["customer_id"], "tier": row["tier"],
                 "flags": [flag_out(f) for f in risk_flags(evidence, self.rules)]}
            )
        return {
            "as_of": end.astimezone(self.zone).isoformat(),
            "window_days": self.rules.window_days,
            "valued_tiers": sorted(VALUED_TIERS),
            "total": total,
            "page": page,
            "page_size": page_size,
            "customers": customers,
        }


def _fires(rule: RiskRule) -> str:
    """The rule as a SQL condition on the `evidence` columns (names and numbers from the rule book only)."""
    condition = f"{rule.counts} >= {int(rule.threshold)}"
    if rule.tiers is not None:
        if not all(t.isalnum() for t in rule.tiers):
            raise ValueError(f"rule {rule.name}: tier names must be plain words to be written into SQL")
        condition += f" AND tier IN ({', '.join(repr(t) for t in sorted(rule.tiers))})"
    return f"({condition})"


_AT_RISK = (
    "WITH contacts AS ("
    "SELECT customer_id, SUM(CASE WHEN outcome <> 'resolved' THEN 1 ELSE 0 END) AS unresolved_contacts, "
    "SUM(CASE WHEN channel = 'hotline' THEN 1 ELSE 0 END) AS service_calls "
    "FROM rm_contact_fact WHERE occurred_at >= ? AND occurred_at < ? AND inbound = 1 GROUP BY customer_id), "
    f"opened AS ({_COMPLAINTS.format(who='')}), "
    f"missed AS ({_BREACHES.format(who='')}), "
    "who AS (SELECT customer_id FROM contacts UNION SELECT customer_id FROM opened UNION SELECT customer_id FROM missed), "
    "evidence AS (SELECT who.customer_id, COALESCE(v.tier, 'ordinary') AS tier, "
    "COALESCE(o.n, 0) AS complaints, COALESCE(m.n, 0) AS sla_breaches, "
    "COALESCE(c.unresolved_contacts, 0) AS unresolved_contacts, COALESCE(c.service_calls, 0) AS service_calls "
    "FROM who LEFT JOIN contacts c ON c.customer_id = who.customer_id "
    "LEFT JOIN opened o ON o.customer_id = who.customer_id LEFT JOIN missed m ON m.customer_id = who.customer_id "
    "LEFT JOIN rm_customer_value v ON v.customer_id = who.customer_id), "
    "judged AS (SELECT evidence.*, {flags} AS flags FROM evidence)"
)
"""Each customer's evidence in the window and how many rules fire; params: (start, stop) x 3."""
