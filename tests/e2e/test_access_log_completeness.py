"""Every read of personal data is in the access log, one entry per customer shown (issue 16, F2, F3, F10).

Each test reproduces a finding of the front-door probe: a read that answered with a customer's
data and left no access-log entry naming that customer, or an entry that kept a phone number.
Real keys, the app as served (no test override), both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import BOSS, Role
from helpers import complaint_opened, registered
from support.auth import bearer, new_key

NUMBER = "13800138000"


@pytest.fixture
def served(hub: ContactHub) -> Iterator[TestClient]:
    with TestClient(create_app(hub)) as client:
        boss, hotline = bearer(new_key(hub, Role.CHANNEL, channel=BOSS)), bearer(new_key(hub, Role.CHANNEL, channel="hotline"))
        assert client.post("/v1/events", json={"events": [registered("C1"), registered("C2", ("13900139000",))]},
                           headers=boss).status_code == 200
        opened = client.post("/v1/events", json={"events": [
            complaint_opened("K1"), complaint_opened("K2", {"customer_id": "C2"})]}, headers=hotline)
        assert opened.status_code == 200 and hub.projector.wait_for(opened.json()["position"], 5)
        yield client


def entries(hub: ContactHub, **where: Any) -> list[dict[str, Any]]:
    rows = hub.event_log.read_store.query("SELECT * FROM access_log ORDER BY at, entry_id")
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def test_a_complaint_action_answer_is_recorded_each_time_duplicates_too(served: TestClient, hub: ContactHub) -> None:
    """F2a: the action's answer carries the whole complaint; a duplicate's answer too, and stored nothing."""
    clerk = bearer(new_key(hub, Role.CLERK, "store-0571-03"))
    action = {"action": "note", "by": "store-0571-03", "channel": "store", "text": "到店询问", "event_id": "desk-note-1"}
    first = served.post("/v1/complaints/K1/actions", json=action, headers=clerk)
    again = served.post("/v1/complaints/K1/actions", json=action, headers=clerk)
    assert first.status_code == 201 and again.status_code == 200 and again.json()["result"] == "duplicate"
    assert again.json()["complaint"]["summary"]  # personal data in the answer ...
    recorded = entries(hub, customer_id="C1", path="/v1/complaints/K1/actions")
    assert [(e["method"], e["complaint_id"], e["key_name"]) for e in recorded] == [("POST", "K1", "store-0571-03")] * 2


def test_a_refused_desk_form_that_shows_the_page_again_is_recorded(served: TestClient, hub: ContactHub) -> None:
    """F2b: a refused form re-renders the whole customer page (name, numbers, complaints, contacts)."""
    clerk = new_key(hub, Role.CLERK, "store-0571-03")
    assert served.post("/desk/login", data={"key": clerk}, follow_redirects=False).status_code == 303
    before = len(entries(hub, customer_id="C1"))
    refused = served.post("/desk/complaints/K1/actions", data={
        "action": "resolve", "by": "store-0571-03", "channel": "store", "return_to": "/desk/customers/C1"})
    assert refused.status_code == 422 and "王芳" in refused.text
    recorded = entries(hub, customer_id="C1")[before:]
    assert [(e["method"], e["path"], e["complaint_id"]) for e in recorded] == [
        ("POST", "/desk/complaints/K1/actions", "K1")]


def test_lists_record_one_entry_per_customer_they_show(served: TestClient, hub: ContactHub) -> None:
    """F3: work queues and lists were recorded with customer_id null, invisible to access-log?customer_id=."""
    clerk = bearer(new_key(hub, Role.CLERK, "store-0571-03"))
    auditor = bearer(new_key(hub, Role.AUDITOR, "audit-li"))
    queue = served.get("/v1/complaints", params={"owner": "agent-7"}, headers=clerk)
    assert queue.status_code == 200 and {i["customer_id"] for i in queue.json()["items"]} == {"C1", "C2"}
    for customer in ("C1", "C2"):
        shown = served.get("/v1/access-log", params={"customer_id": customer}, headers=auditor).json()["items"]
        assert [(e["path"], e["query"]) for e in shown] == [("/v1/complaints", "owner=agent-7")]
    # an empty page names nobody; the request itself is still recorded
    served.get("/v1/complaints", params={"owner": "nobody"}, headers=clerk)
    assert len(entries(hub, path="/v1/complaints", query="owner=nobody")) == 1

    hotline = bearer(new_key(hub, Role.CHANNEL, "hotline-2", channel="hotline"))
    again = served.post("/v1/events", json={"events": [complaint_opened("K3")]}, headers=hotline).json()["position"]
    at_risk = served.get("/v1/customers/at-risk", params={"as_of": "2026-11-03T00:00:00+08:00", "min_position": again},
                         headers=clerk)
    listed = [c["customer_id"] for c in at_risk.json()["customers"]]
    assert at_risk.status_code == 200 and "C1" in listed
    recorded = [e["customer_id"] for e in entries(hub, path="/v1/customers/at-risk")]
    assert sorted(recorded, key=str) == sorted([None, *listed], key=str)  # the request, and each customer listed


def test_a_desk_search_that_finds_a_customer_is_recorded_with_the_number_masked(
    served: TestClient, hub: ContactHub
) -> None:
    """F3: `/desk?q=<msisdn>` answered with the customer's page address and left no entry."""
    clerk = new_key(hub, Role.CLERK, "store-0571-03")
    assert served.post("/desk/login", data={"key": clerk}, follow_redirects=False).status_code == 303
    found = served.get("/desk", params={"q": NUMBER}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == "/desk/customers/C1"
    assert [(e["path"], e["query"]) for e in entries(hub, customer_id="C1")] == [("/desk", "q=%2A")]
    assert served.get("/desk", params={"q": "13700000000"}, follow_redirects=False).status_code == 404


def test_numbers_typed_where_ids_belong_are_masked_in_the_access_log(served: TestClient, hub: ContactHub) -> None:
    """F10: numbers in path ids and in customer_id= or owner= were stored as sent and outlived an erasure."""
    clerk = bearer(new_key(hub, Role.CLERK, "store-0571-03"))
    assert served.get(f"/v1/customers/{NUMBER}", headers=clerk).status_code == 404
    assert served.get("/v1/complaints", params={"customer_id": NUMBER, "owner": "138 0013 8000"}, headers=clerk).status_code == 200
    assert served.get(f"/v1/complaints/{NUMBER}", headers=clerk).status_code == 404
    assert served.get("/v1/complaints", params={"owner": "agent-7", "page": "1"}, headers=clerk).status_code == 200
    rows = entries(hub)
    assert NUMBER not in str(rows) and "138 0013 8000" not in str(rows)
    assert [(e["path"], e["query"], e["customer_id"], e["complaint_id"]) for e in rows[:3]] == [
        ("/v1/customers/*", "", None, None),
        ("/v1/complaints", "customer_id=%2A&owner=%2A", None, None),
        ("/v1/complaints/*", "", None, None),
    ]
    assert rows[3]["query"] == "owner=agent-7&page=1"  # a staff id and a page number are kept as sent


def test_a_lookup_by_number_at_a_moment_is_recorded_with_the_customer_it_showed(served: TestClient, hub: ContactHub) -> None:
    """Issue 18: `?msisdn=&at=` shows whoever held the number then; the entry names that customer,
    whichever way the moment is written (lowercase `t` and `z` are accepted by the API too)."""
    clerk = bearer(new_key(hub, Role.CLERK, "store-0571-03"))
    for moment in ("2026-11-02T09:30:00+08:00", "2026-11-02t01:30:00z"):
        shown = served.get("/v1/customers", params={"msisdn": NUMBER, "at": moment}, headers=clerk)
        assert shown.status_code == 200 and shown.json()["customer_id"] == "C1"
    recorded = entries(hub, path="/v1/customers", key_name="store-0571-03")
    assert [e["customer_id"] for e in recorded] == ["C1", "C1"]


def test_a_merged_persons_view_records_every_record_it_shows(served: TestClient, hub: ContactHub) -> None:
    """A read of either record of a merged person shows both records' data: both are in the access log."""
    boss = bearer(new_key(hub, Role.CHANNEL, "boss-2", channel=BOSS))
    merge = {"event_id": "merge-1", "type": "customer.merged", "occurred_at": "2026-11-03T09:00:00+08:00",
             "customer_id": "C2", "survivor_id": "C1"}
    position = served.post("/v1/events", json={"events": [merge]}, headers=boss).json()["position"]
    clerk = bearer(new_key(hub, Role.CLERK, "store-0571-03"))
    assert served.get("/v1/customers/C2", params={"min_position": position}, headers=clerk).json()["customer_id"] == "C1"
    assert served.get("/v1/customers/C1/timeline", headers=clerk).status_code == 200
    for path in ("/v1/customers/C2", "/v1/customers/C1/timeline"):
        assert sorted(e["customer_id"] for e in entries(hub, path=path)) == ["C1", "C2"]

    # Found by review: a duplicate's complaint page shows the survivor's profile, and an order's journey
    # every record's touchpoints.
    order = {"event_id": "o-1", "type": "order.placed", "occurred_at": "2026-11-02T10:00:00+08:00",
             "customer_id": "C1", "order_id": "O1", "services": ["broadband"]}
    assert hub.projector.wait_for(served.post("/v1/events", json={"events": [order]}, headers=boss).json()["position"], 5)
    assert served.get("/v1/orders/O1/journey", headers=clerk).status_code == 200
    assert sorted((e["customer_id"] for e in entries(hub, path="/v1/orders/O1/journey")), key=str) == ["C1", "C2"]
    desk = new_key(hub, Role.CLERK, "store-0571-04")
    assert served.post("/desk/login", data={"key": desk}, follow_redirects=False).status_code == 303
    assert served.get("/desk/complaints/K2").status_code == 200  # K2 is C2's; the page shows C1's name
    assert sorted((e["customer_id"] for e in entries(hub, path="/desk/complaints/K2")), key=str) == ["C1", "C2"]
