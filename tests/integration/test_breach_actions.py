"""SLA breach actions (issue 20): the policy's rules on a breach, recorded by the watcher as ordinary
complaint steps done by `sla-policy`, once per clock, also with rival watchers. Both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from helpers import complaint_opened, registered
from support.clock import ManualClock
from support.rivals import race

START = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
HOUR = 3600

POLICY = """
version = "actions-test"
warning_share = 0.75
calendar = "cn-national"

[first_response]
{first}

[resolution]
{resolution}

[[breach_actions]]
clock = "resolution"
tiers = ["diamond", "gold"]
escalate = true
hand_over_to = "site-supervisor"

[[breach_actions]]
clock = "first_response"
severities = ["critical"]
hand_over_to = "duty-manager"
"""

SITES = """
[[site]]
name = "杭州西湖营业厅"
supervisor = "sup-HZ01"
staff = ["clerk-HZ01-01", "clerk-HZ01-02"]
"""


@pytest.fixture
def acting_settings(settings: Settings, tmp_path: Path) -> Settings:
    tiers = ("diamond", "gold", "silver", "vip", "ordinary")
    first = "\n".join(f'{t} = {{ critical = "1h", high = "2h", medium = "4h", low = "8h" }}' for t in tiers)
    resolution = "\n".join(f"{t} = {{ critical = 4, high = 8, medium = 24, low = 48 }}" for t in tiers)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY.format(first=first, resolution=resolution), encoding="utf-8")
    sites = tmp_path / "sites.toml"
    sites.write_text(SITES, encoding="utf-8")
    return Settings(**{**settings.__dict__, "sla_policy": str(policy), "sites": str(sites)})


@pytest.fixture
def acting_hub(acting_settings: Settings, clock: ManualClock) -> Iterator[ContactHub]:
    hub = build(acting_settings, clock=clock)
    try:
        yield hub
    finally:
        hub.close()


def open_complaint(hub: ContactHub, complaint_id: str, customer_id: str, tier: str, severity: str) -> None:
    hub.ingest.ingest([
        registered(customer_id, msisdns=(f"1380013{customer_id[-4:]:0>4}",), tier=tier),
        complaint_opened(complaint_id, {"customer_id": customer_id}, severity=severity, occurred_at=START.isoformat(),
                         handled_by="clerk-HZ01-01", channel="store"),
    ])


def answer(hub: ContactHub, complaint_id: str) -> None:
    hub.complaint_actions.take(complaint_id, {"action": "acknowledge", "by": "clerk-HZ01-01", "channel": "store"})


def policy_steps(hub: ContactHub, complaint_id: str) -> list[tuple[str, Any, Any, Any]]:
    hub.projector.catch_up()
    found = hub.complaints.complaint(complaint_id)
    assert found is not None
    return [(h["type"], h["by"], h["details"].get("to") or h["details"].get("level"), h["status"])
            for h in found["history"] if h["by"] == "sla-policy"]


def test_a_gold_resolution_breach_escalates_and_hands_over_to_the_owners_site_supervisor_once(
    acting_hub: ContactHub, acting_settings: Settings, clock: ManualClock
) -> None:
    open_complaint(acting_hub, "K1", "C0001", "gold", "high")
    open_complaint(acting_hub, "K2", "C0002", "ordinary", "high")  # no rule for ordinary customers
    answer(acting_hub, "K1")
    answer(acting_hub, "K2")
    acting_hub.projector.catch_up()

    clock.set(START + timedelta(hours=8, seconds=1))
    race(acting_settings, clock, 3, lambda hub: (hub.projector.catch_up(), hub.sla_watcher.run_once()))
    acting_hub.projector.catch_up()
    assert acting_hub.sla_watcher.run_once().actions == 0  # nothing is left to do

    assert policy_steps(acting_hub, "K1") == [
        ("complaint.escalated", "sla-policy", 1, "inProgress"),
        ("complaint.handed_over", "sla-policy", "sup-HZ01", "inProgress"),
    ]
    k1 = acting_hub.complaints.complaint("K1")
    assert k1 is not None
    assert (k1["owner"], k1["escalation_level"], k1["sla"]["breach_recorded"]) == ("sup-HZ01", 1, True)
    reasons = {h["reason"] for h in k1["history"] if h["by"] == "sla-policy"}
    assert reasons == {"SLA policy: the resolution deadline passed"}
    assert policy_steps(acting_hub, "K2") == []


def test_a_first_response_breach_action_applies_by_severity_and_not_once_answered(
    acting_hub: ContactHub, clock: ManualClock
) -> None:
    open_complaint(acting_hub, "K1", "C0001", "silver", "critical")
    open_complaint(acting_hub, "K2", "C0002", "silver", "critical")
    answer(acting_hub, "K2")  # answered in time: its first-response clock is stopped
    clock.set(START + timedelta(hours=1, seconds=1))
    acting_hub.projector.catch_up()
    outcome = acting_hub.sla_watcher.run_once()

    assert (outcome.breaches, outcome.actions) == (1, 1)
    assert policy_steps(acting_hub, "K1") == [("complaint.handed_over", "sla-policy", "duty-manager", "acknowledged")]
    assert policy_steps(acting_hub, "K2") == []


def test_an_action_the_rules_refuse_leaves_the_breach_recorded(acting_hub: ContactHub, clock: ManualClock) -> None:
    open_complaint(acting_hub, "K1", "C0001", "diamond", "high")
    answer(acting_hub, "K1")
    # The complaint is already at the highest escalation level: the escalation is refused, the breach is not
    for level in range(1, 11):
        acting_hub.complaint_actions.take("K1", {"action": "escalate", "level": level, "reason": "客户投诉升级",
                                                 "by": "clerk-HZ01-01", "channel": "store"})
    clock.set(START + timedelta(hours=9))
    acting_hub.projector.catch_up()
    outcome = acting_hub.sla_watcher.run_once()

    assert (outcome.breaches, outcome.refused) == (1, 1)
    assert policy_steps(acting_hub, "K1") == [("complaint.handed_over", "sla-policy", "sup-HZ01", "inProgress")]
