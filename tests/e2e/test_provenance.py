"""Provenance (issue 16, F4): every stored event names the key that posted it, clerks act as themselves and now,
and a back-dated step cannot turn a recorded SLA breach into `met`.

The probe: a complaint breached for 19 days was resolved "by agent-0001 via hotline" with a store clerk's
key, back-dated to an hour after opening, and its SLA turned from `breached` to `met`; no event recorded
which key posted it. Real keys, the app as served, a controllable clock, both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import BOSS, Role
from helpers import complaint_opened, event, registered
from support.auth import bearer, new_key
from support.clock import ManualClock

START = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
CLERK = "store-0571-03"


class Desk:
    def __init__(self, hub: ContactHub, client: TestClient, clock: ManualClock) -> None:
        self.hub, self.client, self.clock = hub, client, clock
        self.keys = {
            "boss": new_key(hub, Role.CHANNEL, channel=BOSS),
            "hotline": new_key(hub, Role.CHANNEL, channel="hotline"),
            "clerk": new_key(hub, Role.CLERK, CLERK),
            "auditor": new_key(hub, Role.AUDITOR, "audit-li"),
        }

    def key_id(self, who: str) -> str:
        return self.keys[who].split("_")[1]

    def post(self, who: str, *events: dict[str, Any]) -> Any:
        answer = self.client.post("/v1/events", json={"events": list(events)}, headers=bearer(self.keys[who]))
        assert answer.status_code == 200, answer.text
        assert self.hub.projector.wait_for(answer.json()["position"], 5)
        return answer.json()

    def act(self, action: str, **fields: Any) -> Any:
        return self.client.post("/v1/complaints/K1/actions", json={"action": action, "channel": "store", **fields},
                                headers=bearer(self.keys["clerk"]))

    def complaint(self) -> dict[str, Any]:
        self.hub.projector.catch_up()
        return self.client.get("/v1/complaints/K1", headers=bearer(self.keys["clerk"])).json()  # type: ignore[no-any-return]

    def history(self) -> list[dict[str, Any]]:
        return self.client.get("/v1/customers/C1/history",  # type: ignore[no-any-return]
                               headers=bearer(self.keys["auditor"])).json()["events"]


@pytest.fixture
def desk(clocked_hub: ContactHub, clock: ManualClock) -> Iterator[Desk]:
    clock.set(START)
    with TestClient(create_app(clocked_hub)) as client:
        ready = Desk(clocked_hub, client, clock)
        ready.post("boss", registered("C1", tier="gold", occurred_at=START.isoformat()))
        ready.post("hotline", complaint_opened("K1", {"customer_id": "C1"}, severity="high",
                                               occurred_at=START.isoformat()))  # gold, high: 8 hours
        yield ready


def test_every_stored_event_names_the_key_that_posted_it_and_the_chain_covers_it(desk: Desk) -> None:
    desk.clock.advance(hours=1)
    assert desk.act("note", text="客户到厅询问进度").status_code == 201
    desk.clock.advance(hours=9)
    desk.hub.projector.catch_up()
    assert desk.hub.sla_watcher.run_once().breaches == 2  # a note is no answer: the first response is late too

    posted = [(item["type"], item["posted_by"]) for item in desk.history()]
    assert posted == [
        ("customer.registered", desk.key_id("boss")),
        ("complaint.opened", desk.key_id("hotline")),
        ("complaint.noted", desk.key_id("clerk")),
        *[("complaint.sla_warning", "contacthub"), ("complaint.sla_breached", "contacthub")] * 2,
    ]
    lines = desk.client.get("/v1/customers/C1/export", headers=bearer(desk.keys["auditor"])).content.splitlines()
    stored = [orjson.loads(orjson.loads(line)["state"]) for line in lines[1:]]
    assert [s.get("posted_by") for s in stored] == [p for _, p in posted]  # in the stored bytes the chain hashes
    verdict = desk.client.get("/v1/customers/C1/verify", headers=bearer(desk.keys["auditor"])).json()
    assert verdict["intact"] is True and verdict["events"] == 7, verdict


def test_a_clerk_acts_as_the_key_holder_and_now(desk: Desk) -> None:
    desk.clock.advance(hours=1)
    someone_else = desk.act("note", text="x", by="agent-0001")
    assert someone_else.status_code == 422 and someone_else.json()["errors"][0]["field"] == "by"
    an_hour_ago = desk.act("note", text="x", occurred_at=(desk.clock() - timedelta(hours=1)).isoformat())
    assert an_hour_ago.status_code == 422 and an_hour_ago.json()["errors"][0]["field"] == "occurred_at"
    in_the_future = desk.act("note", text="x", occurred_at=(desk.clock() + timedelta(minutes=10)).isoformat())
    assert in_the_future.status_code == 422
    assert desk.hub.event_log.head_position() == 2  # nothing stored

    two_minutes_ago = desk.act("note", text="刚才电话回访", occurred_at=(desk.clock() - timedelta(minutes=2)).isoformat())
    assert two_minutes_ago.status_code == 201, two_minutes_ago.text
    named = desk.act("note", text="再次回访", by=CLERK)
    assert named.status_code == 201
    notes = [h for h in desk.complaint()["history"] if h["type"] == "complaint.noted"]
    assert [(n["by"], n["at"]) for n in notes] == [
        (CLERK, (desk.clock() - timedelta(minutes=2)).isoformat()), (CLERK, desk.clock().isoformat())]


def test_a_back_dated_resolution_after_a_recorded_breach_leaves_the_sla_missed(desk: Desk) -> None:
    desk.clock.advance(days=19)
    desk.hub.projector.catch_up()
    assert desk.hub.sla_watcher.run_once().breaches == 2  # the first response and the resolution
    assert desk.complaint()["sla"]["state"] == "breached"

    # Through ContactHub's own API a clerk cannot back-date at all.
    back_dated = (START + timedelta(hours=1)).isoformat()
    refused = desk.act("resolve", resolution="已退费", occurred_at=back_dated)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "occurred_at"

    # A channel may deliver late, and its system names its agent: stored as it says, posted by the hotline's key ...
    desk.post("hotline", event("complaint.resolved", {"customer_id": "C1"}, complaint_id="K1", by="agent-0001",
                               channel="hotline", resolution="已退费", occurred_at=back_dated))
    complaint = desk.complaint()
    assert complaint["status"] == "resolved" and complaint["resolved_at"] == back_dated
    # ... but the breach ContactHub recorded stands: the SLA is missed, not met.
    assert complaint["sla"]["state"] == "missed" and complaint["sla"]["breach_recorded"] is True
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    totals = desk.client.get("/v1/metrics/complaints", params=period, headers=bearer(desk.keys["clerk"])).json()["totals"]
    assert (totals["sla"]["met"], totals["sla"]["missed"]) == (0, 1), totals
    assert desk.history()[-1]["posted_by"] == desk.key_id("hotline")


def test_a_late_delivered_resolution_recorded_before_any_breach_still_counts_as_met(desk: Desk) -> None:
    """The rule is about what ContactHub had recorded, not about lateness: a resolution the hotline delivers
    a day late, before the watcher recorded a breach, is judged on when it happened."""
    desk.clock.advance(days=1)
    desk.post("hotline", event("complaint.resolved", {"customer_id": "C1"}, complaint_id="K1", by="agent-7",
                               channel="hotline", resolution="已退费", occurred_at=(START + timedelta(hours=2)).isoformat()))
    assert desk.complaint()["sla"]["state"] == "met"
    desk.hub.projector.catch_up()
    assert desk.hub.sla_watcher.run_once().breaches == 0
