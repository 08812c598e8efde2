"""Acting on a complaint by its id (ComplaintActions, services/complaint_actions.py) over an in-memory log:
one-point acceptance, first-contact ownership, the lifecycle, and what is refused with which field.

Each action becomes the catalogue event a channel would post and goes through the ingest service,
so the same rules hold for both (the last tests here post them as events). How
POST /v1/complaints/{id}/actions maps this to HTTP (201/200, 409 and 422 naming the field, 404) and
what the complaint read model shows: tests/e2e/test_api_complaints.py. Times are hours after the
clock's start, Monday 2026-11-02 09:00 in Shanghai.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contacthub.domain.customer import Customer
from contacthub.domain.vocabulary import SlaState
from contacthub.services.complaint_actions import UnknownComplaint
from helpers import complaint_opened, contact, event, registered
from support.services import Services, fields

START = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def at(hours: float) -> str:
    return (START + timedelta(hours=hours)).isoformat()


@pytest.fixture
def hotline_complaint(services: Services) -> Services:
    """王芳 (gold) calls the hotline about her bill; agent-7 takes complaint K1 (high severity: 8 hours)."""
    services.given(
        registered("C1", ("13800138000",), tier="gold", occurred_at=at(-24 * 30)),
        contact({"msisdn": "13800138000"}, channel="hotline", handled_by="agent-7", reason="billing_dispute",
                complaint_id="K1", occurred_at=at(0)),
        complaint_opened("K1", {"msisdn": "13800138000"}, channel="hotline", handled_by="agent-7", severity="high",
                         occurred_at=at(0)),
    )
    return services


def steps(services: Services, customer_id: str = "C1") -> list[Customer.Event]:
    return [e for _, e in services.log.customer_history(customer_id)]


# --- one-point acceptance and first-contact ownership ----------------------------------------------


def test_a_note_taken_at_a_store_is_recorded_with_who_and_where_and_the_first_owner_keeps_the_complaint(
    hotline_complaint: Services,
) -> None:
    services = hotline_complaint
    services.clock.advance(hours=48)

    outcome = services.act("K1", action="note", text="客户到厅询问进度，已告知正在核实。")

    assert (outcome.result, outcome.customer_id, outcome.position) == ("recorded", "C1", services.log.head_position())
    note = steps(services)[-1]
    assert isinstance(note, Customer.ComplaintNoted)
    assert (note.by, note.channel, note.text) == ("store-0571-03", "store", "客户到厅询问进度，已告知正在核实。")
    assert note.occurred_at == START + timedelta(hours=48)  # an action's time defaults to "now"
    k1 = services.complaint("K1")
    assert (k1.status, k1.owner, k1.owners) == ("acknowledged", "agent-7", ["agent-7"])  # 首问负责
    assert k1.clock.state(services.clock()) == SlaState.BREACHED  # 8 hours for gold/high, long past
    assert k1.clock.deadline == START + timedelta(hours=8)


def test_handover_moves_ownership_and_a_handover_to_the_owner_is_refused(hotline_complaint: Services) -> None:
    services = hotline_complaint
    same = services.refused_action("K1", action="handover", to="agent-7", reason="no-op")
    assert (same.status_code, fields(same)) == (409, ["to"])
    assert same.errors[0].message == "complaint K1 is already owned by agent-7"

    services.act("K1", action="handover", to="billing-backoffice-2", reason="需账务后台核实", by="agent-7", channel="hotline")

    k1 = services.complaint("K1")
    assert (k1.owner, k1.owners, k1.status) == ("billing-backoffice-2", ["agent-7", "billing-backoffice-2"], "acknowledged")
    handover = steps(services)[-1]
    assert isinstance(handover, Customer.ComplaintHandedOver)
    assert (handover.from_owner, handover.to, handover.by, handover.reason) == (
        "agent-7", "billing-backoffice-2", "agent-7", "需账务后台核实"
    )


# --- the lifecycle ----------------------------------------------------------------------------------


def test_the_whole_lifecycle_from_acknowledged_to_closed(hotline_complaint: Services) -> None:
    services = hotline_complaint
    lifecycle = [
        ({"action": "start"}, "inProgress"),
        ({"action": "hold", "reason": "等待网络故障单处理"}, "held"),
        ({"action": "resume"}, "inProgress"),
        ({"action": "pend", "reason": "请客户提供账单截图"}, "pending"),
        ({"action": "escalate", "reason": "客户第三次来电"}, "inProgress"),
        ({"action": "resolve", "resolution": "退还多收的 30 元"}, "resolved"),
        ({"action": "reopen", "reason": "次月仍多扣费"}, "inProgress"),
        ({"action": "resolve", "resolution": "套餐资费已更正"}, "resolved"),
        ({"action": "follow_up", "satisfaction": 4, "channel": "hotline"}, "resolved"),
        ({"action": "close"}, "closed"),
    ]
    for body, status in lifecycle:
        services.clock.advance(hours=1)
        services.act("K1", **body)
        assert services.complaint("K1").status == status, body

    k1 = services.complaint("K1")
    assert (k1.escalation_level, k1.reopen_count, k1.satisfaction) == (1, 1, 4)
    assert k1.clock.number == 2  # the reopening started a new clock
    assert k1.allowed_actions() == ["note"]  # closed is final: only a note is still possible
    pend = next(e for e in steps(services) if isinstance(e, Customer.ComplaintPended))
    assert (pend.reason, pend.by, pend.channel) == ("请客户提供账单截图", "store-0571-03", "store")

    reopen = services.refused_action("K1", action="reopen", reason="again")
    assert (reopen.status_code, fields(reopen)) == (409, ["action"])


@pytest.mark.parametrize(("final", "status"), [("cancel", "cancelled"), ("reject", "rejected")])
def test_cancelled_and_rejected_are_final_and_stop_the_clock_in_time(
    hotline_complaint: Services, final: str, status: str
) -> None:
    services = hotline_complaint
    services.act("K1", action=final, reason="客户撤诉" if final == "cancel" else "重复投诉")

    k1 = services.complaint("K1")
    assert (k1.status, k1.allowed_actions()) == (status, ["note"])
    assert k1.clock.state(services.clock() + timedelta(days=30)) == SlaState.MET
    refused = services.refused_action("K1", action="resolve", resolution="x")
    assert (refused.status_code, fields(refused)) == (409, ["action"])


# --- refusals ---------------------------------------------------------------------------------------


def test_an_illegal_action_is_refused_naming_the_status_and_the_allowed_actions(hotline_complaint: Services) -> None:
    refused = hotline_complaint.refused_action("K1", action="follow_up", satisfaction=5)

    assert refused.status_code == 409
    assert [(e.index, e.event_id, e.field, e.message) for e in refused.errors] == [(
        None, None, "action",
        "complaint K1 is acknowledged; 'follow_up' is not allowed "
        "(allowed: acknowledge, start, pend, hold, handover, escalate, resolve, cancel, reject, note, link)",
    )]
    assert hotline_complaint.complaint("K1").status == "acknowledged"


@pytest.mark.parametrize(
    ("body", "field", "message_part"),
    [
        ({"action": "pend"}, "reason", "Field required"),
        ({"action": "handover", "reason": "billing"}, "to", "Field required"),
        ({"action": "resolve", "resolution": "refund", "to": "x"}, "to", "'to' does not apply to 'resolve' (it takes: resolution)"),
        ({"action": "fix"}, "action", "unknown action; expected one of: acknowledge, start"),
        ({"action": "note", "text": "x", "channel": "fax"}, "channel", "Input should be"),
        ({"action": "note", "text": "   "}, "text", "must not be blank"),
        ({"action": "note", "text": "x", "occurred_at": "2026-11-02 09:00"}, "occurred_at", "RFC 3339"),
        ({"action": "escalate", "reason": "slow", "level": 0}, "level", "greater than or equal to 1"),
        ({"action": "note", "text": "x", "by": ""}, "by", "at least 1 character"),
        ({"action": "resolve", "resolution": "x", "occurred_at": "2026-11-04T09:00:01+08:00"}, "occurred_at", "in the future"),
    ],
)
def test_bad_action_input_is_refused_with_a_422_naming_the_field(
    hotline_complaint: Services, body: dict[str, Any], field: str, message_part: str
) -> None:
    refused = hotline_complaint.refused_action("K1", **body)

    assert (refused.status_code, fields(refused)) == (422, [field])
    assert message_part in refused.errors[0].message
    assert (refused.errors[0].index, refused.errors[0].event_id) == (None, None)  # one action, no batch, no key of the caller's


@pytest.mark.parametrize("satisfaction", [True, 4.0, "4", 0, 6])
def test_satisfaction_is_a_whole_number_from_1_to_5(hotline_complaint: Services, satisfaction: Any) -> None:
    hotline_complaint.act("K1", action="resolve", resolution="已退费")

    refused = hotline_complaint.refused_action("K1", action="follow_up", satisfaction=satisfaction)

    assert (refused.status_code, fields(refused)) == (422, ["satisfaction"])


def test_an_unknown_complaint_is_not_acted_on(services: Services) -> None:
    with pytest.raises(UnknownComplaint):
        services.act("K404", action="note", text="x")


def test_a_step_dated_before_the_opening_or_a_reopening_before_the_resolution_is_refused(
    hotline_complaint: Services,
) -> None:
    services = hotline_complaint
    early = services.refused_action("K1", action="resolve", resolution="已退费", occurred_at=at(-1))
    assert (early.status_code, fields(early)) == (409, ["occurred_at"])

    services.clock.advance(hours=6)
    services.act("K1", action="resolve", resolution="已退费", occurred_at=at(5))
    reopened_early = services.refused_action("K1", action="reopen", reason="x", occurred_at=at(4))
    assert (reopened_early.status_code, fields(reopened_early)) == (409, ["occurred_at"])
    assert "cannot be reopened before" in reopened_early.errors[0].message


# --- idempotency ------------------------------------------------------------------------------------


def test_a_retried_action_with_the_same_event_id_is_a_duplicate_even_when_its_time_defaulted_to_now(
    hotline_complaint: Services,
) -> None:
    services = hotline_complaint
    first = services.act("K1", action="start", event_id="desk-42")
    services.clock.advance(seconds=3)  # the retry comes later; its default time ("now") differs from the first

    again = services.act("K1", action="start", event_id="desk-42")

    assert (again.result, again.position, again.event_id) == ("duplicate", first.position, "desk-42")
    assert services.log.head_position() == first.position
    assert [type(e).TOPIC for e in steps(services)].count("complaint.started") == 1


def test_an_action_without_an_event_id_gets_a_new_one_each_time(hotline_complaint: Services) -> None:
    first = hotline_complaint.act("K1", action="note", text="客户来电")
    second = hotline_complaint.act("K1", action="note", text="客户来电")

    assert first.event_id != second.event_id and first.event_id.startswith("action-")
    assert (first.result, second.result) == ("recorded", "recorded")


def test_an_event_id_reused_for_a_different_action_is_a_conflict_not_a_duplicate(hotline_complaint: Services) -> None:
    hotline_complaint.act("K1", action="note", text="客户来电", event_id="desk-7")

    refused = hotline_complaint.refused_action("K1", action="start", event_id="desk-7")

    assert (refused.status_code, [(e.event_id, e.field) for e in refused.errors]) == (409, [("desk-7", "event_id")])
    assert hotline_complaint.complaint("K1").status == "acknowledged"


# --- the same facts posted as events by a channel -----------------------------------------------------


def test_channels_post_the_same_facts_through_the_event_api(hotline_complaint: Services) -> None:
    hotline_complaint.given(
        event("complaint.handed_over", {"msisdn": "13800138000"}, complaint_id="K1", to="noc-3", reason="network",
              by="agent-7", channel="hotline", occurred_at=at(1)),
        event("complaint.started", complaint_id="K1", by="noc-3", channel="technician", occurred_at=at(2)),
    )

    k1 = hotline_complaint.complaint("K1")
    assert (k1.status, k1.owner) == ("inProgress", "noc-3")


def test_a_complaint_is_opened_under_the_packaged_policy_for_the_customers_tier_and_severity(
    hotline_complaint: Services,
) -> None:
    k1 = hotline_complaint.complaint("K1")
    assert (k1.sla_policy, k1.tier, k1.severity) == ("cn-default-2026-12", "gold", "high")
    assert (k1.clock.allowance_s, k1.clock.warning_s) == (8 * 3600, 6 * 3600)
