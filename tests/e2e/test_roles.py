"""Roles and API keys: each role is refused what it must not do, on both backends, with real keys.

The table `RULES` gives every route of the app a rule and `ALLOWED` says, literally, which
callers each rule lets through; a route the table does not know fails the test (a new
endpoint needs a decision). Routes under /v1/customers/{customer_id}/<something> other than
the timeline are the audit API's: reading them is the auditor's, changing through them the
admin's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from contacthub.adapters.cli import main
from contacthub.adapters.cli_keys import demo_keys
from contacthub.adapters.http.app import create_app
from contacthub.adapters.store.api_keys import ApiKeys
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, SOURCES, Role
from helpers import complaint_opened, contact, registered
from support.auth import bearer, new_key
from support.databases import BACKENDS, fresh_database_url

# --- the table: every route, its rule, who each rule lets through -------------------------------------------

RULES: dict[tuple[str, str], str] = {
    ("POST", "/v1/events"): "ingest",
    ("GET", "/v1/customers"): "read_customers",
    ("GET", "/v1/customers/{customer_id}"): "read_customers",
    ("GET", "/v1/customers/{customer_id}/timeline"): "read_customers",
    ("GET", "/v1/customers/at-risk"): "read_customers",
    ("GET", "/v1/complaints"): "read_customers",
    ("GET", "/v1/complaints/{complaint_id}"): "read_customers",
    ("POST", "/v1/complaints/{complaint_id}/actions"): "act_on_complaints",
    ("GET", "/v1/orders"): "read_customers",
    ("GET", "/v1/conflicts"): "read_customers",
    ("GET", "/v1/orders/{order_id}/journey"): "read_customers",
    ("GET", "/v1/metrics/contacts"): "read_metrics",
    ("GET", "/v1/metrics/channels"): "read_metrics",
    ("GET", "/v1/metrics/complaints"): "read_metrics",
    ("GET", "/v1/metrics/journeys"): "read_metrics",
    ("GET", "/v1/metrics/value"): "read_metrics",
    ("GET", "/v1/access-log"): "read_access_log",
    ("GET", "/v1/keys"): "manage_keys",
    ("POST", "/v1/keys"): "manage_keys",
    ("POST", "/v1/keys/{key_id}/revoke"): "manage_keys",
    ("GET", "/v1/status"): "read_status",
    ("GET", "/health"): "open",
    ("GET", "/ready"): "open",
    ("GET", "/metrics"): "open",
    ("GET", "/openapi.json"): "open",
    ("GET", "/docs"): "open",
    ("GET", "/docs/oauth2-redirect"): "open",
    ("GET", "/redoc"): "open",
    ("GET", "/desk/static/{path}"): "open",
    ("GET", "/docs/assets/{path}"): "open",
    ("GET", "/desk/login"): "open",
    ("POST", "/desk/login"): "open",
    ("POST", "/desk/logout"): "open",
    ("GET", "/desk"): "page:read_customers",
    ("GET", "/desk/customers/{customer_id}"): "page:read_customers",
    ("GET", "/desk/complaints/{complaint_id}"): "page:read_customers",
    ("POST", "/desk/complaints/{complaint_id}/actions"): "page:act_on_complaints",
    ("POST", "/desk/customers/{customer_id}/complaints"): "page:act_on_complaints",
    ("POST", "/desk/customers/{customer_id}/visits"): "page:act_on_complaints",
    ("GET", "/desk/queue"): "page:read_customers",
    ("GET", "/analytics"): "page:read_metrics",
    ("GET", "/v1/feed"): "read_feed",
    ("POST", "/v1/hub"): "subscribe",
    ("GET", "/v1/hub"): "subscribe",
    ("GET", "/v1/hub/{id}"): "subscribe",
    ("DELETE", "/v1/hub/{id}"): "subscribe",
    ("GET", "/tmf-api/troubleTicket/v4/troubleTicket"): "read_customers",
    ("GET", "/tmf-api/troubleTicket/v4/troubleTicket/{id}"): "read_customers",
    ("POST", "/tmf-api/troubleTicket/v4/troubleTicket"): "ingest",
    ("PATCH", "/tmf-api/troubleTicket/v4/troubleTicket/{id}"): "act_on_complaints",
    ("POST", "/tmf-api/troubleTicket/v4/hub"): "subscribe",
    ("DELETE", "/tmf-api/troubleTicket/v4/hub/{id}"): "subscribe",
    ("GET", "/tmf-api/partyInteraction/v4/partyInteraction"): "read_customers",
    ("GET", "/tmf-api/partyInteraction/v4/partyInteraction/{id}"): "read_customers",
    ("POST", "/tmf-api/partyInteraction/v4/partyInteraction"): "ingest",
    ("POST", "/tmf-api/partyInteraction/v4/hub"): "subscribe",
    ("DELETE", "/tmf-api/partyInteraction/v4/hub/{id}"): "subscribe",
}
_AUDIT = re.compile(r"^/v1/customers/\{customer_id\}/(?!timeline$)[a-z_]+$")

CALLERS = ("nobody", "channel", "clerk", "auditor", "admin", "integration")
ALLOWED: dict[str, set[str]] = {
    "ingest": {"channel"},
    "read_customers": {"clerk", "auditor", "integration"},
    "read_feed": {"channel", "integration"},
    "subscribe": {"integration"},
    "act_on_complaints": {"clerk"},
    "read_metrics": {"clerk", "auditor"},
    "read_history": {"auditor"},
    "erase": {"admin"},
    "read_access_log": {"auditor"},
    "manage_keys": {"admin"},
    "read_status": {"channel", "clerk", "auditor", "admin", "integration"},
    "open": set(CALLERS),
}


def rule_for(method: str, path: str) -> str | None:
    if (method, path) in RULES:
        return RULES[method, path]
    if _AUDIT.match(path):
        return "read_history" if method == "GET" else "erase"
    return None


def app_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the app (built over a stand-in hub: only its routes are read)."""
    stand_in = SimpleNamespace(settings=Settings(), event_log=SimpleNamespace(read_store=None), clock=None)
    routes = []
    # Included routers are nested in app.routes; FastAPI's iter_route_contexts flattens them, with full paths.
    for route in iter_route_contexts(create_app(stand_in).routes):  # type: ignore[arg-type]
        if isinstance(route.original_route, Mount):
            routes.append(("GET", f"{route.path}/{{path}}"))
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                routes.append((method, str(route.path)))
    return routes


