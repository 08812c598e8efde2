"""Late references over HTTP (issue 18, part 1, orders; docs/events.md §3.15): steps that come before
their order are linked when it comes, contradictions are listed by GET /v1/conflicts, and steps whose
order never comes are listed once past the horizon. Both backends.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi.testclient import TestClient

from contacthub.bootstrap import ContactHub
from helpers import event, posted, registered

C1 = {"customer_id": "C1"}


def at(day: int) -> str:
    return f"2026-10-{day:02d}T09:00:00+08:00"



def test_an_activation_before_its_order_counts_in_the_journey_and_a_contradiction_is_listed(
    client: TestClient, hub: ContactHub
) -> None:
    posted(client, registered("C1", occurred_at=at(1)))
    early = event("service.activated", C1, order_id="O1", service="broadband", occurred_at=at(6))
    foreign = event("service.activated", C1, order_id="O1", service="landline", occurred_at=at(7))
    posted(client, early, foreign)
    pending = client.get("/v1/orders/O1/journey")
    assert pending.status_code == 404  # no order yet

    position = posted(client, event("order.placed", C1, order_id="O1", services=["broadband", "iptv"],
                                    occurred_at=at(2)))

    journey = client.get("/v1/orders/O1/journey", params={"min_position": position}).json()
    assert (journey["state"], journey["activated"], journey["pending"]) == ("partiallyActivated", ["broadband"], ["iptv"])
    conflicts = client.get("/v1/conflicts", params={"min_position": position}).json()
    assert conflicts["conflict_total"] == 1 and conflicts["unresolved_total"] == 0
    [conflict] = conflicts["conflicts"]
    assert (conflict["customer_id"], conflict["reference_type"], conflict["reference"], conflict["step_event_id"],
            conflict["step_type"]) == ("C1", "order", "O1", foreign["event_id"], "service.activated")
    assert conflict["reason"] == "order O1 does not contain service 'landline' (it contains: broadband, iptv)"
    assert conflict["occurred_at"] == at(7)
    assert conflicts["unresolved_horizon_days"] == 7.0


def test_a_step_whose_order_never_comes_is_listed_past_the_horizon(client: TestClient, hub: ContactHub) -> None:
    posted(client, registered("C1", occurred_at=at(1)))
    orphan = event("order.cancelled", C1, order_id="O9", reason="客户取消", occurred_at=at(3))
    position = posted(client, orphan)

    assert client.get("/v1/conflicts", params={"min_position": position}).json()["unresolved_total"] == 0  # not yet
    later = hub.customers.conflicts(datetime.now(timezone.utc) + timedelta(days=1), 10)
    assert [(u["event_id"], u["reference"], u["step_type"]) for u in later["unresolved"]] == [
        (orphan["event_id"], "O9", "order.cancelled")]

    def read_models() -> list[Any]:
        store = hub.event_log.read_store
        return [store.query(f"SELECT * FROM {t} ORDER BY event_id") for t in ("rm_pending_step", "rm_order_conflict")]

    incremental = read_models()
    hub.projector.reset()
    hub.projector.catch_up()
    assert read_models() == incremental


def test_a_channel_may_not_use_the_late_prefix(client: TestClient) -> None:
    response = client.post("/v1/events", json={"events": [
        event("service.activated", C1, order_id="O1", service="mobile", event_id="late-link-x")]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "event_id"


def test_complaint_steps_before_the_opening_read_as_in_order_and_a_refused_one_is_listed(
    client: TestClient, hub: ContactHub
) -> None:
    posted(client, registered("C1", occurred_at=at(1)))
    steps = [
        event("complaint.started", C1, complaint_id="K1", by="agent-1", channel="hotline", occurred_at=at(4)),
        event("complaint.resolved", C1, complaint_id="K1", by="agent-1", channel="hotline", resolution="已退费",
              occurred_at=at(6)),
        event("complaint.reopened", C1, complaint_id="K1", by="agent-1", channel="hotline", reason="客户不满意",
              occurred_at=at(3)),  # before any resolution: the table refuses it
    ]
    posted(client, *steps)
    position = posted(client, event("complaint.opened", C1, complaint_id="K1", category="billing", severity="medium",
                                    summary="多扣费", channel="hotline", handled_by="agent-1", occurred_at=at(2)))

    complaint = client.get("/v1/complaints/K1", params={"min_position": position}).json()
    assert complaint["status"] == "resolved"
    assert [h["type"] for h in complaint["history"]] == ["complaint.opened", "complaint.started", "complaint.resolved"]
    conflicts = client.get("/v1/conflicts", params={"min_position": position}).json()
    assert [(c["reference_type"], c["reference"], c["step_event_id"]) for c in conflicts["conflicts"]] == [
        ("complaint", "K1", steps[2]["event_id"])]

    def read_models() -> list[Any]:
        store = hub.event_log.read_store
        return [store.query(f"SELECT * FROM {t} ORDER BY 1") for t in (
            "rm_complaint", "rm_complaint_event", "rm_complaint_pending_step", "rm_complaint_conflict")]

    incremental = read_models()
    hub.projector.reset()
    hub.projector.catch_up()
    assert read_models() == incremental


def test_an_activation_delivered_after_the_cancellation_it_precedes_counts_and_the_order_stays_cancelled(
    client: TestClient, hub: ContactHub
) -> None:
    posted(client, registered("C1", occurred_at=at(1)),
           event("order.placed", C1, order_id="O1", services=["broadband", "iptv"], occurred_at=at(2)))
    posted(client, event("order.cancelled", C1, order_id="O1", reason="地址无资源", occurred_at=at(10)))
    position = posted(client, event("service.activated", C1, order_id="O1", service="broadband", occurred_at=at(5)))

    journey = client.get("/v1/orders/O1/journey", params={"min_position": str(position)}).json()
    assert (journey["state"], journey["activated"], journey["pending"]) == ("cancelled", ["broadband"], [])
    view = client.get("/v1/customers/C1", params={"min_position": str(position)}).json()
    assert view["open_orders"] == []  # still cancelled
    assert [s["service"] for s in view["services"]] == ["broadband"]
    row = hub.event_log.read_store.query("SELECT status, activated FROM rm_order WHERE order_id = ?", ("O1",))
    assert row == [{"status": "cancelled", "activated": '["broadband"]'}]
