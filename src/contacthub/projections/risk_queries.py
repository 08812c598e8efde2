"""Churn-risk signals, counted from the read models over the look-back window (domain/churn_risk.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contacthub.adapters.store.database import ReadStore, Sql
from contacthub.domain.churn_risk import VALUED_TIERS, RiskEvidence, RiskFlag, RiskRules, risk_flags
from contacthub.domain.complaint import OPEN_STATUSES
from contacthub.projections.base import ReadQueries, utc_text

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
        self, store: ReadStore, zone: ZoneInfo, clock: Callable[[], datetime] | None = None, rules: RiskRules = RiskRules()
    ) -> None:
        super().__init__(store, zone, clock)
        self.rules = rules

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
        """Every customer with at least one flag, most flags first."""
        end, start, stop = self._window(as_of)
        rules = self.rules
        counts: dict[str, dict[str, int]] = {}
        with self.store.transaction(commit=False) as sql:
            for name, statement, threshold in (
                ("complaints", _COMPLAINTS, rules.complaints), ("sla_breaches", _BREACHES, 1),
                ("unresolved_contacts", _UNRESOLVED, rules.unresolved_contacts),
                ("service_calls", _CALLS, rules.service_calls),
            ):
                for row in sql.execute(statement.format(who="") + " HAVING COUNT(*) >= ?", (start, stop, threshold)).all():
                    counts.setdefault(row["customer_id"], {})[name] = int(row["n"])
            tiers = {
                r["customer_id"]: r["tier"] for r in sql.select_where_in("rm_customer_value", "customer_id", sorted(counts))
            }
        found = []
        found = []
        for customer_id, seen in counts.items():
            customer_tier = tiers.get(customer_id, "ordinary")
            if tier is not None and customer_tier != tier:
                continue
            flags = risk_flags(RiskEvidence(tier=customer_tier, **seen), rules)
            if flags and (rule is None or any(f.rule == rule for f in flags)):
                found.append({"customer_id": customer_id, "tier": customer_tier, "flags": [flag_out(f) for f in flags]})
        found.sort(key=lambda c: (-len(c["flags"]), c["customer_id"]))
        first = (page - 1) * page_size
        return {
            "as_of": end.astimezone(self.zone).isoformat(),
            "window_days": rules.window_days,
            "valued_tiers": sorted(VALUED_TIERS),
            "total": len(found),
            "page": page,
            "page_size": page_size,
            "customers": found[first : first + page_size],
        }