ROUTES = app_routes()


def test_the_table_decides_every_route() -> None:
    undecided = [f"{m} {p}" for m, p in ROUTES if rule_for(m, p) is None]
    assert not undecided, f"routes without a decision in tests/e2e/test_roles.py RULES: {undecided}"
    assert len({(m, p) for m, p in ROUTES}) == len(ROUTES)


# --- one server per backend, one key per role --------------------------------------------------------------


@dataclass
class Served:
    hub: ContactHub
    client: TestClient
    keys: dict[str, str]
    sessions: dict[str, str]
    """A desk session per caller, opened in the store (the login page opens them only for clerks and auditors)."""


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = fresh_database_url(str(request.param), request, tmp_path_factory)
    hub = build(Settings(database_url=url, read_wait_timeout_s=3.0, log_format="console", sla_watch_interval_s=0))
    keys = {
        "channel": new_key(hub, Role.CHANNEL, channel="hotline"),
        "clerk": new_key(hub, Role.CLERK),
        "auditor": new_key(hub, Role.AUDITOR),
        "admin": new_key(hub, Role.ADMIN),
        "integration": new_key(hub, Role.INTEGRATION),
    }
    store = ApiKeys(hub.event_log.read_store)
    sessions = {caller: store.open_session(store.authenticate(key), 3600) for caller, key in keys.items()}  # type: ignore[arg-type]
    try:
        with TestClient(create_app(hub)) as client:
            yield Served(hub, client, keys, sessions)
    finally:
        hub.close()


