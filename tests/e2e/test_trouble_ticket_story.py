"""Issue 19's story, end to end with real keys and a real receiving server, on both backends: a channel
creates a trouble ticket through TMF621, a clerk sees it by its TMF id in the native API and at the desk,
and a listener registered on the TMF hub receives its StatusChange when the clerk resolves it at the desk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, Role
from contacthub.domain.subscriptions import signature
from helpers import registered
from support.auth import bearer, new_key
from support.databases import fresh_database_url
from support.listener import Listener

TT = "/tmf-api/troubleTicket/v4"


@dataclass
class Served:
    hub: ContactHub
    client: TestClient
    listener: Listener
    keys: dict[str, str]


@pytest.fixture
def served(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    listener = Listener().start()
    settings = Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), read_wait_timeout_s=5.0,
                        log_format="console", sla_watch_interval_s=0, callback_hosts=listener.host,
                        webhook_first_retry_s=0.05)
    hub = build(settings)
    keys = {
        "boss": new_key(hub, Role.CHANNEL, channel=BOSS),
        "hotline": new_key(hub, Role.CHANNEL, channel="hotline"),
        "clerk": new_key(hub, Role.CLERK, name="store-0571-03"),
        "integration": new_key(hub, Role.INTEGRATION, name="ticket-tool"),
    }
    try:
        with TestClient(create_app(hub)) as client:
            yield Served(hub, client, listener, keys)
    finally:
        hub.close()
        listener.stop()


def test_a_ticket_made_through_tmf621_is_worked_at_the_desk_and_its_listener_hears_it_resolved(served: Served) -> None:
    client, keys = served.client, served.keys
    registering = client.post("/v1/events", json={"events": [registered("C1", ("13800138000",))]}, headers=bearer(keys["boss"]))
    assert registering.status_code == 200, registering.text

    hub_made = client.post(f"{TT}/hub", headers=bearer(keys["integration"]), json={
        "callback": served.listener.url("/tt-listener"), "query": "eventType=TroubleTicketStatusChangeEvent"})
    assert hub_made.status_code == 201, hub_made.text
    subscription = hub_made.json()
    assert subscription["callback"] == served.listener.url("/tt-listener") and subscription["secret"]

    created = client.post(f"{TT}/troubleTicket", headers=bearer(keys["hotline"]), json={
        "description": "宽带三天两次断线", "severity": "high", "ticketType": "broadband", "externalId": "HL-2026-0042",
        "relatedParty": [{"id": "13800138000", "role": "customer", "@referredType": "Individual"}],
        "channel": {"id": "hotline"}})
    assert created.status_code == 201, created.text
    ticket = created.json()
    ticket_id = ticket["id"]
    assert ticket["status"] == "acknowledged" and ticket["externalId"] == "HL-2026-0042"
    assert created.headers["location"] == f"{TT}/troubleTicket/{ticket_id}"
    assert '"C1"' not in created.text  # the channel's answer: what it sent, and the ticket's id

    again = client.post(f"{TT}/troubleTicket", headers=bearer(keys["hotline"]), json={
        "description": "宽带三天两次断线", "severity": "high", "ticketType": "broadband", "externalId": "HL-2026-0042",
        "relatedParty": [{"id": "13800138000", "role": "customer", "@referredType": "Individual"}]})
    assert (again.status_code, again.json()["id"], again.headers["x-contacthub-result"]) == (201, ticket_id, "duplicate")

    native = client.get(f"/v1/complaints/{ticket_id}", headers=bearer(keys["clerk"]))
    assert native.status_code == 200 and native.json()["customer_id"] == "C1"
    assert native.json()["summary"] == "宽带三天两次断线"
    by_tmf = client.get(f"{TT}/troubleTicket/{ticket_id}", headers=bearer(keys["clerk"]))
    assert by_tmf.status_code == 200 and by_tmf.json()["id"] == ticket_id
    assert {p["role"]: p["id"] for p in by_tmf.json()["relatedParty"]} == {"customer": "C1", "owner": "test-channel-hotline"}
    assert by_tmf.json()["expectedResolutionDate"]  # the SLA clock's deadline

    login = client.post("/desk/login", data={"key": keys["clerk"]}, follow_redirects=False)
    assert login.status_code == 303
    page = client.get(f"/desk/complaints/{ticket_id}")
    assert page.status_code == 200 and ticket_id in page.text and "宽带三天两次断线" in page.text
    resolved = client.post(f"/desk/complaints/{ticket_id}/actions", follow_redirects=False, data={
        "action": "resolve", "resolution": "更换光猫", "channel": "store"})
    assert resolved.status_code == 303, resolved.text

    served.listener.wait_until(lambda heard: any(
        r.json()["event"]["troubleTicket"]["status"] == "resolved" for r in heard.accepted()))
    heard = served.listener.accepted()
    assert [r.path for r in heard] == ["/tt-listener"]  # the opening is no StatusChange: not asked for
    notification = heard[0]
    body = notification.json()
    assert body["eventType"] == "TroubleTicketStatusChangeEvent"
    assert body["event"]["troubleTicket"]["id"] == ticket_id
    assert body["event"]["troubleTicket"]["statusChange"][-1]["status"] == "resolved"
    assert notification.headers["x-contacthub-event-id"] == body["eventId"]
    stamp = int(notification.headers["x-contacthub-signature"].split(",")[0].removeprefix("t="))
    assert notification.headers["x-contacthub-signature"] == signature(subscription["secret"], stamp, notification.body)

    client.post("/desk/logout")
    listed = client.get(f"{TT}/troubleTicket", params={"status": "resolved", "fields": "status"},
                        headers=bearer(keys["integration"]))
    assert listed.status_code == 200, listed.text
    assert listed.json() == [{"id": ticket_id, "href": f"{TT}/troubleTicket/{ticket_id}", "status": "resolved"}]
    assert (listed.headers["x-total-count"], listed.headers["x-result-count"]) == ("1", "1")
