"""The clerk's working day at the desk (issue 20): open a complaint and log the visit at the counter, the
work queues (mine, my store, due soon / overdue, follow-ups), and the follow-up queue of the API.
Through the HTTP app on both backends; the same forms in a real browser: test_desk_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from helpers import complaint_opened, registered
from support.auth import allow_everything
from support.clock import ManualClock

CLERK = "store-0571-03"  # the tests' principal (support/auth.py)
SITES = f"""
[[site]]
name = "杭州西湖营业厅"
supervisor = "sup-HZ01"
staff = ["{CLERK}", "store-0571-04"]

[[site]]
name = "宁波天一营业厅"
supervisor = "sup-NB01"
staff = ["store-0574-01"]
"""
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def desk_hub(settings: Settings, tmp_path: Path) -> Iterator[tuple[ContactHub, ManualClock]]:
    sites = tmp_path / "sites.toml"
    sites.write_text(SITES, encoding="utf-8")
    clock = ManualClock(MONDAY)
    hub = build(Settings(**{**settings.__dict__, "sites": str(sites)}), clock=clock)
    try:
        yield hub, clock
    finally:
        hub.close()


@pytest.fixture
def desk(desk_hub: tuple[ContactHub, ManualClock]) -> Iterator[TestClient]:
    with TestClient(allow_everything(create_app(desk_hub[0]))) as client:
        yield client


def given(hub: ContactHub, *events: dict[str, Any]) -> None:
    hub.ingest.ingest(list(events))
    hub.projector.catch_up()


def head(hub: ContactHub) -> int:
    return hub.event_log.head_position()


def form(client: TestClient, path: str, **fields: str) -> Any:
    return client.post(path, data=fields, follow_redirects=False)


def queue_ids(client: TestClient, view: str) -> list[str]:
    page = client.get("/desk/queue", params={"view": view})
    assert page.status_code == 200
    return re.findall(r'<tr data-complaint-id="([^"]+)"', page.text)


# --- at the counter ------------------------------------------------------------------------------


def test_a_clerk_opens_a_complaint_for_the_customer_in_view_and_owns_it(
    desk: TestClient, desk_hub: tuple[ContactHub, ManualClock]
) -> None:
    hub, _ = desk_hub
    given(hub, registered("C1", tier="gold", occurred_at=(MONDAY - timedelta(days=30)).isoformat()))
    page = desk.get("/desk/customers/C1")
    assert 'data-testid="counter"' in page.text
    key = re.search(r'data-form="open".*?name="event_id" value="([^"]+)"', page.text, re.DOTALL)
    assert key is not None

    fields = {"category": "计费争议", "severity": "high", "summary": "客户到厅反映本月多扣 30 元", "event_id": key.group(1)}
    answer = form(desk, "/desk/customers/C1/complaints", **fields)

    assert answer.status_code == 303
    complaint_id = answer.headers["location"].rsplit("/", 1)[1]
    opened = hub.complaints.complaint(complaint_id)
    assert opened is not None
    assert (opened["customer_id"], opened["owner"], opened["opened_channel"], opened["category"], opened["severity"]) == (
        "C1", CLERK, "store", "计费争议", "high")
    assert opened["first_response"] is not None and opened["sla"]["policy"] == "cn-default-2026-12"
    shown = desk.get(answer.headers["location"])
    assert complaint_id in shown.text and "客户到厅反映本月多扣 30 元" in shown.text and 'data-testid="flash"' in shown.text

    # The same form sent again (a double click, a reload) opens no second complaint
    position = head(hub)
    again = form(desk, "/desk/customers/C1/complaints", **fields)
    assert again.headers["location"] == answer.headers["location"]
    assert head(hub) == position
    assert [c["complaint_id"] for c in hub.complaints.for_customer("C1")] == [complaint_id]


def test_a_complaint_form_with_a_missing_field_is_shown_again_naming_it_and_stores_nothing(
    desk: TestClient, desk_hub: tuple[ContactHub, ManualClock]
) -> None:
    hub, _ = desk_hub
    given(hub, registered("C1", occurred_at=(MONDAY - timedelta(days=30)).isoformat()))
    position = head(hub)

    answer = form(desk, "/desk/customers/C1/complaints", category="网络质量", severity="medium", summary="  ",
                  event_id="desk-form-1")

    assert answer.status_code == 422
    assert 'data-testid="counter-error"' in answer.text and 'data-field="summary"' in answer.text
    assert 'value="网络质量"' in answer.text  # what the clerk typed is kept
    assert head(hub) == position
    assert form(desk, "/desk/customers/NOBODY/visits", reason="咨询", outcome="resolved",
                event_id="desk-form-2").status_code == 404


def test_a_clerk_logs_the_store_visit_at_their_site(desk: TestClient, desk_hub: tuple[ContactHub, ManualClock]) -> None:
    hub, _ = desk_hub
    given(hub, registered("C1", occurred_at=(MONDAY - timedelta(days=30)).isoformat()),
          complaint_opened("K1", {"customer_id": "C1"}, occurred_at=MONDAY.isoformat()))

    answer = form(desk, "/desk/customers/C1/visits", reason="催办投诉", outcome="transferred", complaint_id="K1",
                  event_id="desk-visit-1")

    assert (answer.status_code, answer.headers["location"]) == (303, "/desk/customers/C1")
    contacts = hub.customers.latest_contacts("C1", 10)
    visit = next(c for c in contacts if c["channel"] == "store")
    assert (visit["handled_by"], visit["site"], visit["reason"], visit["outcome"], visit["complaint_id"]) == (
        CLERK, "杭州西湖营业厅", "催办投诉", "transferred", "K1")
    assert visit["direction"] == "inbound"
    complaint = hub.complaints.complaint("K1")
    assert complaint is not None and any(c["channel"] == "store" for c in complaint["related_contacts"])


# --- queues --------------------------------------------------------------------------------------


def open_owned(hub: ContactHub, complaint_id: str, customer_id: str, owner: str, severity: str = "medium") -> None:
    given(hub, registered(customer_id, msisdns=(f"1390000{customer_id[-4:]:0>4}",), tier="gold",
                          occurred_at=(MONDAY - timedelta(days=30)).isoformat()),
          complaint_opened(complaint_id, {"customer_id": customer_id}, severity=severity, occurred_at=MONDAY.isoformat(),
                           handled_by=owner, channel="store"))


def test_the_queues_list_mine_my_stores_and_what_is_due(desk: TestClient, desk_hub: tuple[ContactHub, ManualClock]) -> None:
    hub, clock = desk_hub
    open_owned(hub, "K-MINE", "C0001", CLERK, severity="high")  # gold high: 8 hours
    open_owned(hub, "K-COLLEAGUE", "C0002", "store-0571-04", severity="low")  # gold low: 48 hours
    open_owned(hub, "K-NINGBO", "C0003", "store-0574-01", severity="high")

    assert queue_ids(desk, "mine") == ["K-MINE"]
    assert queue_ids(desk, "store") == ["K-MINE", "K-COLLEAGUE"]  # soonest deadline first
    assert queue_ids(desk, "due") == []
    clock.set(MONDAY + timedelta(hours=7))  # past the warning share of 8 hours
    assert queue_ids(desk, "due") == ["K-MINE"]
    clock.set(MONDAY + timedelta(hours=40))
    assert queue_ids(desk, "due") == ["K-MINE", "K-COLLEAGUE"]  # overdue, and due soon


def test_the_follow_up_queue_lists_a_resolved_complaint_until_its_follow_up(
    desk: TestClient, desk_hub: tuple[ContactHub, ManualClock]
) -> None:
    hub, clock = desk_hub
    open_owned(hub, "K1", "C0001", CLERK)
    hub.complaint_actions.take("K1", {"action": "resolve", "resolution": "已退费", "by": CLERK, "channel": "store"})
    hub.projector.catch_up()

    assert queue_ids(desk, "followup") == ["K1"]
    api = desk.get("/v1/complaints", params={"followup": "due"}).json()
    assert [i["complaint_id"] for i in api["items"]] == ["K1"]
    assert api["items"][0]["follow_up"]["state"] == "due"
    assert desk.get("/v1/complaints", params={"followup": "overdue"}).json()["items"] == []

    clock.set(MONDAY + timedelta(days=4))  # the packaged policy gives two working days
    assert [i["complaint_id"] for i in desk.get("/v1/complaints", params={"followup": "overdue"}).json()["items"]] == ["K1"]
    page = desk.get("/desk/complaints/K1")
    assert 'data-testid="follow-up" data-state="overdue"' in page.text
    figures = desk.get("/v1/metrics/complaints", params={"from": "2026-11-01", "to": "2026-11-30"}).json()["totals"]
    assert figures["follow_up"] == {"waiting": 1, "overdue": 1, "made": 0}

    hub.complaint_actions.take("K1", {"action": "follow_up", "satisfaction": 4, "by": CLERK, "channel": "hotline"})
    hub.projector.catch_up()
    assert queue_ids(desk, "followup") == []
    assert desk.get("/v1/complaints", params={"followup": "due"}).json()["items"] == []
    figures = desk.get("/v1/metrics/complaints", params={"from": "2026-11-01", "to": "2026-11-30"}).json()["totals"]
    assert figures["follow_up"] == {"waiting": 0, "overdue": 0, "made": 1}


def test_a_clerk_the_directory_does_not_know_has_no_store_queue(client: TestClient, hub: ContactHub) -> None:
    page = client.get("/desk/queue", params={"view": "store"})
    assert page.status_code == 200 and 'data-testid="no-site"' in page.text
    assert client.get("/desk/queue", params={"view": "mine"}).status_code == 200


def test_a_counter_form_posted_from_another_site_is_refused_and_stores_nothing(
    desk: TestClient, desk_hub: tuple[ContactHub, ManualClock]
) -> None:
    hub, _ = desk_hub
    given(hub, registered("C1", occurred_at=(MONDAY - timedelta(days=30)).isoformat()))
    position = head(hub)
    for path, fields in (("/desk/customers/C1/complaints", {"category": "x", "severity": "low", "summary": "y"}),
                         ("/desk/customers/C1/visits", {"reason": "x", "outcome": "resolved"})):
        answer = desk.post(path, data={**fields, "event_id": "desk-x"}, headers={"Origin": "https://elsewhere.example"},
                           follow_redirects=False)
        assert answer.status_code == 403
    assert head(hub) == position
