"""The TM Forum facades against TM Forum's own v4 specification files (../shared/tmf/, kept in
tests/tmf/), not against ContactHub's OpenAPI: schemathesis generates requests from the official
Swagger files and every answer must be a status the specification documents for the operation,
with its content type, and a body valid against TM Forum's schema (a TroubleTicket, a
PartyInteraction, an EventSubscription, an Error). Both backends.

Requests are generated from the specification alone (positive data: what a conforming client may
send), sent through the app with the key each operation needs, and judged by schemathesis's own
response checks. About half of the generated ids are replaced by ones that exist, so answers
other than 404 are judged too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, Role
from helpers import registered
from support.auth import bearer, new_key
from support.databases import BACKENDS, fresh_database_url

SPECS = Path(__file__).resolve().parents[1] / "tmf"
TT = "/tmf-api/troubleTicket/v4"
PI = "/tmf-api/partyInteraction/v4"


def content_type_unless_empty(ctx: Any, response: Any, case: Any) -> bool | None:
    """The specifications' `produces` covers a 204 too, which has no body and so no content type."""
    if response.status_code == 204:
        return None
    return content_type_conformance(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_unless_empty, response_schema_conformance]


def official(spec: str, operations: list[str]) -> Any:
    schema = schemathesis.openapi.from_path(SPECS / spec, config=schemathesis.Config())
    schema.config.generation.update(modes=[GenerationMode.POSITIVE], allow_x00=False)
    return schema.include(name=operations)


TMF621 = official("TMF621-TroubleTicket-v4.0.0.swagger.json", [
    "GET /troubleTicket", "POST /troubleTicket", "GET /troubleTicket/{id}", "PATCH /troubleTicket/{id}",
    "POST /hub", "DELETE /hub/{id}"])
TMF683 = official("TMF683-PartyInteraction-v4.0.0.swagger.json", [
    "GET /partyInteraction", "POST /partyInteraction", "GET /partyInteraction/{id}", "POST /hub", "DELETE /hub/{id}"])
FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@dataclass
class Served:
    hub: ContactHub
    client: TestClient
    keys: dict[str, str]
    known: dict[str, str]
    """An existing id per path with `{id}`."""


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = fresh_database_url(str(request.param), request, tmp_path_factory)
    hub = build(Settings(database_url=url, read_wait_timeout_s=5.0, log_format="console", sla_watch_interval_s=0,
                         callback_hosts="listener.example.cn", deliver_webhooks=False))
    keys = {"boss": new_key(hub, Role.CHANNEL, channel=BOSS), "hotline": new_key(hub, Role.CHANNEL, channel="hotline"),
            "clerk": new_key(hub, Role.CLERK), "integration": new_key(hub, Role.INTEGRATION)}
    try:
        with TestClient(create_app(hub)) as client:
            assert client.post("/v1/events", headers=bearer(keys["boss"]), json={"events": [
                registered("C1", ("13800138000",))]}).status_code == 200
            ticket = client.post(f"{TT}/troubleTicket", headers=bearer(keys["hotline"]), json={
                "description": "宽带断线", "severity": "high", "ticketType": "broadband",
                "relatedParty": [{"id": "C1", "role": "customer", "@referredType": "Individual"}]})
            interaction = client.post(f"{PI}/partyInteraction", headers=bearer(keys["hotline"]), json={
                "direction": "inbound", "reason": "billing_query", "status": "resolved",
                "channel": [{"id": "hotline", "href": "urn:contacthub:channel:hotline", "role": "interactionChannel"}],
                "interactionDate": {"startDateTime": "2026-11-02T09:00:00+08:00"},
                "relatedParty": [{"id": "C1", "href": "/v1/customers/C1", "role": "customer", "@referredType": "Individual"},
                                 {"id": "0571-01", "href": "x", "role": "site", "@referredType": "Organization"}],
                "interactionItem": [{"item": {"id": ticket.json()["id"], "@referredType": "TroubleTicket"}}]})
            hubs = {base: client.post(f"{base}/hub", headers=bearer(keys["integration"]),
                                      json={"callback": "https://listener.example.cn/in"}) for base in (TT, PI)}
            assert ticket.status_code == interaction.status_code == 201, (ticket.text, interaction.text)
            assert all(h.status_code == 201 for h in hubs.values())
            known = {f"{TT}/troubleTicket/{{id}}": ticket.json()["id"], f"{PI}/partyInteraction/{{id}}": interaction.json()["id"],
                     f"{TT}/hub/{{id}}": hubs[TT].json()["id"], f"{PI}/hub/{{id}}": hubs[PI].json()["id"]}
            yield Served(hub, client, keys, known)
    finally:
        hub.close()