SAMPLE_IDS = {"customer_id": "C404", "complaint_id": "K404", "order_id": "O404", "key_id": "0" * 12, "path": "desk.css"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_IDS.get(m.group(1), "x"), path)


def call(served: Served, method: str, path: str, caller: str) -> Any:
    headers: dict[str, str] = {}
    page = path.startswith(("/desk", "/analytics"))
    if caller != "nobody":
        key = served.keys[caller]
        session = served.sessions[caller]
        if path == "/desk/logout":  # logging out ends the session: a session of its own, not the one later calls use
            store = ApiKeys(served.hub.event_log.read_store)
            session = store.open_session(store.authenticate(key), 3600)  # type: ignore[arg-type]
        headers = {"Cookie": f"contacthub_session={session}"} if page else bearer(key)
    url = concrete(path)
    if method == "GET":
        return served.client.get(url, headers=headers, follow_redirects=False)
    if method == "DELETE":
        return served.client.delete(url, headers=headers, follow_redirects=False)
    if method == "PATCH":
        return served.client.patch(url, headers=headers, json={}, follow_redirects=False)
    if page:
        return served.client.post(url, headers=headers, data={"next": "/desk"}, follow_redirects=False)
    body: dict[str, Any] = {"events": []} if path == "/v1/events" else {}
    return served.client.post(url, headers=headers, json=body, follow_redirects=False)


def verdict(response: Any) -> str:
    """What access control made of the request: `login` (303 to the login page), `401`, `403`, or `through`."""
    if response.status_code == 303 and response.headers["location"].startswith("/desk/login"):
        return "login"
    json_error = response.headers.get("content-type", "").startswith("application/json") and response.status_code in (401, 403)
    if json_error and "errors" in response.json() and response.json()["errors"][0]["field"] == "authorization":
        return str(response.status_code)
    if json_error and response.json().get("reason") == "authorization":  # TM Forum's Error shape (/tmf-api/)
        return str(response.status_code)
    if response.status_code == 403 and 'data-reason="forbidden"' in response.text:
        return "403"
    return "through"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_each_role_is_refused_what_it_must_not_do(served: Served, method: str, path: str, caller: str) -> None:
    rule = rule_for(method, path)
    assert rule is not None, f"{method} {path} has no decision"
    page = rule.startswith("page:")
    capability = rule.removeprefix("page:")
    response = call(served, method, path, caller)

    allowed = ALLOWED[capability] - ({"integration"} if page else set())  # the pages are for people
    if caller in allowed:
        expected = "through"
    elif caller == "nobody":
        expected = "login" if page else "401"
    else:
        expected = "403"
    if path == "/desk/logout":
        expected = "login"  # for everyone alike: logging out leads to the login page
    assert verdict(response) == expected, (response.status_code, response.text[:300])

    if expected == "401":
        assert response.headers["www-authenticate"].startswith("Bearer")
    if expected == "403" and not page:
        answer = response.json()
        message = answer["errors"][0]["message"] if "errors" in answer else answer["message"]
        assert all(role in message for role in allowed), message  # names the roles that may
        assert f"has the role {caller}" in message


# --- keys: missing, malformed, unknown, wrong, revoked ---------------------------------------------------------


