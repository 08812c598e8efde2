"""The contact-quality and churn-risk rules on their own (pure domain code, no storage)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from contacthub.domain.churn_risk import RiskEvidence, RiskRules, risk_flags
from contacthub.domain.contact_quality import TierChange, Touchpoint, judge, tier_at

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
HISTORY = [TierChange(T0 - timedelta(days=100), "reg", "ordinary", None)]


def tp(n: int, at: timedelta, channel: str = "hotline", reason: str = "billing", outcome: str = "resolved",
       direction: str = "inbound", handled_by: str = "agent-1", duration_s: int = 100) -> Touchpoint:
    return Touchpoint(f"e{n:03d}", T0 + at, channel, direction, reason, handled_by, outcome, duration_s)


def test_an_issue_resolved_at_first_contact_and_not_repeated_counts_for_fcr() -> None:
    v = judge([tp(1, timedelta(0))], HISTORY)["e001"]
    assert (v.issue_start, v.repeated, v.first_contact_resolved) == (True, False, True)


def test_a_second_contact_on_the_same_reason_within_7_days_repeats_the_first_and_spoils_its_fcr() -> None:
    verdicts = judge([tp(1, timedelta(0)), tp(2, timedelta(days=7))], HISTORY)  # exactly 7 days: inside
    assert (verdicts["e001"].repeated, verdicts["e001"].first_contact_resolved) == (True, False)
    assert (verdicts["e002"].issue_start, verdicts["e002"].repeated) == (False, False)


def test_beyond_7_days_the_next_contact_starts_a_new_issue() -> None:
    verdicts = judge([tp(1, timedelta(0)), tp(2, timedelta(days=7, seconds=1))], HISTORY)
    assert verdicts["e001"].first_contact_resolved and verdicts["e002"].issue_start


def test_other_reasons_and_outbound_contacts_do_not_repeat_an_issue() -> None:
    verdicts = judge(
        [tp(1, timedelta(0)), tp(2, timedelta(days=1), reason="network"),
         tp(3, timedelta(days=2), direction="outbound", channel="sms", handled_by="sms-platform")],
        HISTORY,
    )
    assert verdicts["e001"].first_contact_resolved
    assert not verdicts["e003"].inbound and not verdicts["e003"].issue_start


def test_an_unresolved_first_contact_starts_an_issue_without_fcr() -> None:
    v = judge([tp(1, timedelta(0), outcome="unresolved")], HISTORY)["e001"]
    assert v.issue_start and not v.first_contact_resolved


def test_self_service_is_contained_unless_an_assisted_contact_follows_within_24_hours() -> None:
    verdicts = judge(
        [
            tp(1, timedelta(0), channel="app", handled_by="self-service"),
            tp(2, timedelta(hours=24), channel="store", reason="other"),  # 24 h: inside the window
            tp(3, timedelta(days=3), channel="web", handled_by="self-service"),
            tp(4, timedelta(days=4, seconds=1), channel="hotline"),  # 24 h and a second later: outside
            tp(5, timedelta(days=5), channel="hotline", handled_by="IVR-main"),  # IVR: self-service
        ],
        HISTORY,
    )
    assert verdicts["e001"].self_service and not verdicts["e001"].contained
    assert verdicts["e003"].contained
    assert verdicts["e005"].self_service and verdicts["e005"].contained and not verdicts["e005"].assisted
    assert verdicts["e004"].assisted and not verdicts["e004"].self_service


def test_abandoned_and_unanswered_contacts_are_not_handled() -> None:
    verdicts = judge([tp(1, timedelta(0), outcome="abandoned"), tp(2, timedelta(days=9), outcome="no_answer")], HISTORY)
    assert not verdicts["e001"].handled and not verdicts["e002"].handled


def test_the_tier_is_the_one_in_force_at_the_contact() -> None:
    history = [
        TierChange(T0, "reg", "ordinary", None),
        TierChange(T0 + timedelta(days=10), "up", "gold", 300.0),
    ]
    assert tier_at(history, T0 - timedelta(days=1)) == "ordinary"  # before registration: the first tier
    assert tier_at(history, T0 + timedelta(days=10)) == "gold"  # at the very instant: the new tier
    assert tier_at(history, T0 + timedelta(days=9, hours=23)) == "ordinary"


contacts = st.lists(
    st.builds(
        tp,
        st.integers(0, 10_000),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
        st.sampled_from(["hotline", "store", "app", "web", "sms", "technician"]),
        st.sampled_from(["billing", "network"]),
        st.sampled_from(["resolved", "unresolved", "abandoned"]),
        st.sampled_from(["inbound", "outbound"]),
    ),
    max_size=25,
    unique_by=lambda t: t.event_id,
)


@settings(max_examples=150, deadline=None)
@given(contacts, st.randoms(use_true_random=False))
def test_verdicts_do_not_depend_on_the_order_contacts_are_given_in(given_contacts: list[Touchpoint], rng: object) -> None:
    shuffled = list(given_contacts)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert judge(shuffled, HISTORY) == judge(given_contacts, HISTORY)


@settings(max_examples=150, deadline=None)
@given(contacts)
def test_every_issue_is_started_by_exactly_one_contact_and_fcr_only_on_issue_starts(given_contacts: list[Touchpoint]) -> None:
    verdicts = judge(given_contacts, HISTORY)
    for c in given_contacts:
        v = verdicts[c.event_id]
        assert not v.first_contact_resolved or (v.issue_start and not v.repeated and c.outcome == "resolved")
        assert not (v.issue_start or v.repeated) or c.inbound
    # Issues per reason = inbound contacts minus those within 7 days after an earlier one.
    for reason in ("billing", "network"):
        times = sorted(c.key for c in given_contacts if c.inbound and c.reason == reason)
        expected = sum(1 for i, k in enumerate(times) if i == 0 or times[i - 1][0] < k[0] - timedelta(days=7))
        assert sum(verdicts[c.event_id].issue_start for c in given_contacts if c.reason == reason) == expected


def test_each_churn_rule_fires_at_its_threshold_and_says_why() -> None:
    rules = RiskRules()
    assert risk_flags(RiskEvidence(tier="gold", complaints=1, unresolved_contacts=2, service_calls=3), rules) == []
    flags = risk_flags(RiskEvidence(tier="gold", complaints=2, sla_breaches=1, unresolved_contacts=3, service_calls=4))
    assert [f.rule for f in flags] == [
        "repeat_complaints", "valued_tier_sla_breach", "repeated_unresolved_contacts", "frequent_service_calls",
    ]
    assert flags[0].explanation == "2 complaints opened in 30 days (threshold 2)"
    # An SLA breach alone flags a valued tier, not an ordinary customer.
    assert risk_flags(RiskEvidence(tier="ordinary", sla_breaches=3)) == []
    assert [f.rule for f in risk_flags(RiskEvidence(tier="vip", sla_breaches=1))] == ["valued_tier_sla_breach"]
