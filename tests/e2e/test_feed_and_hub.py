"""The change feed, the webhook subscriptions' API and the TM Forum facades' rules, over HTTP with real
keys, on both backends (issue 19). Delivery itself: tests/integration/test_hub_delivery.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, Role
from helpers import complaint_opened, contact, registered
from support.auth import bearer, new_key
from support.databases import fresh_database_url

TT = "/tmf-api/troubleTicket/v4"
PI = "/tmf-api/partyInteraction/v4"
ALLOWED_HOST = "hooks.example.cn"


@dataclass
class Served:
    hub: ContactHub
    client: TestClient
    keys: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.keys[who])

    def post_events(self, who: str, *events: dict[str, Any]) -> int:
        answer = self.client.post("/v1/events", json={"events": list(events)}, headers=self.as_(who))
        assert answer.status_code == 200, answer.text
        position = int(answer.json()["position"])
        assert self.hub.projector.wait_for(position, 10)  # the TMF reads take no min_position: read after the write
        return position


@pytest.fixture
def served(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), read_wait_timeout_s=5.0,
                        log_format="console", sla_watch_interval_s=0, callback_hosts=ALLOWED_HOST,
                        deliver_webhooks=False)
    hub = build(settings)
    keys = {
        "boss": new_key(hub, Role.CHANNEL, channel=BOSS), "hotline": new_key(hub, Role.CHANNEL, channel="hotline"),
        "store": new_key(hub, Role.CHANNEL, channel="store"), "clerk": new_key(hub, Role.CLERK, name="store-0571-03"),
        "auditor": new_key(hub, Role.AUDITOR), "admin": new_key(hub, Role.ADMIN),
        "integration": new_key(hub, Role.INTEGRATION, name="warehouse"),
    }
    try:
        with TestClient(create_app(hub)) as client:
            yield Served(hub, client, keys)
    finally:
        hub.close()


def a_few_facts(served: Served) -> int:
    served.post_events("boss", registered("C1", ("13800138000",)), registered("C2", ("13900139000",), tier="ordinary"))
    served.post_events("hotline", contact({"customer_id": "C1"}), complaint_opened("K1", {"customer_id": "C1"}))
    served.post_events("store", contact({"customer_id": "C2"}, channel="store", handled_by="clerk-2"))
    return served.post_events("hotline", contact({"customer_id": "C2"}))


# --- the feed -------------------------------------------------------------------------------------------------


def follow(served: Served, who: str, after: int = 0, limit: int = 2, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """What a consumer that remembers its position reads, page by page, until it is caught up."""
    seen: list[dict[str, Any]] = []
    while True:
        page = served.client.get("/v1/feed", params={"after": after, "limit": limit, **params}, headers=served.as_(who))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += body["events"]
        if body["next_after"] == after:
            assert body["events"] == [] and after == body["head"]
            return seen, after
        after = body["next_after"]


def test_a_consumer_that_remembers_its_position_gets_every_event_once_in_log_order(served: Served) -> None:
    head = a_few_facts(served)
    seen, caught_up = follow(served, "integration")
    logged = served.hub.event_log.read_events(0, 100)
    assert [e["position"] for e in seen] == [p for p, _ in logged] and caught_up == head
    assert [e["event_id"] for e in seen] == [e.event_id for _, e in logged]
    assert seen[0]["type"] == "customer.registered" and seen[0]["customer_id"] == "C1"
    assert seen[0]["payload"]["name"] == "王芳"  # personal fields in clear while the customer's key exists
    more = served.post_events("store", contact({"customer_id": "C1"}, channel="store", handled_by="clerk-2"))
    later, now = follow(served, "integration", after=caught_up)
    assert [e["position"] for e in later] == [more] and now == more


def test_a_channel_reads_only_its_own_events_and_a_type_filter_skips_ahead(served: Served) -> None:
    a_few_facts(served)
    hotline, _ = follow(served, "hotline")
    assert {e["event_id"].split("/")[0] for e in hotline} == {"hotline"} and len(hotline) == 3
    assert {e["customer_id"] for e in hotline} == {None}  # a channel's key does not learn whose a number is
    boss, _ = follow(served, "boss")
    assert [e["type"] for e in boss] == ["customer.registered", "customer.registered"]
    complaints, caught_up = follow(served, "integration", limit=1, type="complaint.opened")
    assert [e["type"] for e in complaints] == ["complaint.opened"]
    assert caught_up == served.hub.event_log.head_position()
    refused = served.client.get("/v1/feed", params={"type": "complaint.openned"}, headers=served.as_("integration"))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "type"
    ahead = served.client.get("/v1/feed", params={"after": caught_up + 5}, headers=served.as_("integration"))
    assert ahead.status_code == 422 and ahead.json()["errors"][0]["field"] == "after"
    for who in ("clerk", "auditor", "admin"):
        assert served.client.get("/v1/feed", headers=served.as_(who)).status_code == 403


def test_the_feed_shows_an_erased_customers_personal_fields_as_erased(served: Served) -> None:
    a_few_facts(served)
    erased = served.client.post("/v1/customers/C1/erasure", json={"reason": "PIPL request 2026-118"},
                                headers=served.as_("admin"))
    assert erased.status_code == 200, erased.text
    seen, _ = follow(served, "integration", limit=50)
    registration = next(e for e in seen if e["customer_id"] == "C1" and e["type"] == "customer.registered")
    assert registration["payload"]["name"] == "[erased]"
    other = next(e for e in seen if e["customer_id"] == "C2" and e["type"] == "customer.registered")
    assert other["payload"]["name"] == "王芳"


def test_an_integrations_feed_reads_are_in_the_access_log(served: Served) -> None:
    a_few_facts(served)
    follow(served, "integration", limit=50)
    log = served.client.get("/v1/access-log", params={"key_id": served.keys["integration"].split("_")[1]},
                            headers=served.as_("auditor"))
    assert log.status_code == 200
    shown = {(e["path"], e["customer_id"]) for e in log.json()["items"]}
    assert {("/v1/feed", "C1"), ("/v1/feed", "C2")} <= shown
    assert all(e["role"] == "integration" for e in log.json()["items"])


# --- the hub: subscriptions ---------------------------------------------------------------------------------------


def test_subscriptions_are_made_listed_and_ended_and_show_their_lag(served: Served) -> None:
    a_few_facts(served)
    made = served.client.post("/v1/hub", json={"callback": f"https://{ALLOWED_HOST}/contacthub",
                                               "query": "type=complaint.opened&tier=gold", "after": 0},
                              headers=served.as_("integration"))
    assert made.status_code == 201, made.text
    subscription = made.json()
    assert len(subscription["secret"]) >= 32 and made.headers["location"] == f"/v1/hub/{subscription['id']}"
    own_secret = served.client.post("/v1/hub", json={"callback": f"https://{ALLOWED_HOST}/2", "secret": "x" * 20},
                                    headers=served.as_("integration"))
    assert own_secret.status_code == 201 and own_secret.json().get("secret") is None  # never echoed

    listed = served.client.get("/v1/hub", headers=served.as_("integration")).json()
    assert [s["id"] for s in listed] == [subscription["id"], own_secret.json()["id"]]
    first = listed[0]
    head = served.hub.event_log.head_position()
    assert (first["api"], first["position"], first["lag_events"], first["delivered"]) == ("contacthub", 0, head, 0)
    assert first["created_by"].startswith("warehouse (") and "secret" not in first
    assert listed[1]["lag_events"] == 0  # from the log's end: only what is stored from now on

    metrics = served.client.get("/metrics").text
    assert f'contacthub_webhook_lag_events{{api="contacthub",subscription="{subscription["id"]}"}} {head}.0' in metrics

    other_system = bearer(new_key(served.hub, Role.INTEGRATION, name="paging"))
    assert served.client.get("/v1/hub", headers=other_system).json() == []  # a subscription is its owner's
    assert served.client.get(f"/v1/hub/{subscription['id']}", headers=other_system).status_code == 404
    assert served.client.delete(f"/v1/hub/{subscription['id']}", headers=other_system).status_code == 404
    assert served.client.delete(f"/v1/hub/{subscription['id']}", headers=served.as_("integration")).status_code == 204
    assert served.client.get(f"/v1/hub/{subscription['id']}", headers=served.as_("integration")).status_code == 404
    assert served.client.delete(f"/v1/hub/{subscription['id']}", headers=served.as_("integration")).status_code == 404


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"callback": "https://evil.example.com/x"}, "callback", "is not in CONTACTHUB_CALLBACK_HOSTS"),
    ({"callback": f"ftp://{ALLOWED_HOST}/x"}, "callback", "http:// or https://"),
    ({"callback": f"https://user:pw@{ALLOWED_HOST}/x"}, "callback", "user name or password"),
    ({"callback": f"https://{ALLOWED_HOST}/x", "query": "type=complaint.nope"}, "query", "unknown type"),
    ({"callback": f"https://{ALLOWED_HOST}/x", "query": "colour=red"}, "query", "unknown key"),
    ({"callback": f"https://{ALLOWED_HOST}/x", "secret": "short"}, "secret", "16 to 200"),
    ({"callback": f"https://{ALLOWED_HOST}/x", "after": 10**9}, "after", "log position"),
])
def test_a_subscription_that_cannot_be_used_is_refused_naming_its_field(
    served: Served, body: dict[str, Any], field: str, words: str
) -> None:
    refused = served.client.post("/v1/hub", json=body, headers=served.as_("integration"))
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == field and words in refused.json()["errors"][0]["message"]
    assert served.hub.subscriptions.active() == []


def test_with_no_allowed_host_nothing_can_be_subscribed(backend: str, request: pytest.FixtureRequest,
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), log_format="console",
                         sla_watch_interval_s=0, deliver_webhooks=False))
    try:
        with TestClient(create_app(hub)) as client:
            refused = client.post(f"{TT}/hub", json={"callback": "https://hooks.example.cn/tt"},
                                  headers=bearer(new_key(hub, Role.INTEGRATION)))
        assert refused.status_code == 400
        assert refused.json()["reason"] == "callback" and "CONTACTHUB_CALLBACK_HOSTS" in refused.json()["message"]
        assert refused.json()["code"] == refused.json()["status"] == "400"
    finally:
        hub.close()


# --- TMF621: changing a ticket ------------------------------------------------------------------------------------


def patch(served: Served, ticket: str, body: Any, content_type: str = "application/merge-patch+json") -> Any:
    import orjson

    return served.client.patch(f"{TT}/troubleTicket/{ticket}", content=orjson.dumps(body),
                               headers={**served.as_("clerk"), "Content-Type": content_type})


def test_a_merge_patch_takes_the_complaint_actions_it_stands_for(served: Served) -> None:
    a_few_facts(served)
    assert patch(served, "K1", {"status": "pending"}).json()["reason"] == "statusChangeReason"
    pended = patch(served, "K1", {"status": "pending", "statusChangeReason": "等客户提供截图"})
    assert pended.status_code == 200, pended.text
    assert pended.json()["status"] == "pending" and pended.json()["statusChangeReason"] == "等客户提供截图"
    noted = patch(served, "K1", {"note": [{"text": "客户已回电"}], "status": "inProgress"})
    assert noted.status_code == 200 and noted.json()["status"] == "inProgress"
    assert [n["text"] for n in noted.json()["note"]] == ["客户已回电"]
    same_notes = patch(served, "K1", {"note": noted.json()["note"]})  # a merge patch repeats the notes it keeps
    assert same_notes.status_code == 200 and len(same_notes.json()["note"]) == 1
    handed = patch(served, "K1", {"relatedParty": [{"id": "billing-2", "role": "owner", "@referredType": "Individual"}],
                                  "statusChangeReason": "需核对计费"}, content_type="application/json")
    assert handed.status_code == 200
    parties = {p["role"]: p["id"] for p in handed.json()["relatedParty"]}
    assert (parties["owner"], parties["previousOwner"]) == ("billing-2", "agent-7")
    native = served.client.get("/v1/complaints/K1", headers=served.as_("clerk")).json()
    assert native["owner"] == "billing-2" and native["status"] == "inProgress"
    assert [h["by"] for h in native["history"][1:]] == ["store-0571-03"] * 4  # the clerk's own key holder

    fixed = patch(served, "K1", {"severity": "low"})
    assert (fixed.status_code, fixed.json()["reason"]) == (400, "severity")
    back = patch(served, "K1", {"status": "acknowledged"})
    assert back.status_code == 409
    resolved = patch(served, "K1", {"status": "resolved", "statusChangeReason": "退费 30 元"})
    assert resolved.status_code == 200 and resolved.json()["resolutionDate"]
    closed = patch(served, "K1", {"status": "closed"})
    assert closed.status_code == 200 and [c["status"] for c in closed.json()["statusChange"]] == [
        "acknowledged", "pending", "inProgress", "resolved", "closed"]
    illegal = patch(served, "K1", {"status": "held", "statusChangeReason": "x"})
    assert illegal.status_code == 409 and illegal.json()["@type"] == "Error" and "closed" in illegal.json()["message"]
    assert patch(served, "K404", {"status": "closed"}).status_code == 404
    assert patch(served, "K1", {"status": "closed"}, content_type="text/plain").status_code == 400


def test_the_ticket_list_filters_pages_and_counts(served: Served) -> None:
    served.post_events("boss", registered("C1", ("13800138000",)))
    served.post_events("hotline", *(complaint_opened(f"K{i}", {"customer_id": "C1"}, severity=s)
                                    for i, s in enumerate(["high", "low", "high", "high", "critical"])))
    first = served.client.get(f"{TT}/troubleTicket", params={"severity": "high", "limit": 2}, headers=served.as_("clerk"))
    assert first.status_code == 200
    assert (first.headers["x-total-count"], first.headers["x-result-count"]) == ("3", "2")
    rest = served.client.get(f"{TT}/troubleTicket", params={"severity": "high", "limit": 2, "offset": 2},
                             headers=served.as_("clerk"))
    assert {t["id"] for t in first.json() + rest.json()} == {"K0", "K2", "K3"}
    mine = served.client.get(f"{TT}/troubleTicket", params={"relatedParty.id": "C1", "fields": "severity,status"},
                             headers=served.as_("integration"))
    assert all(set(t) == {"id", "href", "severity", "status"} for t in mine.json()) and len(mine.json()) == 5
    for params in ({"colour": "red"}, {"limit": "0"}, {"offset": "-1"}, {"limit": "many"}):
        refused = served.client.get(f"{TT}/troubleTicket", params=params, headers=served.as_("clerk"))
        assert refused.status_code == 400 and set(refused.json()) >= {"code", "reason", "message", "status"}, params


def test_a_channel_creates_tickets_only_in_its_own_channel(served: Served) -> None:
    served.post_events("boss", registered("C1", ("13800138000",)))
    body = {"description": "营业厅排队太久", "severity": "low", "ticketType": "service",
            "relatedParty": [{"id": "C1", "role": "customer", "@referredType": "Individual"}]}
    foreign = served.client.post(f"{TT}/troubleTicket", json={**body, "channel": {"id": "store"}},
                                 headers=served.as_("hotline"))
    assert foreign.status_code == 403 and foreign.json()["reason"] == "channel"
    store = served.client.post(f"{TT}/troubleTicket", json=body, headers=served.as_("store"))
    assert store.status_code == 201 and store.json()["channel"]["id"] == "store"
    by_number = served.client.post(f"{TT}/troubleTicket", headers=served.as_("store"), json={
        **body, "relatedParty": [{"id": "13800138000", "role": "customer", "@referredType": "Individual"}]})
    assert by_number.status_code == 201 and '"C1"' not in by_number.text  # whose the number is stays unsaid
    assert by_number.json()["relatedParty"] == [{"id": "13800138000", "role": "customer", "@referredType": "Individual"}]
    unknown = served.client.post(f"{TT}/troubleTicket", headers=served.as_("store"), json={
        **body, "relatedParty": [{"id": "13700137000", "role": "customer", "@referredType": "Individual"}]})
    assert unknown.status_code in (400, 409) and unknown.json()["reason"] == "relatedParty", unknown.text
    missing = served.client.post(f"{TT}/troubleTicket", json={"severity": "low"}, headers=served.as_("store"))
    assert (missing.status_code, missing.json()["reason"]) == (400, "description")


# --- TMF683 ---------------------------------------------------------------------------------------------------------


def test_a_party_interaction_is_a_touchpoint_and_back(served: Served) -> None:
    served.post_events("boss", registered("C1", ("13800138000",)))
    served.post_events("hotline", complaint_opened("K1", {"customer_id": "C1"}))
    body = {
        "direction": "inbound", "reason": "complaint_follow_up", "status": "resolved",
        "channel": [{"id": "hotline", "href": "urn:contacthub:channel:hotline", "role": "interactionChannel"}],
        "interactionDate": {"startDateTime": "2026-11-02T09:00:00+08:00", "endDateTime": "2026-11-02T09:04:00+08:00"},
        "relatedParty": [{"id": "13800138000", "href": "x", "role": "customer", "@referredType": "Individual"},
                         {"id": "agent-9", "href": "x", "role": "agent", "@referredType": "Individual"}],
        "interactionItem": [{"item": {"id": "K1", "@referredType": "TroubleTicket"}}],
    }
    made = served.client.post(f"{PI}/partyInteraction", json=body,
                              headers={**served.as_("hotline"), "Idempotency-Key": "hl-call-77"})
    assert made.status_code == 201, made.text
    interaction = made.json()
    assert '"C1"' not in made.text  # a channel's key does not learn whose the number is
    again = served.client.post(f"{PI}/partyInteraction", json=body,
                               headers={**served.as_("hotline"), "Idempotency-Key": "hl-call-77"})
    assert again.json()["id"] == interaction["id"] and again.headers["x-contacthub-result"] == "duplicate"
    timeline = served.client.get("/v1/customers/C1/timeline", headers=served.as_("clerk")).json()["items"]
    assert [(t["event_id"], t["handled_by"], t["duration_s"], t["complaint_id"]) for t in timeline] == [
        ("hotline/hl-call-77", "agent-9", 240, "K1")]
    read = served.client.get(f"{PI}/partyInteraction/{interaction['id']}", headers=served.as_("integration")).json()
    assert read["interactionDate"] == body["interactionDate"] and read["status"] == "resolved"
    assert [i["item"]["id"] for i in read["interactionItem"]] == ["K1"]
    ticket = served.client.get(f"{TT}/troubleTicket/K1", headers=served.as_("clerk")).json()
    assert [e["id"] for e in ticket["relatedEntity"]] == [interaction["id"]]
    listed = served.client.get(f"{PI}/partyInteraction", params={"relatedParty.id": "C1", "status": "resolved"},
                               headers=served.as_("clerk"))
    assert [i["id"] for i in listed.json()] == [interaction["id"]] and listed.headers["x-total-count"] == "1"
    assert served.client.get(f"{PI}/partyInteraction/999999", headers=served.as_("clerk")).status_code == 404
    wrong = served.client.post(f"{PI}/partyInteraction", json={**body, "status": "happy"}, headers=served.as_("hotline"))
    assert (wrong.status_code, wrong.json()["reason"]) == (400, "status")