def test_missing_malformed_unknown_and_revoked_keys_are_401(client_without_keys: TestClient, hub: ContactHub) -> None:
    client = client_without_keys
    clerk = new_key(hub, Role.CLERK, "store-0571-03")
    assert client.get("/v1/complaints", headers=bearer(clerk)).status_code == 200
    assert client.get("/v1/complaints", headers={"X-API-Key": clerk}).status_code == 200

    key_id = clerk.split("_")[1]
    wrong_secret = f"ch_{key_id}_{'A' * 43}"
    cases = {
        "no key": ({}, "send an API key"),
        "not a bearer": ({"Authorization": f"Basic {clerk}"}, "send an API key"),
        "malformed": (bearer("letmein"), "malformed API key"),
        "unknown": (bearer(f"ch_{'f' * 12}_{'A' * 43}"), "unknown or revoked"),
        "wrong secret": (bearer(wrong_secret), "unknown or revoked"),
    }
    for case, (headers, message) in cases.items():
        response = client.get("/v1/complaints", headers=headers)
        assert response.status_code == 401, case
        assert response.headers["www-authenticate"] == 'Bearer realm="contacthub"', case
        assert response.json() == {"errors": [{"field": "authorization", "message": response.json()["errors"][0]["message"]}]}
        assert message in response.json()["errors"][0]["message"], case

    admin = new_key(hub, Role.ADMIN)
    revoked = client.post(f"/v1/keys/{key_id}/revoke", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    response = client.get("/v1/complaints", headers=bearer(clerk))
    assert response.status_code == 401
    assert "unknown or revoked" in response.json()["errors"][0]["message"]


@pytest.fixture
def client_without_keys(hub: ContactHub) -> Iterator[TestClient]:
    """The app as served: every request needs a key (no test override)."""
    with TestClient(create_app(hub)) as client:
        yield client


# --- channel keys post only their own channel's events -------------------------------------------------------


def test_a_channel_key_posts_only_its_channel_and_boss_the_rest(client_without_keys: TestClient, hub: ContactHub) -> None:
    client = client_without_keys
    boss = new_key(hub, Role.CHANNEL, channel=BOSS)
    hotline = new_key(hub, Role.CHANNEL, channel="hotline")

    assert client.post("/v1/events", json={"events": [registered("C1")]}, headers=bearer(boss)).status_code == 200
    head = hub.event_log.head_position()

    mixed = [contact(), contact(channel="store"), registered("C2", ("13900139000",)), complaint_opened("K1")]
    response = client.post("/v1/events", json={"events": mixed}, headers=bearer(hotline))
    assert response.status_code == 403
    errors = response.json()["errors"]
    assert [(e["index"], e["event_id"], e["field"]) for e in errors] == [
        (1, mixed[1]["event_id"], "channel"), (2, mixed[2]["event_id"], "channel")]
    assert "this event's channel is store" in errors[0]["message"]
    assert "events without a channel come from BOSS" in errors[1]["message"]
    assert hub.event_log.head_position() == head  # the whole batch refused: nothing stored

    response = client.post("/v1/events", json={"events": [contact()]}, headers=bearer(boss))
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == (
        "a boss key posts only events without a channel; this event's channel is hotline")

    own = [mixed[0], mixed[3]]
    response = client.post("/v1/events", json={"events": own}, headers=bearer(hotline))
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["recorded", "recorded"]  # not stored before


def test_no_role_but_channel_posts_events(client_without_keys: TestClient, hub: ContactHub) -> None:
    for role in (Role.CLERK, Role.AUDITOR, Role.ADMIN):
        response = client_without_keys.post(
            "/v1/events", json={"events": [registered("C1")]}, headers=bearer(new_key(hub, role)))
        assert response.status_code == 403
        assert response.json()["errors"][0]["message"] == (
            f"POST /v1/events needs the role channel; this key (test-{role.value}) has the role {role.value}")
    assert hub.event_log.head_position() == 0


# --- the admin's key endpoints ---------------------------------------------------------------------------


def test_the_admin_creates_lists_and_revokes_keys_over_http(client_without_keys: TestClient, hub: ContactHub) -> None:
    client = client_without_keys
    admin = bearer(new_key(hub, Role.ADMIN, "it-ops"))

    created = client.post("/v1/keys", json={"role": "clerk", "name": "store-0571-03"}, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["key"]["role"] == "clerk" and body["key"]["channel"] is None and body["key"]["revoked_at"] is None
    assert body["key"]["created_at"].endswith("+08:00")
    clerk = body["api_key"]
    assert clerk.startswith(f"ch_{body['key']['key_id']}_")
    assert client.get("/v1/complaints", headers=bearer(clerk)).status_code == 200

    listed = client.get("/v1/keys", headers=admin).json()["items"]
    assert [k["name"] for k in listed] == ["it-ops", "store-0571-03"]
    assert clerk not in str(listed) and clerk.split("_", 2)[2] not in str(listed)  # no secret, ever

    assert client.post("/v1/keys", json={"role": "clerk", "name": "store-0571-03"}, headers=admin).status_code == 409
    refused = client.post("/v1/keys", json={"role": "channel", "name": "ivr"}, headers=admin)
    assert refused.status_code == 422 and "needs a channel" in refused.json()["errors"][0]["message"]
    assert client.post("/v1/keys", json={"role": "channel", "name": "ivr", "channel": "fax"}, headers=admin).status_code == 422
    assert client.post("/v1/keys", json={"role": "clerk", "name": "x", "channel": "store"}, headers=admin).status_code == 422
    assert client.post("/v1/keys/nope/revoke", headers=admin).status_code == 404
    assert client.get("/v1/keys", headers=bearer(clerk)).status_code == 403

    assert client.post(f"/v1/keys/{body['key']['key_id']}/revoke", headers=admin).status_code == 200
    assert client.get("/v1/complaints", headers=bearer(clerk)).status_code == 401
    # the name is free again; the revoked key keeps its row (the access log names it)
    assert client.post("/v1/keys", json={"role": "clerk", "name": "store-0571-03"}, headers=admin).status_code == 201
    assert len(client.get("/v1/keys", headers=admin).json()["items"]) == 3


# --- the access log ------------------------------------------------------------------------------------


def test_reads_by_clerks_and_auditors_are_recorded_and_shown_to_auditors(
    client_without_keys: TestClient, hub: ContactHub
) -> None:
    client = client_without_keys
    boss, hotline = new_key(hub, Role.CHANNEL, channel=BOSS), new_key(hub, Role.CHANNEL, channel="hotline")
    clerk, auditor = bearer(new_key(hub, Role.CLERK, "store-0571-03")), bearer(new_key(hub, Role.AUDITOR, "audit-li"))
    admin = bearer(new_key(hub, Role.ADMIN))
    client.post("/v1/events", json={"events": [registered("C1"), registered("C2", ("13900139000",))]}, headers=bearer(boss))
    position = client.post("/v1/events", json={"events": [complaint_opened("K1")]}, headers=bearer(hotline)).json()["position"]
    before = datetime.now().astimezone()

    assert client.get(f"/v1/customers/C1?min_position={position}", headers=clerk).status_code == 200
    assert client.get("/v1/customers", params={"msisdn": "+8613800138000"}, headers=clerk).status_code == 200
    assert client.get("/v1/complaints/K1", headers=clerk).status_code == 200
    assert client.get("/v1/customers/C2", headers=clerk).status_code == 200
    assert client.get("/v1/metrics/contacts", headers=clerk).status_code == 200  # aggregates: not recorded
    assert client.get("/v1/customers/C1/history", headers=auditor).status_code == 200
    assert client.get("/v1/customers/C1", headers=bearer(hotline)).status_code == 403  # refused: nothing read

    response = client.get("/v1/access-log", params={"customer_id": "C1"}, headers=auditor)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["key_name"], i["role"], i["method"], i["path"], i["query"], i["complaint_id"]) for i in items] == [
        ("store-0571-03", "clerk", "GET", "/v1/customers/C1", f"min_position={position}", None),
        ("store-0571-03", "clerk", "GET", "/v1/customers", "msisdn=%2A", None),  # the number is masked, its customer kept
        ("store-0571-03", "clerk", "GET", "/v1/complaints/K1", "", "K1"),
        ("audit-li", "auditor", "GET", "/v1/customers/C1/history", "", None),
    ]
    for item in items:
        at = datetime.fromisoformat(item["at"])
        assert item["at"].endswith("+08:00") and before - timedelta(seconds=1) <= at <= datetime.now().astimezone()
    assert all(i["customer_id"] == "C1" for i in items)

    everything = client.get("/v1/access-log", headers=auditor).json()["items"]
    assert len(everything) == 5 and everything[3]["customer_id"] == "C2"
    first = client.get("/v1/access-log", params={"limit": 2}, headers=auditor).json()
    rest = client.get("/v1/access-log", params={"after": first["next"], "limit": 10}, headers=auditor).json()
    assert first["items"] + rest["items"] == everything and rest["next"] is None
    assert client.get("/v1/access-log", params={"after": "nonsense"}, headers=auditor).status_code == 422
    clerk_id = everything[0]["key_id"]
    assert len(client.get("/v1/access-log", params={"key_id": clerk_id}, headers=auditor).json()["items"]) == 4

    assert client.get("/v1/access-log", headers=clerk).status_code == 403
    assert client.get("/v1/access-log", headers=admin).status_code == 403
    assert "13800138000" not in str(hub.event_log.read_store.query("SELECT * FROM access_log"))


