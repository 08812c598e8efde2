"""Complaints through the HTTP API: one-point acceptance, first-contact ownership, the lifecycle, work queues.

Every test runs on SQLite and on PostgreSQL. Times are given in the operator's zone
(Asia/Shanghai) starting Monday 2026-11-02 09:00, the ManualClock's start. The rules of the
lifecycle (transitions, ownership, escalation, reopening, refusals and the field each names,
retries) are specified on ComplaintActions in tests/unit/test_complaint_actions.py; here is how
the API maps them (201/200, 409, 422, 404) and what the complaint read model and work queues show.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from contacthub.bootstrap import ContactHub
from helpers import complaint_opened, contact, registered

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


def at(hours: float) -> str:
    return (START + timedelta(hours=hours)).isoformat()


def recorded(client: TestClient, *events: Any) -> int:
    response = client.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    return int(response.json()["position"])


def act(client: TestClient, complaint_id: str, expected: int = 201, **body: Any) -> dict[str, Any]:
    body = {"by": "store-0571-03", "channel": "store", **body}
    response = client.post(f"/v1/complaints/{complaint_id}/actions", json=body)
    assert response.status_code == expected, response.text
    return dict(response.json())


def complaint(client: TestClient, complaint_id: str, min_position: int | None = None) -> dict[str, Any]:
    params = {"min_position": min_position} if min_position is not None else {}
    response = client.get(f"/v1/complaints/{complaint_id}", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def head(hub: ContactHub) -> int:
    return hub.event_log.head_position()


@pytest.fixture
def hotline_complaint(clocked_client: TestClient, clocked_hub: ContactHub) -> TestClient:
    """王芳 (gold) calls the hotline about her bill; agent-7 takes complaint K1 (high severity: 8 hours).

    The read models have applied it when the test starts (a test that reads without min_position
    would otherwise race the projector)."""
    position = recorded(
        clocked_client,
        registered("C1", ("13800138000",), tier="gold", occurred_at=at(-24 * 30)),
        contact({"msisdn": "13800138000"}, channel="hotline", handled_by="agent-7", reason="billing_dispute",
                complaint_id="K1", occurred_at=at(0)),
        complaint_opened("K1", {"msisdn": "13800138000"}, channel="hotline", handled_by="agent-7", severity="high",
                         occurred_at=at(0)),
    )
    assert clocked_hub.projector.wait_for(position, 5)
    return clocked_client


def test_a_hotline_complaint_is_seen_and_acted_on_at_a_store_and_stays_with_its_first_owner(
    hotline_complaint: TestClient, clock: Any
) -> None:
    client = hotline_complaint
    # Two days later the customer walks into a store and asks; the clerk logs the visit
    clock.advance(hours=48)
    visit = contact({"msisdn": "13800138000"}, channel="store", handled_by="store-0571-03", site="杭州文三路营业厅",
                    reason="complaint_follow_up", complaint_id="K1", occurred_at=at(48))
    recorded(client, visit)

    # and notes on the complaint what she said
    answer = act(client, "K1", action="note", text="客户到厅询问进度，已告知正在核实。")

    seen = answer["complaint"]
    assert answer["result"] == "recorded"
    assert seen["status"] == "acknowledged"
    assert seen["owner"] == "agent-7"  # 首问负责: a note from another channel does not take ownership
    assert [o["owner"] for o in seen["ownership_history"]] == ["agent-7"]
    note = seen["history"][-1]
    assert (note["type"], note["by"], note["channel"], note["reason"]) == (
        "complaint.noted", "store-0571-03", "store", "客户到厅询问进度，已告知正在核实。"
    )
    assert note["at"] == at(48)
    # every contact about it, in every channel, in event-time order
    assert [(c["channel"], c["handled_by"]) for c in seen["related_contacts"]] == [
        ("hotline", "agent-7"), ("store", "store-0571-03")
    ]
    # and its time limit: 8 hours for a gold customer's high-severity complaint, long past
    assert seen["sla"]["state"] == "breached"
    assert seen["sla"]["deadline"] == at(8)
    assert seen["sla"]["overdue_s"] == 40 * 3600


def test_an_illegal_action_is_refused_with_the_status_and_the_allowed_actions_and_nothing_is_stored(
    hotline_complaint: TestClient, clocked_hub: ContactHub
) -> None:
    before = head(clocked_hub)

    refused = act(hotline_complaint, "K1", 409, action="follow_up", satisfaction=5)

    assert refused["errors"] == [
        {
            "field": "action",
            "message": "complaint K1 is acknowledged; 'follow_up' is not allowed "
            "(allowed: acknowledge, start, pend, hold, handover, escalate, resolve, cancel, reject, note, link)",
        }
    ]
    assert head(clocked_hub) == before
    assert complaint(hotline_complaint, "K1")["status"] == "acknowledged"


# Which action input is refused, naming which field: tests/unit/test_complaint_actions.py. Here the
# refusals the HTTP body model decides itself (the action's and the channel's vocabulary), and one the
# service decides, each a 422 naming the field.
@pytest.mark.parametrize(
    ("body", "field", "message_part"),
    [
        ({"action": "pend"}, "reason", "Field required"),
        ({"action": "fix"}, "action", "Input should be"),
        ({"action": "note", "text": "x", "channel": "fax"}, "channel", "Input should be"),
    ],
)
def test_bad_action_input_gets_a_422_naming_the_field_and_stores_nothing(
    hotline_complaint: TestClient, clocked_hub: ContactHub, body: dict[str, Any], field: str, message_part: str
) -> None:
    before = head(clocked_hub)

    errors = act(hotline_complaint, "K1", 422, **body)["errors"]

    assert [e["field"] for e in errors] == [field], errors
    assert message_part in errors[0]["message"]
    assert head(clocked_hub) == before


def test_an_unknown_complaint_is_404(hotline_complaint: TestClient) -> None:
    assert act(hotline_complaint, "K404", 404, action="note", text="x")["errors"][0]["field"] == "complaint_id"
    assert hotline_complaint.get("/v1/complaints/K404").status_code == 404


def test_a_retried_action_with_the_same_event_id_is_a_duplicate(
    hotline_complaint: TestClient, clocked_hub: ContactHub, clock: Any
) -> None:
    first = act(hotline_complaint, "K1", action="start", event_id="desk-42")
    clock.advance(seconds=3)  # the retry comes later; its default time ("now") differs from the first
    again = act(hotline_complaint, "K1", 200, action="start", event_id="desk-42")

    assert (again["result"], again["position"]) == ("duplicate", first["position"])
    assert head(clocked_hub) == first["position"]
    assert [h["type"] for h in complaint(hotline_complaint, "K1")["history"]].count("complaint.started") == 1


def test_handover_moves_ownership_with_its_reason_and_a_handover_to_the_owner_is_refused(
    hotline_complaint: TestClient,
) -> None:
    client = hotline_complaint
    act(client, "K1", 409, action="handover", to="agent-7", reason="no-op")  # already the owner

    handed = act(client, "K1", action="handover", to="billing-backoffice-2", reason="需账务后台核实", by="agent-7",
                 channel="hotline")["complaint"]

    assert handed["owner"] == "billing-backoffice-2"
    assert handed["ownership_history"][1] == {
        "owner": "billing-backoffice-2", "from_owner": "agent-7", "since": handed["history"][-1]["at"],
        "by": "agent-7", "channel": "hotline", "reason": "需账务后台核实", "type": "complaint.handed_over",
    }
    assert handed["status"] == "acknowledged"  # a handover changes who, not where it stands


def test_the_whole_lifecycle_keeps_every_status_change_with_who_when_where_and_why(
    hotline_complaint: TestClient, clock: Any
) -> None:
    client = hotline_complaint
    steps = [
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
    for body, status in steps:
        clock.advance(hours=1)
        assert act(client, "K1", **body)["complaint"]["status"] == status

    seen = complaint(client, "K1")
    changes = [(c["from_status"], c["status"], c["type"]) for c in seen["status_change_history"]]
    assert changes == [
        (None, "acknowledged", "complaint.opened"),
        ("acknowledged", "inProgress", "complaint.started"),
        ("inProgress", "held", "complaint.held"),
        ("held", "inProgress", "complaint.resumed"),
        ("inProgress", "pending", "complaint.pended"),
        ("pending", "inProgress", "complaint.escalated"),
        ("inProgress", "resolved", "complaint.resolved"),
        ("resolved", "inProgress", "complaint.reopened"),
        ("inProgress", "resolved", "complaint.resolved"),
        ("resolved", "closed", "complaint.closed"),
    ]
    assert all(c["by"] and c["channel"] and c["at"] for c in seen["status_change_history"])
    assert seen["status_change_history"][4]["reason"] == "请客户提供账单截图"
    assert (seen["escalation_level"], seen["reopen_count"], seen["satisfaction"]) == (1, 1, 4)
    assert seen["sla"]["clock"] == 2  # the reopening started a new clock
    # closed is final: only a note is still possible
    assert seen["allowed_actions"] == ["note"]
    act(client, "K1", 409, action="reopen", reason="again")


# --- work queues --------------------------------------------------------------------------


@pytest.fixture
def queue_client(clocked_client: TestClient, clock: Any) -> TestClient:
    """Four complaints of three customers, opened an hour apart, in different states at START + 10 h."""
    recorded(
        clocked_client,
        registered("C1", ("13800138000",), tier="gold"),
        registered("C2", ("13900139000",), tier="ordinary"),
        registered("C3", ("13700137000",), tier="diamond"),
        # gold/high: 8 h allowance, opened at 0 -> breached at 10 h
        complaint_opened("K1", {"customer_id": "C1"}, severity="high", handled_by="agent-7", occurred_at=at(0)),
        # ordinary/medium: 72 h -> on track
        complaint_opened("K2", {"customer_id": "C2"}, severity="medium", channel="store", handled_by="store-1",
                         occurred_at=at(1)),
        # diamond/low: 24 h, opened at 2 -> 75 % (18 h) not reached at 10 h; pending at 3 h -> paused
        complaint_opened("K3", {"customer_id": "C3"}, severity="low", channel="app", handled_by="agent-7",
                         occurred_at=at(2)),
        # gold/medium: 24 h, opened at -9 -> 19 h elapsed at 10 h: due soon
        complaint_opened("K4", {"customer_id": "C1"}, severity="medium", handled_by="agent-9", occurred_at=at(-9)),
    )
    clock.set(START + timedelta(hours=3))
    act(clocked_client, "K3", action="pend", reason="等客户回电", by="agent-7", channel="hotline")
    clock.set(START + timedelta(hours=10))
    return clocked_client


def queue(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/complaints", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(page: dict[str, Any]) -> list[str]:
    return [c["complaint_id"] for c in page["items"]]


def test_work_queues_filter_by_sla_status_owner_tier_and_channel_newest_first(queue_client: TestClient) -> None:
    client = queue_client
    assert ids(queue(client)) == ["K3", "K2", "K1", "K4"]  # newest opened first
    assert ids(queue(client, sort="deadline")) == ["K1", "K4", "K2", "K3"]  # paused (no deadline) last
    assert ids(queue(client, sla="breached")) == ["K1"]
    assert ids(queue(client, sla="due_soon")) == ["K4"]
    assert ids(queue(client, sla="paused")) == ["K3"]
    assert ids(queue(client, sla="on_track")) == ["K2"]
    assert ids(queue(client, owner="agent-7")) == ["K3", "K1"]
    assert ids(queue(client, tier="gold")) == ["K1", "K4"]
    assert ids(queue(client, channel="store")) == ["K2"]
    assert ids(queue(client, status="pending")) == ["K3"]
    assert ids(queue(client, status=["pending", "acknowledged"], owner="agent-7")) == ["K3", "K1"]
    assert ids(queue(client, customer_id="C1")) == ["K1", "K4"]
    states = {c["complaint_id"]: c["sla"]["state"] for c in queue(client)["items"]}
    assert states == {"K1": "breached", "K2": "on_track", "K3": "paused", "K4": "due_soon"}


def test_a_resolved_complaint_leaves_the_open_queues(queue_client: TestClient) -> None:
    act(queue_client, "K1", action="resolve", resolution="已退费")

    assert ids(queue(queue_client, status="open")) == ["K3", "K2", "K4"]
    assert ids(queue(queue_client, sla="breached")) == []
    [k1] = queue(queue_client, status="resolved")["items"]
    assert k1["sla"]["state"] == "missed"


def test_work_queues_are_paged(queue_client: TestClient) -> None:
    first = queue(queue_client, page_size=3)
    second = queue(queue_client, page_size=3, page=2)

    assert (first["total"], second["total"]) == (4, 4)
    assert ids(first) + ids(second) == ["K3", "K2", "K1", "K4"]
    assert queue(queue_client, page=3, page_size=3)["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "opened"}, "status.0"),
        ({"sla": "late"}, "sla"),
        ({"tier": "platinum"}, "tier"),
        ({"page": 0}, "page"),
        ({"page_size": 101}, "page_size"),
        ({"sort": "random"}, "sort"),
    ],
)
def test_bad_queue_filters_get_a_422_naming_the_parameter(
    queue_client: TestClient, params: dict[str, Any], field: str
) -> None:
    response = queue_client.get("/v1/complaints", params=params)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


# The HTTP body model refuses these itself (a lax integer would pass 4.0 and "4" on as 4); the service's
# own refusal of them: tests/unit/test_complaint_actions.py.
@pytest.mark.parametrize("satisfaction", [True, 4.0, "4"])
def test_satisfaction_must_be_a_whole_number(hotline_complaint: TestClient, satisfaction: Any) -> None:
    act(hotline_complaint, "K1", action="resolve", resolution="已退费")

    errors = act(hotline_complaint, "K1", 422, action="follow_up", satisfaction=satisfaction)["errors"]

    assert [e["field"] for e in errors] == ["satisfaction"]


