"""Merged customers over HTTP (issue 18, part 4; docs/events.md §3.16): reads of either record answer
the survivor's unified view, what is posted while merged stays on the record it was posted to, and an
unmerge gives back each record as it was. Both backends.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from contacthub.bootstrap import ContactHub
from helpers import complaint_opened, contact, event, posted, registered

SURVIVOR, DUPLICATE = "C1", "C2"
A, B = "13800138000", "13900139000"


def at(day: int, hour: int = 9) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00+08:00"


def merged(duplicate: str = DUPLICATE, survivor: str = SURVIVOR, day: int = 10) -> dict[str, Any]:
    return event("customer.merged", {"customer_id": duplicate}, survivor_id=survivor, occurred_at=at(day))


def unmerged(duplicate: str = DUPLICATE, survivor: str = SURVIVOR, day: int = 20) -> dict[str, Any]:
    return event("customer.unmerged", {"customer_id": duplicate}, survivor_id=survivor, occurred_at=at(day))


def view(client: TestClient, customer_id: str, position: int) -> Any:
    response = client.get(f"/v1/customers/{customer_id}", params={"min_position": str(position)})
    assert response.status_code == 200, response.text
    return response.json()


def two_records(client: TestClient) -> int:
    """One person, two records: C1 (number A, an order) and C2 (number B, a complaint, two calls)."""
    return posted(
        client,
        registered(SURVIVOR, (A,), occurred_at=at(1), tier="gold"),
        registered(DUPLICATE, (B,), occurred_at=at(2), tier="ordinary", name="王芳（门店）"),
        event("order.placed", {"customer_id": SURVIVOR}, order_id="O1", services=["broadband", "iptv"],
              occurred_at=at(3)),
        contact({"msisdn": A}, occurred_at=at(4)),
        contact({"msisdn": B}, occurred_at=at(5), channel="store", handled_by="clerk-3"),
        contact({"msisdn": B}, occurred_at=at(6)),
        complaint_opened("K2", {"msisdn": B}, occurred_at=at(6, 10)),
    )


def test_either_id_and_either_number_answer_the_survivors_unified_view(client: TestClient) -> None:
    alone = view(client, DUPLICATE, two_records(client))
    position = posted(client, merged())

    for asked in (SURVIVOR, DUPLICATE):
        body = view(client, asked, position)
        assert body["customer_id"] == SURVIVOR
        assert body["redirected_from"] == (DUPLICATE if asked == DUPLICATE else None)
        assert body["merged_records"] == [{"customer_id": DUPLICATE, "merged_at": at(10)}]
        assert (body["tier"], body["msisdns"]) == ("gold", [A, B])
        assert body["contact_count"] == 3 and body["contact_counts"] == {"hotline": 2, "store": 1}
        assert [c["complaint_id"] for c in body["open_complaints"]] == ["K2"]
        assert [o["order_id"] for o in body["open_orders"]] == ["O1"]
    by_number = client.get("/v1/customers", params={"msisdn": B, "min_position": str(position)}).json()
    assert (by_number["customer_id"], by_number["contact_count"]) == (SURVIVOR, 3)
    timeline = client.get(f"/v1/customers/{DUPLICATE}/timeline").json()
    assert [i["occurred_at"] for i in timeline["items"]] == [at(4), at(5), at(6)]
    assert alone["customer_id"] == DUPLICATE and alone["merged_records"] == [] and alone["redirected_from"] is None


def test_what_is_posted_while_merged_shows_on_the_survivor_and_stays_on_its_record(
    client: TestClient, hub: ContactHub
) -> None:
    two_records(client)
    posted(client, merged())
    call = contact({"msisdn": B}, occurred_at=at(12))
    visit = contact({"customer_id": DUPLICATE}, occurred_at=at(13), channel="technician", handled_by="tech-1",
                    order_id="O1")
    # C1's step of C2's complaint: the complaint is the person's; it is recorded on C2, where the complaint is.
    acknowledged = event("complaint.acknowledged", {"customer_id": SURVIVOR}, complaint_id="K2", occurred_at=at(12, 10))
    activation = event("service.activated", {"customer_id": DUPLICATE}, order_id="O1", service="broadband",
                       occurred_at=at(14))
    position = posted(client, call, visit, acknowledged, activation)

    body = view(client, SURVIVOR, position)
    assert body["contact_count"] == 5
    assert [c["status"] for c in body["open_complaints"]] == ["acknowledged"]
    assert [(o["order_id"], o["activated"]) for o in body["open_orders"]] == [("O1", ["broadband"])]
    journey = client.get("/v1/orders/O1/journey").json()
    # every record's touchpoints from the placing (day 3) to now: the calls on 4, 6 and 12, the store visit, the technician
    assert (journey["calls_to_activation"], journey["contacts_to_activation"],
            journey["technician_visits_to_activation"]) == (3, 5, 1)
    stored = {row["event_id"].split("/")[-1]: row["customer_id"] for row in hub.event_log.read_store.query(
        "SELECT event_id, customer_id FROM ingest_keys")}
    assert stored[call["event_id"]] == stored[visit["event_id"]] == DUPLICATE
    assert stored[acknowledged["event_id"]] == DUPLICATE  # where K2 is
    assert stored[activation["event_id"]] == SURVIVOR  # where O1 is


def test_an_unmerge_gives_back_each_record_as_it_was(client: TestClient) -> None:
    written = two_records(client)
    before = {c: view(client, c, written) for c in (SURVIVOR, DUPLICATE)}
    posted(client, merged())
    position = posted(client, unmerged())

    def timeless(body: dict[str, Any]) -> dict[str, Any]:  # what the passing of time changes is left out
        orders = [{**o, "age_s": None} for o in body["open_orders"]]
        complaints = [{**c, "sla": None} for c in body["open_complaints"]]  # its clock runs on
        return {**body, "position": 0, "churn_risk": None, "open_orders": orders, "open_complaints": complaints}

    for customer_id in (SURVIVOR, DUPLICATE):
        assert timeless(view(client, customer_id, position)) == timeless(before[customer_id])
    assert client.get("/v1/orders", params={"customer_id": DUPLICATE}).json()["total"] == 0


def test_merge_rules_refuse_chains_self_merges_and_strangers(client: TestClient) -> None:
    two_records(client)
    posted(client, registered("C3", ("13700137000",), occurred_at=at(2)))

    def refused(*events: Any) -> tuple[int, list[tuple[str, str]]]:
        response = client.post("/v1/events", json={"events": list(events)})
        return response.status_code, [(e["field"], e["message"]) for e in response.json()["errors"]]

    assert refused(merged(DUPLICATE, DUPLICATE)) == (409, [("survivor_id", "customer C2 cannot be merged into itself")])
    assert refused(merged(DUPLICATE, "C9")) == (409, [("survivor_id", "customer C9 is not registered")])
    assert refused(unmerged()) == (409, [("survivor_id", "customer C2 is not merged into C1 (it is not merged)")])
    posted(client, merged())
    assert refused(merged(DUPLICATE, "C3")) == (409, [("customer_id", "customer C2 is already merged into C1")])
    assert refused(merged("C3", DUPLICATE)) == (
        409, [("survivor_id", "customer C2 is itself merged into C1: merge into C1")])
    assert refused(merged(SURVIVOR, "C3")) == (409, [("customer_id", (
        "customers C2 are merged into customer C1: merge them into C3 directly, or unmerge them first"))])
    assert refused(unmerged(DUPLICATE, "C3")) == (
        409, [("survivor_id", "customer C2 is not merged into C3 (it is merged into C1)")])
    malformed = client.post("/v1/events", json={"events": [
        event("customer.merged", {"customer_id": DUPLICATE}, occurred_at=at(9))]})
    assert malformed.status_code == 422
    assert [e["field"] for e in malformed.json()["errors"]] == ["survivor_id"]


def test_erasing_a_merged_record_erases_the_whole_person(client: TestClient, hub: ContactHub) -> None:
    two_records(client)
    posted(client, merged())
    erased = client.post(f"/v1/customers/{DUPLICATE}/erasure", json={"reason": "客户要求删除个人信息"})
    assert erased.status_code == 200, erased.text
    position = erased.json()["position"]
    body = view(client, SURVIVOR, position)
    assert body["name"] == "[erased]" and body["msisdns"] == [] and body["erased_at"] is not None
    assert view(client, DUPLICATE, position)["customer_id"] == SURVIVOR
    for customer_id in (SURVIVOR, DUPLICATE):
        history = client.get(f"/v1/customers/{customer_id}/history").json()
        assert history["events"][-1]["type"] == "customer.erased"
    refused = client.post("/v1/events", json={"events": [unmerged(day=21)]})
    assert refused.status_code == 409


def test_the_desk_shows_the_merge_on_either_records_page(client: TestClient, hub: ContactHub) -> None:
    two_records(client)
    position = posted(client, merged())
    assert hub.projector.wait_for(position, 5)
    duplicate_page = client.get(f"/desk/customers/{DUPLICATE}")
    assert duplicate_page.status_code == 200
    assert 'data-testid="redirected"' in duplicate_page.text and "已合并至 C1" in duplicate_page.text
    survivor_page = client.get(f"/desk/customers/{SURVIVOR}").text
    assert 'data-testid="merged-records"' in survivor_page and "C2（合并于 2026-11-10 09:00" in survivor_page
    assert 'data-complaint-id="K2"' in survivor_page  # C2's complaint, on the person's page
    assert 'data-testid="redirected"' not in survivor_page
    by_number = client.get("/desk", params={"q": B}, follow_redirects=False)
    assert by_number.headers["location"] == f"/desk/customers/{DUPLICATE}"


def test_replay_shows_each_record_and_its_identity_as_they_were_then(client: TestClient) -> None:
    written = two_records(client)
    merge_at = posted(client, merged())
    unmerge_at = posted(client, unmerged())

    def state(customer_id: str, position: int) -> dict[str, Any]:
        response = client.get(f"/v1/customers/{customer_id}/state", params={"as_of_position": str(position)})
        assert response.status_code == 200, response.text
        return response.json()

    assert state(DUPLICATE, written)["identity"] == {"merged_into": None, "duplicates": []}
    while_merged = state(DUPLICATE, merge_at)
    assert while_merged["identity"] == {"merged_into": SURVIVOR, "duplicates": []}
    assert while_merged["customer"]["customer_id"] == DUPLICATE  # the record's own events, its own view
    assert while_merged["customer"]["contact_count"] == 2
    assert state(SURVIVOR, merge_at)["identity"] == {"merged_into": None, "duplicates": [DUPLICATE]}
    assert state(SURVIVOR, unmerge_at)["identity"] == {"merged_into": None, "duplicates": []}
    # Each stream's own hash chain holds: C1's three events and the merge's and unmerge's marks; C2's four and both.
    for customer_id, events in ((SURVIVOR, 5), (DUPLICATE, 6)):
        verdict = client.get(f"/v1/customers/{customer_id}/verify").json()
        assert (verdict["intact"], verdict["events"]) == (True, events)