# --- the desk and the analytics page log in with a key -------------------------------------------------------


def test_the_pages_send_whoever_has_no_login_to_the_login_page(client_without_keys: TestClient) -> None:
    client = client_without_keys
    for path, target in [("/desk", "/desk/login"), ("/desk/customers/C1", "/desk/login?next=%2Fdesk%2Fcustomers%2FC1"),
                         ("/analytics?tier=gold", "/desk/login?next=%2Fanalytics%3Ftier%3Dgold")]:
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, target)
    response = client.post("/desk/complaints/K1/actions", data={"action": "note"}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/desk/login")

    page = client.get("/desk/login")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    assert "请输入您的 API 密钥（营业员、审计员）" in page.text and 'name="key" type="password"' in page.text
    assert "Enter your API key (clerk / auditor)" in client.get("/desk/login", params={"lang": "en"}).text
    assert client.get("/desk/static/desk.css").status_code == 200  # the login page's stylesheet is open


def test_a_clerk_logs_in_acts_and_logs_out(client_without_keys: TestClient, hub: ContactHub) -> None:
    client = client_without_keys
    boss, hotline = new_key(hub, Role.CHANNEL, channel=BOSS), new_key(hub, Role.CHANNEL, channel="hotline")
    client.post("/v1/events", json={"events": [registered("C1")]}, headers=bearer(boss))
    position = client.post("/v1/events", json={"events": [complaint_opened("K1")]}, headers=bearer(hotline)).json()["position"]
    assert hub.projector.wait_for(position, 5)
    clerk = new_key(hub, Role.CLERK, "store-0571-03")

    wrong = client.post("/desk/login", data={"key": "ch_000000000000_" + "A" * 43, "next": "/desk/customers/C1"})
    assert wrong.status_code == 401
    assert "密钥无效：格式不对、不存在或已被吊销。" in wrong.text
    assert "contacthub_key" not in client.cookies
    english = client.post("/desk/login?lang=en", data={"key": "nonsense"})
    assert english.status_code == 401 and "That key is not valid: malformed, unknown or revoked." in english.text
    channel = client.post("/desk/login?lang=zh", data={"key": hotline})
    assert channel.status_code == 403 and "是渠道系统密钥，不能登录服务台；需要营业员、审计员密钥" in channel.text

    response = client.post("/desk/login", data={"key": clerk, "next": "/desk/customers/C1"}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/desk/customers/C1")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("contacthub_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/;" in cookie and clerk not in cookie  # a session, never the key (test_keys_and_sessions.py)
    assert client.post("/desk/login", data={"key": clerk, "next": "https://evil.example/"},
                       follow_redirects=False).headers["location"] == "/desk"

    card = client.get("/desk/customers/C1")
    assert card.status_code == 200 and 'data-testid="who" data-role="clerk"' in card.text
    assert 'form class="action-form' in card.text
    noted = client.post("/desk/complaints/K1/actions", data={
        "action": "note", "by": "store-0571-03", "channel": "store", "text": "客户到店询问进度", "return_to": "/desk/customers/C1"})
    assert noted.status_code == 200 and "已办理" in noted.text
    assert client.get("/analytics").status_code == 200
    assert client.get("/v1/complaints/K1").json()["owner"] == "agent-7"  # the login cookie also opens the JSON links (GET)
    assert client.post("/v1/complaints/K1/actions", json={"action": "note"}).status_code == 401  # but never a change

    logged = [(r["key_name"], r["path"]) for r in hub.event_log.read_store.query("SELECT * FROM access_log ORDER BY at")]
    assert ("store-0571-03", "/desk/customers/C1") in logged and ("store-0571-03", "/analytics") in logged

    out = client.post("/desk/logout", follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/desk/login")
    assert "contacthub_session" not in client.cookies
    assert client.get("/desk", follow_redirects=False).status_code == 303


def test_an_auditor_reads_the_desk_but_cannot_act(client_without_keys: TestClient, hub: ContactHub) -> None:
    client = client_without_keys
    boss, hotline = new_key(hub, Role.CHANNEL, channel=BOSS), new_key(hub, Role.CHANNEL, channel="hotline")
    client.post("/v1/events", json={"events": [registered("C1")]}, headers=bearer(boss))
    position = client.post("/v1/events", json={"events": [complaint_opened("K1")]}, headers=bearer(hotline)).json()["position"]
    assert hub.projector.wait_for(position, 5)
    auditor = new_key(hub, Role.AUDITOR, "audit-li")
    assert client.post("/desk/login", data={"key": auditor}, follow_redirects=False).status_code == 303

    card = client.get("/desk/customers/C1")
    assert card.status_code == 200 and 'data-testid="read-only"' in card.text and 'form class="action-form' not in card.text
    refused = client.post("/desk/complaints/K1/actions", data={
        "action": "note", "by": "audit-li", "channel": "store", "text": "x", "return_to": "/desk/customers/C1"})
    assert refused.status_code == 403
    assert "无权执行此操作；需要营业员密钥" in refused.text
    assert client.get("/v1/complaints/K1").json()["history"][-1]["type"] == "complaint.opened"  # nothing recorded

    ApiKeys(hub.event_log.read_store).revoke(auditor.split("_")[1])
    assert client.get("/desk/customers/C1", follow_redirects=False).status_code == 303  # revoked: log in again


# --- the CLI ---------------------------------------------------------------------------------------------


def run(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning"})
    return result.exit_code, result.stdout, result.stderr


def test_keys_are_created_listed_and_revoked_from_the_cli(database_url: str) -> None:
    code, out, _ = run(database_url, "keys", "create", "--role", "channel", "--name", "10086-ivr", "--channel", "hotline")
    assert code == 0, out
    lines = out.splitlines()
    assert re.fullmatch(r"created key [0-9a-f]{12} \(channel, channel hotline\) named '10086-ivr':", lines[0])
    key = lines[1]
    assert re.fullmatch(r"ch_[0-9a-f]{12}_[A-Za-z0-9_\-]{43}", key)
    assert lines[2] == "This key is shown once and cannot be shown again: store it now (only its hash is kept)."
    key_id = key.split("_")[1]
    assert run(database_url, "keys", "create", "--role", "auditor", "--name", "audit-li")[0] == 0

    code, out, _ = run(database_url, "keys", "list")
    assert code == 0 and key not in out and key.split("_", 2)[2] not in out
    assert re.search(rf"^{key_id}  channel  hotline .* 10086-ivr$", out, re.M)
    assert out.splitlines()[-1] == "2 key(s), 2 active"

    hub = build(Settings(database_url=database_url))
    try:
        principal = ApiKeys(hub.event_log.read_store).authenticate(key)
        assert principal is not None and (principal.role, principal.channel, principal.name) == (Role.CHANNEL, "hotline", "10086-ivr")
        row = hub.event_log.read_store.query_one("SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
        assert row is not None and key.split("_", 2)[2] not in str(row)  # only the hash is stored
    finally:
        hub.close()

    assert run(database_url, "keys", "revoke", key_id)[1] == f"revoked key {key_id} (channel, 10086-ivr)\n"
    assert run(database_url, "keys", "revoke", key_id)[1].startswith(f"key {key_id} (10086-ivr) was already revoked at ")
    assert run(database_url, "keys", "list", "--active")[1].splitlines()[-1] == "1 key(s), 1 active"
    hub = build(Settings(database_url=database_url))
    try:
        assert ApiKeys(hub.event_log.read_store).authenticate(key) is None
    finally:
        hub.close()


@pytest.mark.parametrize(("args", "error"), [
    (("--role", "channel", "--name", "ivr"), "contacthub: a channel key needs a channel: one of hotline, store, web, app, "
                                             "sms, email, technician, kiosk, account_manager, boss\n"),
    (("--role", "clerk", "--name", "x", "--channel", "store"), "contacthub: only channel keys are bound to a channel; "
                                                             "a clerk key is not\n"),
    (("--role", "clerk", "--name", ""), "contacthub: a key's name is 1 to 64 characters\n"),
])
def test_cli_key_errors_are_one_line(database_url: str, args: tuple[str, ...], error: str) -> None:
    code, out, err = run(database_url, "keys", "create", *args)
    assert (code, out, err) == (1, "", error)


def test_cli_refuses_a_second_active_key_of_the_same_name_and_unknown_keys(database_url: str) -> None:
    assert run(database_url, "keys", "create", "--role", "admin", "--name", "it-ops")[0] == 0
    code, _, err = run(database_url, "keys", "create", "--role", "admin", "--name", "it-ops")
    assert code == 1 and re.fullmatch(r"contacthub: an active key is already named 'it-ops' \([0-9a-f]{12}\); revoke it first\n", err)
    assert run(database_url, "keys", "revoke", "nope") == (1, "", "contacthub: no key nope\n")
    code, _, err = run(database_url, "keys", "create", "--role", "root", "--name", "x")
    assert code == 2 and "'root' is not one of 'channel', 'clerk', 'auditor', 'admin'" in err


def test_the_demo_keys_are_new_on_every_run(hub: ContactHub) -> None:
    first = dict(demo_keys(hub))
    second = dict(demo_keys(hub))
    assert sorted(first) == sorted(second) == sorted(
        ["demo-admin", "demo-clerk", "demo-auditor", "demo-integration", *(f"demo-{s}" for s in SOURCES)])
    store = ApiKeys(hub.event_log.read_store)
    assert all(store.authenticate(k) is None for k in first.values())  # the previous run's are revoked
    principals = {name: store.authenticate(k) for name, k in second.items()}
    assert principals["demo-clerk"].role is Role.CLERK  # type: ignore[union-attr]
    assert (principals["demo-boss"].role, principals["demo-boss"].channel) == (Role.CHANNEL, BOSS)  # type: ignore[union-attr]


# --- OpenAPI ----------------------------------------------------------------------------------------------


def test_the_openapi_document_declares_the_keys(client_without_keys: TestClient) -> None:
    document = client_without_keys.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    events = document["paths"]["/v1/events"]["post"]
    assert {"bearer": []} in events["security"] and {"401", "403"} <= set(events["responses"])
    assert "security" not in document["paths"]["/health"]["get"]
