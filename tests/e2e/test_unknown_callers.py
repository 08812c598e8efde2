"""Unknown callers over HTTP (issue 18, part 2): a touchpoint from a number nobody held is kept on the
number's unidentified party, counted by a lookup's 404, and joins the customer who takes the number
within the look-back (30 days) after it; older ones stay unidentified (docs/events.md §3.13).

Every test runs on SQLite and on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from contacthub.bootstrap import ContactHub
from helpers import complaint_opened, contact, posted, registered

NUMBER = "13800138000"


def at(day: int) -> str:
    return f"2026-11-{day:02d}T09:00:00+08:00"



def lookup(client: TestClient, position: int, **params: str) -> Any:
    return client.get("/v1/customers", params={"msisdn": NUMBER, "min_position": str(position), **params})


def test_an_unknown_callers_contact_two_days_before_registration_appears_on_the_new_customer(
    client: TestClient, hub: ContactHub
) -> None:
    call = contact({"msisdn": NUMBER}, occurred_at=at(20), channel="hotline")
    position = posted(client, call)

    unknown = lookup(client, position)
    assert unknown.status_code == 404
    assert unknown.json()["unidentified_contacts"] == 1
    assert unknown.json()["errors"] == [{"field": "msisdn", "message": (
        f"no customer has msisdn {NUMBER}; 1 touchpoint(s) from it joined no customer")}]

    position = posted(client, registered("C1", (NUMBER,), occurred_at=at(22)))

    found = lookup(client, position)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["customer_id"] == "C1"
    assert [c["event_id"] for c in body["recent_contacts"]] == [call["event_id"]]
    assert (body["contact_count"], body["contact_counts"]) == (1, {"hotline": 1})
    timeline = client.get("/v1/customers/C1/timeline").json()
    assert [(i["event_id"], i["occurred_at"]) for i in timeline["items"]] == [(call["event_id"], at(20))]
    facts = hub.event_log.read_store.query("SELECT customer_id FROM rm_contact_fact WHERE event_id = ?",
                                           (call["event_id"],))
    assert [f["customer_id"] for f in facts] == ["C1"]  # in the metrics too
    before = lookup(client, position, at=at(21))  # nobody held it then; nothing is left unidentified
    assert (before.status_code, before.json()["unidentified_contacts"]) == (404, 0)


def test_older_touchpoints_stay_unidentified_and_count_in_no_metric(client: TestClient, hub: ContactHub) -> None:
    old, recent = contact({"msisdn": NUMBER}, occurred_at="2026-10-01T09:00:00+08:00"), contact(
        {"msisdn": NUMBER}, occurred_at=at(20))
    posted(client, old, recent)
    position = posted(client, registered("C1", (NUMBER,), occurred_at=at(22)))

    body = lookup(client, position).json()
    assert [c["event_id"] for c in body["recent_contacts"]] == [recent["event_id"]]
    then = lookup(client, position, at="2026-10-15T09:00:00+08:00")
    assert (then.status_code, then.json()["unidentified_contacts"]) == (404, 1)
    facts = hub.event_log.read_store.query("SELECT event_id FROM rm_contact_fact")
    assert [f["event_id"] for f in facts] == [recent["event_id"]]
    party_id = hub.event_log.lookup_claims("unidentified", [NUMBER])[NUMBER]
    party = hub.event_log.read_store.query("SELECT event_id FROM rm_contact WHERE customer_id = ?", (party_id,))
    assert [p["event_id"] for p in party] == [old["event_id"]]


def test_the_customer_reads_the_same_whatever_came_first(client: TestClient, hub: ContactHub) -> None:
    """Touchpoints before the registration (joined) and the same ones after it (routed) give one view."""
    other = "13900139000"
    calls = [contact({"msisdn": number}, occurred_at=at(day), channel=channel)
             for number, day, channel in ((NUMBER, 18, "hotline"), (NUMBER, 20, "store"), (other, 19, "hotline"))]
    posted(client, *calls[:2])  # NUMBER's before its registration
    posted(client, registered("C1", (NUMBER,), occurred_at=at(22)), registered("C2", (other,), occurred_at=at(22)))
    position = posted(client, calls[2])  # other's after its registration
    first = lookup(client, position).json()
    second = client.get("/v1/customers", params={"msisdn": other}).json()

    def shown(view: dict[str, Any]) -> Any:
        return [(c["occurred_at"], c["channel"]) for c in view["recent_contacts"]], view["contact_counts"]

    assert shown(first) == ([(at(20), "store"), (at(18), "hotline")], {"hotline": 1, "store": 1})
    assert shown(second) == ([(at(19), "hotline")], {"hotline": 1})

    def read_models() -> list[Any]:
        store = hub.event_log.read_store
        return [store.query(f"SELECT * FROM {table} ORDER BY {key}") for table, key in (
            ("rm_contact", "position"), ("rm_channel_count", "customer_id, channel"),
            ("rm_contact_fact", "event_id"), ("rm_contact_daily", "day, channel, reason, tier"))]

    hub.projector.wait_for(position, 10)
    incremental = read_models()
    hub.projector.reset()
    hub.projector.catch_up()
    assert read_models() == incremental


def test_only_touchpoints_are_kept_and_a_party_is_not_addressed_by_id(client: TestClient) -> None:
    complaint = client.post("/v1/events", json={"events": [complaint_opened("K1", {"msisdn": NUMBER})]})
    assert complaint.status_code == 409
    assert complaint.json()["errors"][0]["message"] == f"no customer has registered msisdn {NUMBER}"

    by_id = client.post("/v1/events", json={"events": [contact({"customer_id": "unidentified-0123456789ab"})]})
    assert by_id.status_code == 422
    assert by_id.json()["errors"][0]["field"] == "customer_id"
    assert "unidentified" in by_id.json()["errors"][0]["message"]


def test_the_desk_shows_a_numbers_unidentified_touchpoints(client: TestClient) -> None:
    call = contact({"msisdn": NUMBER}, occurred_at=at(20), reason="询问宽带资费")
    position = posted(client, call)
    lookup(client, position)  # the read models have it

    page = client.get("/desk", params={"q": "+86 138-0013-8000"})

    assert page.status_code == 404
    assert 'data-testid="unidentified-contacts"' in page.text
    assert call["event_id"] in page.text and "询问宽带资费" in page.text
    assert "1 条来自该号码的接触记录尚未归属任何客户" in page.text
    assert "30 天" in page.text
    nobody = client.get("/desk", params={"q": "13900139000"})  # a number with nothing: as before
    assert nobody.status_code == 404 and 'data-testid="unidentified-contacts"' not in nobody.text
