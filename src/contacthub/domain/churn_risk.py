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


RULE_NAMES = ("repeat_complaints", "valued_tier_sla_breach", "repeated_unresolved_contacts", "frequent_service_calls")


def risk_flags(evidence: RiskEvidence, rules: RiskRules = RiskRules()) -> list[RiskFlag]:
    days = rules.window_days
    flags: list[RiskFlag] = []
    if evidence.complaints >= rules.complaints:
        flags.append(RiskFlag(
            "repeat_complaints", evidence.complaints, rules.complaints,
            f"{evidence.complaints} complaints opened in {days} days (threshold {rules.complaints})",
        ))
    if evidence.tier in VALUED_TIERS and evidence.sla_breaches >= 1:
        flags.append(RiskFlag(
            "valued_tier_sla_breach", evidence.sla_breaches, 1,
            f"{evidence.sla_breaches} complaint time limit(s) missed in {days} days for a {evidence.tier} customer",
        ))
    if evidence.unresolved_contacts >= rules.unresolved_contacts:
        flags.append(RiskFlag(
            "repeated_unresolved_contacts", evidence.unresolved_contacts, rules.unresolved_contacts,
            f"{evidence.unresolved_contacts} contacts not resolved in {days} days (threshold {rules.unresolved_contacts})",
        ))
    if evidence.service_calls >= rules.service_calls:
        flags.append(RiskFlag(
            "frequent_service_calls", evidence.service_calls, rules.service_calls,
            f"{evidence.service_calls} hotline calls in {days} days (threshold {rules.service_calls})",
        ))
    return flags
