"""The complaint rules on their own: the transition table, the SLA clock, the policy document. No storage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contacthub.config import ConfigurationError, Settings
from contacthub.domain.calendar import known_calendar
from contacthub.domain.complaint import (
    ACTIONS,
    FINAL_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    ClockTerms,
    ComplaintCase,
    SlaClock,
    SlaPolicy,
    SlaTerms,
    allowed_actions,
    check_transition,
    legacy_terms,
)
from contacthub.domain.customer import Customer
from contacthub.domain.errors import RuleViolation
from contacthub.domain.vocabulary import ComplaintStatus as S
from contacthub.domain.vocabulary import Severity, SlaState, Tier

T = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


def test_final_statuses_allow_nothing_but_a_note_and_every_status_allows_a_note() -> None:
    for status in S:
        assert "note" in allowed_actions(status)
    for status in FINAL_STATUSES:
        assert allowed_actions(status) == ["note"]


def test_resolved_can_be_reopened_to_in_progress_and_closed_cannot() -> None:
    assert check_transition("K1", S.RESOLVED, "reopen") == S.IN_PROGRESS
    with pytest.raises(RuleViolation) as refused:
        check_transition("K1", S.CLOSED, "reopen")
    assert refused.value.code == "illegal_transition"
    assert refused.value.message == "complaint K1 is closed; 'reopen' is not allowed (allowed: note)"


def test_every_open_status_can_reach_resolved_and_every_status_is_reachable() -> None:
    reachable = {S.ACKNOWLEDGED}
    frontier = [S.ACKNOWLEDGED]
    while frontier:
        status = frontier.pop()
        for action in ACTIONS:
            transition = TRANSITIONS[action]
            if status in transition.allowed_from and transition.to and transition.to not in reachable:
                reachable.add(transition.to)
                frontier.append(transition.to)
    assert reachable == set(S)
    for status in OPEN_STATUSES:
        assert "resolve" in allowed_actions(status)


def clock(**kwargs: Any) -> SlaClock:
    return SlaClock(number=1, started_at=T, allowance_s=8 * 3600, warning_s=6 * 3600, **kwargs)


def test_clock_states_through_a_pause_and_a_stop() -> None:
    c = clock()
    assert c.state(T + 5 * H) == SlaState.ON_TRACK
    assert c.state(T + 6 * H) == SlaState.DUE_SOON
    assert c.state(T + 8 * H) == SlaState.DUE_SOON  # the deadline moment itself is still in time
    assert c.state(T + 8 * H + timedelta(seconds=1)) == SlaState.BREACHED

    c.pause(T + 2 * H)
    assert (c.state(T + 50 * H), c.deadline, c.elapsed_s(T + 50 * H)) == (SlaState.PAUSED, None, 2 * 3600)
    c.run(T + 12 * H)
    assert c.deadline == T + 18 * H
    assert c.paused_total_s(T + 20 * H) == 10 * 3600
    c.stop(T + 17 * H)
    assert c.state(T + 99 * H) == SlaState.MET
    assert c.remaining_s(T + 99 * H) == 3600


def test_a_step_reported_before_the_opening_never_makes_time_negative() -> None:
    c = clock()
    c.pause(T - 5 * H)  # a late, out-of-order event with an earlier clock
    c.run(T - 6 * H)
    assert c.paused_s == 0
    assert c.elapsed_s(T - H) == 0


def case() -> ComplaintCase:
    return ComplaintCase.opened(
        complaint_id="K1", at=T, owner="agent-7", tier="gold", severity="high", category="billing",
        channel="hotline", terms=SlaTerms("p1", 8 * 3600, 6 * 3600),
    )


def test_sla_events_are_due_once_per_clock_and_a_reopening_starts_a_new_one() -> None:
    k = case()
    assert not k.sla_due("warning", T + 5 * H)
    assert k.sla_due("warning", T + 6 * H)
    k.sla_recorded("warning", 1)
    assert not k.sla_due("warning", T + 7 * H)
    k.step("resolve", T + 7 * H)
    assert not k.sla_due("breached", T + 99 * H)
    k.step("reopen", T + 10 * H)
    assert k.clock.number == 2
    assert k.sla_due("warning", T + 16 * H)
    k.sla_recorded("warning", 1)  # a late event for the old clock changes nothing now
    assert k.sla_due("warning", T + 16 * H)


def test_handover_to_the_current_owner_is_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        case().check_handover("agent-7", T + H)
    assert refused.value.field == "to"


def valid_policy(**overrides: Any) -> dict[str, Any]:
    table = {t.value: {s.value: 10 for s in Severity} for t in Tier}
    return {"version": "v", "warning_share": 0.8, "allowance_hours": table, **overrides}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("version"), "version: must be a non-empty name"),
        (lambda p: p.update(warning_share=1.2), "warning_share: must be a number between 0 and 1"),
        (lambda p: p["allowance_hours"].pop("vip"), "allowance_hours.vip: missing"),
        (lambda p: p["allowance_hours"]["gold"].update(urgent=1), "allowance_hours.gold.urgent: unknown severity"),
        (lambda p: p["allowance_hours"]["gold"].update(high=0), "allowance_hours.gold.high: must be a number of hours"),
        (lambda p: p["allowance_hours"]["gold"].update(high="4h"), "allowance_hours.gold.high: must be a number"),
        (lambda p: p["allowance_hours"].update(platinum={}), "allowance_hours.platinum: unknown tier"),
        (lambda p: p.update(escalate_after=3), "escalate_after: unknown setting"),
    ],
)
def test_a_bad_policy_document_names_the_entry_at_fault(change: Any, message: str) -> None:
    policy = valid_policy()
    change(policy)
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        SlaPolicy.from_mapping(policy)


def test_the_packaged_policy_covers_every_tier_and_severity_and_higher_tiers_get_less_time() -> None:
    policy = Settings().load_sla_policy()
    assert policy.version == "cn-default-2026-12"
    order = [Tier.DIAMOND, Tier.GOLD, Tier.SILVER, Tier.VIP, Tier.ORDINARY]
    monday = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

    def deadline(clock: ClockTerms) -> datetime | None:  # limits in calendar and in working time compare by deadline
        return SlaClock(1, monday, clock.allowance_s, clock.warning_s, basis=known_calendar(clock.basis)).deadline

    for severity in Severity:
        for metric in ("resolution", "first_response"):
            terms = [policy.terms(t.value, severity.value) for t in order]
            clocks = [ClockTerms(t.allowance_s, t.warning_s, t.calendar) if metric == "resolution" else t.first_response
                      for t in terms]
            deadlines = [deadline(c) for c in clocks if c is not None]
            assert len(deadlines) == len(order) and deadlines == sorted(deadlines), (metric, severity)  # type: ignore[type-var]
    gold = policy.terms("gold", "high")
    assert (gold.policy, gold.allowance_s, gold.warning_s, gold.calendar) == (
        "cn-default-2026-12", 8 * 3600, 6 * 3600, "calendar-time")


def test_a_policy_file_that_cannot_be_read_is_a_one_line_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="No such file"):
        Settings(sla_policy=str(tmp_path / "missing.toml")).load_sla_policy()
    broken = tmp_path / "broken.toml"
    broken.write_text("version = \n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="broken.toml"):
        Settings(sla_policy=str(broken)).load_sla_policy()


def test_a_catalogue_v1_complaint_reads_with_the_legacy_terms_by_severity() -> None:
    state: dict[str, Any] = {"complaint_id": "K1", "severity": "critical"}
    Customer.ComplaintOpened.upcast_v1_v2(state)
    assert state == {
        "complaint_id": "K1", "severity": "critical", "tier": None,
        "sla_policy": "legacy-v1", "sla_allowance_s": 4 * 3600, "sla_warning_s": 3 * 3600,
    }
    assert legacy_terms("low").allowance_s == 72 * 3600


def test_escalation_goes_up_one_level_at_a_time_and_stops_at_the_highest() -> None:
    customer = Customer(customer_id="C1", event_id="r1", occurred_at=T, name="王芳", segment="individual",
                        tier="gold", msisdns=("13800138000",))
    step = {"occurred_at": T, "timestamp": T, "by": "agent-7", "channel": "hotline"}
    customer.open_complaint(complaint_id="K1", severity="high", sla_policy=None, event_id="k1", occurred_at=T,
                            timestamp=T, category="billing", summary="多扣费", channel="hotline", handled_by="agent-7")
    for n in range(1, 11):
        customer.escalate_complaint(complaint_id="K1", event_id=f"e{n}", reason="slow", **step)
    assert customer.complaints["K1"].escalation_level == 10
    assert "escalate" not in customer.complaints["K1"].allowed_actions()
    with pytest.raises(RuleViolation, match="highest escalation level"):
        customer.escalate_complaint(complaint_id="K1", event_id="e11", reason="slow", **step)
    with pytest.raises(RuleViolation, match="highest escalation level"):
        customer.escalate_complaint(complaint_id="K1", event_id="e12", reason="slow", level=10, **step)


def test_an_escalation_must_go_above_the_current_level() -> None:
    customer = Customer(customer_id="C1", event_id="r1", occurred_at=T, name="王芳", segment="individual",
                        tier="gold", msisdns=("13800138000",))
    step = {"occurred_at": T, "timestamp": T, "by": "agent-7", "channel": "hotline"}
    customer.open_complaint(complaint_id="K1", severity="high", sla_policy=None, event_id="k1", occurred_at=T,
                            timestamp=T, category="billing", summary="多扣费", channel="hotline", handled_by="agent-7")
    customer.escalate_complaint(complaint_id="K1", event_id="e1", reason="slow", level=3, **step)
    with pytest.raises(RuleViolation, match="already at escalation level 3") as refused:
        customer.escalate_complaint(complaint_id="K1", event_id="e2", reason="slow", level=2, **step)
    assert refused.value.field == "level"



def test_an_sla_event_for_a_clock_that_is_not_the_current_one_is_refused() -> None:
    customer = Customer(customer_id="C1", event_id="r1", occurred_at=T, name="王芳", segment="individual",
                        tier="gold", msisdns=("13800138000",))
    customer.open_complaint(complaint_id="K1", severity="high", sla_policy=None, event_id="k1", occurred_at=T,
                            timestamp=T, category="billing", summary="多扣费", channel="hotline", handled_by="agent-7")
    step = {"timestamp": T, "by": "agent-7", "channel": "hotline"}
    customer.resolve_complaint(complaint_id="K1", event_id="s1", occurred_at=T + H, resolution="退费", **step)
    customer.reopen_complaint(complaint_id="K1", event_id="s2", occurred_at=T + 2 * H, reason="又扣费", **step)

    with pytest.raises(RuleViolation, match="no SLA warning due for clock 1"):
        customer.record_sla_warning(complaint_id="K1", clock=1, event_id="w1", occurred_at=T + 99 * H, timestamp=T)
    customer.record_sla_warning(complaint_id="K1", clock=2, event_id="w2", occurred_at=T + 99 * H, timestamp=T)
    assert customer.complaints["K1"].clock.warned
