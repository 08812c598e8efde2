"""Numbers over time over HTTP (issue 18): a recycled number's new holder sees none of the old holder's
history, the old holder keeps it, and a lookup by number answers for any moment (`?msisdn=…&at=…`).

Every test runs on SQLite and on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from contacthub.bootstrap import ContactHub
from helpers import contact, event, posted, registered

NUMBER = "13800138000"


def at(day: int) -> str:
    return f"2026-10-{day:02d}T09:00:00+08:00"



def holder(client: TestClient, position: int, **params: str) -> Any:
    return client.get("/v1/customers", params={"msisdn": NUMBER, "min_position": str(position), **params})


def recycled_number(client: TestClient) -> tuple[int, dict[str, str]]:
    """C1 held 13800138000 from Oct 1 to Oct 10 (two contacts, one delivered after the number changed
    hands); C2 has held it since Oct 20 (one contact). Returns the last position and the contacts' ids."""
    first, late, new = (contact({"msisdn": NUMBER}, occurred_at=at(day)) for day in (3, 5, 22))
    posted(client, registered("C1", (NUMBER, "13900139000"), occurred_at=at(1)), first)
    posted(client, event("customer.msisdn_released", {"customer_id": "C1"}, msisdn=NUMBER, reason="account_closed",
                         occurred_at=at(10)))
    posted(client, registered("C2", (NUMBER,), occurred_at=at(20)))
    position = posted(client, new, late)
    return position, {"first": first["event_id"], "late": late["event_id"], "new": new["event_id"]}


def contact_ids(body: dict[str, Any]) -> set[str]:
    return {c["event_id"] for c in body["recent_contacts"]}


def test_a_recycled_numbers_new_holder_sees_none_of_the_old_holders_contacts(client: TestClient) -> None:
    position, ids = recycled_number(client)

    now = holder(client, position)
    assert now.status_code == 200, now.text
    body = now.json()
    assert (body["customer_id"], body["msisdns"], body["former_msisdns"]) == ("C2", [NUMBER], [])
    assert (contact_ids(body), body["contact_count"]) == ({ids["new"]}, 1)
    timeline = client.get("/v1/customers/C2/timeline").json()
    assert [item["event_id"] for item in timeline["items"]] == [ids["new"]]


def test_the_old_holder_keeps_its_contacts_and_the_number_as_a_former_one(client: TestClient) -> None:
    position, ids = recycled_number(client)

    then = holder(client, position, at="2026-10-05T12:00:00+08:00")
    assert then.status_code == 200, then.text
    body = then.json()
    assert (body["customer_id"], body["msisdns"]) == ("C1", ["13900139000"])
    assert body["former_msisdns"] == [
        {"msisdn": NUMBER, "held_from": "2026-10-01T09:00:00+08:00", "released_at": "2026-10-10T09:00:00+08:00"}
    ]
    assert (contact_ids(body), body["contact_count"]) == ({ids["first"], ids["late"]}, 2)


def test_a_moment_when_nobody_held_the_number_is_404_and_a_bad_moment_422(client: TestClient) -> None:
    position, _ = recycled_number(client)

    gap = holder(client, position, at="2026-10-15T09:00:00+08:00")
    assert gap.status_code == 404
    assert gap.json()["errors"][0]["field"] == "msisdn"
    assert gap.json()["errors"][0]["message"] == f"no customer held msisdn {NUMBER} at 2026-10-15T09:00:00+08:00"
    for bad in ("2026-10-15T09:00:00", "yesterday", "0"):
        refused = holder(client, position, at=bad)
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == "at"


def test_between_holders_a_touchpoint_goes_to_the_next_one_within_the_look_back(client: TestClient) -> None:
    recycled_number(client)
    gap = contact({"msisdn": NUMBER}, occurred_at=at(15))  # C2 takes the number 5 days later: within 30 days

    position = posted(client, gap)

    assert gap["event_id"] in contact_ids(holder(client, position).json())
    assert gap["event_id"] not in contact_ids(holder(client, position, at=at(5)).json())


def test_the_desk_finds_the_holder_now_and_shows_former_numbers(client: TestClient) -> None:
    position, _ = recycled_number(client)
    holder(client, position)  # the read models have the story

    found = client.get("/desk", params={"q": NUMBER}, follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (303, "/desk/customers/C2")
    page = client.get("/desk/customers/C1").text
    assert 'data-testid="former-msisdns"' in page and NUMBER in page


def test_a_rebuild_gives_the_same_holdings(client: TestClient, hub: ContactHub) -> None:
    position, _ = recycled_number(client)
    posted(client, event("customer.msisdn_added", {"customer_id": "C1"}, msisdn="13700137000", occurred_at=at(25)))
    position = posted(client, contact({"msisdn": "13700137000"}, occurred_at=at(26)))
    assert holder(client, position).status_code == 200
    hub.projector.wait_for(position, 10)

    def holdings() -> list[dict[str, Any]]:
        return hub.event_log.read_store.query(
            "SELECT * FROM rm_msisdn_holding ORDER BY msisdn, customer_id, held_from")

    incremental = holdings()
    hub.projector.reset()
    hub.projector.catch_up()

    assert holdings() == incremental
    assert [(h["msisdn"], h["customer_id"], h["released_at"] is None) for h in incremental] == [
        ("13700137000", "C1", True), (NUMBER, "C1", False), (NUMBER, "C2", True), ("13900139000", "C1", True),
    ]