def key_for(method: str, path: str) -> str:
    if path.endswith("/hub") or "/hub/" in path:
        return "integration"
    return "hotline" if method == "POST" else "clerk"


@pytest.fixture(scope="module")
def answered() -> Iterator[list[tuple[str, str, int]]]:
    """Every answer's status; at the end, each operation must have succeeded at least once (not only refused)."""
    statuses: list[tuple[str, str, int]] = []
    yield statuses
    operations = {(m, p) for m, p, _ in statuses}
    succeeded = {(m, p) for m, p, status in statuses if status < 300}
    assert operations - succeeded == set(), f"never answered with success: {sorted(operations - succeeded)}"


def steered(path: str, body: Any) -> Any:
    """A generated create body with the values ContactHub needs to accept it (still valid under the specification):
    a severity and channel it knows, the registered customer, an allowed callback; other generated fields stay."""
    if not isinstance(body, dict):
        return body
    body = {k: v for k, v in body.items() if k not in ("note", "attachment", "interactionRelationship", "description",
                                                       "externalId", "status", "interactionItem", "query")}
    if path == "/troubleTicket":
        body.update(description="宽带断线", severity="medium", ticketType="broadband", channel={"id": "hotline"},
                    relatedParty=[{"id": "C1", "role": "customer", "@referredType": "Individual"}])
    elif path == "/partyInteraction":
        body.update(direction="inbound", reason="billing_query", status="resolved",
                    channel=[{"id": "hotline", "href": "urn:contacthub:channel:hotline", "role": "interactionChannel"}],
                    interactionDate={"startDateTime": "2026-11-02T09:00:00+08:00"},
                    relatedParty=[{"id": "C1", "href": "/v1/customers/C1", "role": "customer", "@referredType": "Individual"}])
    elif path == "/hub":
        body.update(callback="https://listener.example.cn/in")
    return body


def exchange(served: Served, answered: list[tuple[str, str, int]], case: Any, base: str) -> None:
    path = base + case.operation.path
    if case.method.upper() == "POST" and len(answered) % 2 == 0:
        case.body = steered(case.operation.path, case.body)
    if case.method.upper() == "PATCH" and len(answered) % 2 == 0:
        case.body = {"note": [{"text": "客户已回电"}]}  # one a clerk makes (a generated one mostly changes what cannot)
    known = served.known.get(path)
    if known is not None and "id" in case.path_parameters and len(str(case.path_parameters["id"])) % 2 == 0:
        case.path_parameters["id"] = known  # about half: an existing resource; the rest: 404s
    sent = case.as_transport_kwargs(base_url=f"http://testserver{base}",
                                    headers=bearer(served.keys[key_for(case.method.upper(), case.operation.path)]))
    body: dict[str, Any] = {}
    if "json" in sent:
        body["json"] = sent["json"]
    elif sent.get("data") is not None:
        body["content"] = sent["data"]
    if sent.get("cookies"):
        body["cookies"] = sent["cookies"]
    response = served.client.request(sent["method"], sent["url"], params=sent.get("params"), headers=sent.get("headers"),
                                     **body)
    answered.append((case.method.upper(), case.operation.path, response.status_code))
    case.validate_response(response, checks=CHECKS)


@TMF621.parametrize()
@FUZZ
def test_trouble_ticket_answers_conform_to_tmf621_v4(case: Any, served: Served, answered: list[Any]) -> None:
    exchange(served, answered, case, TT)


@TMF683.parametrize()
@FUZZ
def test_party_interaction_answers_conform_to_tmf683_v4(case: Any, served: Served, answered: list[Any]) -> None:
    exchange(served, answered, case, PI)

