"""Early churn-risk signals: explainable rules over a customer's recent history.

Pure: the counts of what happened in the look-back window go in, the flags that fired
come out, each naming its rule, what was counted and the threshold it crossed. A customer
is at risk when at least one rule fires. The rules count on event time: "in the last 30
days" is the 30 days before the moment asked about (now, unless given).
"""

from __future__ import annotations

from dataclasses import dataclass

from contacthub.domain.vocabulary import Tier

VALUED_TIERS = frozenset({Tier.DIAMOND.value, Tier.GOLD.value, Tier.SILVER.value, Tier.VIP.value})
"""Tiers whose SLA breaches signal risk on their own (every tier above ordinary)."""


@dataclass(frozen=True)
class RiskRules:
    window_days: int = 30
    complaints: int = 2
    """Complaints opened in the window: this many or more."""
    unresolved_contacts: int = 3
    """Customer contacts in the window whose outcome was not `resolved`."""
    service_calls: int = 4
    """Inbound hotline calls in the window."""


@dataclass(frozen=True)
class RiskEvidence:
    """What happened to one customer in the window."""

    tier: str
    complaints: int = 0
    sla_breaches: int = 0  # complaints whose time limit fell in the window and was missed
    unresolved_contacts: int = 0
    service_calls: int = 0


@dataclass(frozen=True)
class RiskFlag:
    rule: str
    count: int
    threshold: int
    explanation: str


@dataclass(frozen=True)
class RiskRule:
    """One rule: it fires when the evidence field `counts` reaches `threshold` (for `tiers` only, if given)."""

    name: str
    counts: str
    threshold: int
    tiers: frozenset[str] | None
    says: str
    """The explanation; formatted with count, threshold, days and tier."""

    def fires(self, evidence: RiskEvidence) -> bool:
        return getattr(evidence, self.counts) >= self.threshold and (self.tiers is None or evidence.tier in self.tiers)


def rule_book(rules: RiskRules = RiskRules()) -> tuple[RiskRule, ...]:
    """The rules in the order their flags are listed. The at-risk list evaluates this same
    book in SQL (projections/risk_queries.py), so a rule is defined here once."""
    return (
        RiskRule("repeat_complaints", "complaints", rules.complaints, None,
                 "{count} complaints opened in {days} days (threshold {threshold})"),
        RiskRule("valued_tier_sla_breach", "sla_breaches", 1, VALUED_TIERS,
                 "{count} complaint time limit(s) missed in {days} days for a {tier} customer"),
        RiskRule("repeated_unresolved_contacts", "unresolved_contacts", rules.unresolved_contacts, None,
                 "{count} contacts not resolved in {days} days (threshold {threshold})"),
        RiskRule("frequent_service_calls", "service_calls", rules.service_calls, None,
                 "{count} hotline calls in {days} days (threshold {threshold})"),
    )


RULE_NAMES = tuple(rule.name for rule in rule_book())
EVIDENCE_COUNTS = ("complaints", "sla_breaches", "unresolved_contacts", "service_calls")


def risk_flags(evidence: RiskEvidence, rules: RiskRules = RiskRules()) -> list[RiskFlag]:
    flags: list[RiskFlag] = []
    for rule in rule_book(rules):
        if rule.fires(evidence):
            count = getattr(evidence, rule.counts)
            flags.append(RiskFlag(
                rule.name, count, rule.threshold,
                rule.says.format(count=count, threshold=rule.threshold, days=rules.window_days, tier=evidence.tier),
            ))
    return flags
