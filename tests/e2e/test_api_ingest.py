"""POST /v1/events, as a channel sees it: one batch is validated whole, stored atomically, and idempotent.

Every test runs on SQLite and on PostgreSQL (see conftest.py). The rules themselves (what is malformed,
what conflicts, duplicates) are specified on the ingest service in tests/unit/test_ingest_rules.py;
here each family is shown once through HTTP (status code, JSON errors naming the field, nothing
stored), with what only HTTP or a real database can show.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import build
from contacthub.config import Settings
from helpers import complaint_opened, contact, event, registered
from support.auth import allow_everything

# --- small readers ------------------------------------------------------------------------


def post(client: TestClient, *events: Any) -> Any:
    return client.post("/v1/events", json={"events": list(events)})


def recorded(client: TestClient, *events: Any) -> dict[str, Any]:
    """Post a batch that must be accepted; return the response body."""
    response = post(client, *events)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def log_position(client: TestClient) -> int:
    response = client.get("/v1/status")
    assert response.status_code == 200, response.text
    return int(response.json()["log_position"])


def customer(client: TestClient, customer_id: str = "C1") -> dict[str, Any]:
    """The 360-degree view once it has caught up with everything stored so far."""
    response = client.get(f"/v1/customers/{customer_id}", params={"min_position": log_position(client)})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def timeline(client: TestClient, customer_id: str = "C1") -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/customers/{customer_id}/timeline", params={"limit": 500, "min_position": log_position(client)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["next"] is None
    return response.json()["items"]  # type: ignore[no-any-return]


def what_is_stored(client: TestClient) -> tuple[int, int, list[str]]:
    """Log head, C1's contact count and C1's timeline event ids: what "nothing stored" compares."""
    view = customer(client)
    return log_position(client), view["contact_count"], [item["event_id"] for item in timeline(client)]


def errors_of(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert set(body) == {"errors"}, body
    return body["errors"]  # type: ignore[no-any-return]


def without(raw: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in keys}


@pytest.fixture
def c1(client: TestClient) -> TestClient:
    """Given customer C1 registered with msisdn 13800138000 (and one earlier hotline contact)."""
    recorded(client, registered("C1", ("13800138000",)), contact())
    return client


# --- a valid batch --------------------------------------------------------------------------


def test_a_valid_batch_is_recorded_and_answers_each_events_log_position(client: TestClient) -> None:
    batch = [registered("C1", ("13800138000",)), contact({"customer_id": "C1"}), contact(channel="web")]

    body = recorded(client, *batch)

    assert [r["event_id"] for r in body["results"]] == [e["event_id"] for e in batch]
    assert [r["status"] for r in body["results"]] == ["recorded"] * 3
    positions = [r["position"] for r in body["results"]]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert body["position"] == positions[-1] == log_position(client)
    view = customer(client)
    assert view["contact_count"] == 2
    assert view["contact_counts"] == {"hotline": 1, "web": 1}


# --- the batch is validated whole: 422 lists every problem, stores nothing --------------------
# Which input is malformed, and which field each error names: tests/unit/test_ingest_rules.py.
# Here, once, how such a refusal reaches the channel.


def test_a_missing_field_and_an_invalid_field_of_one_event_are_both_reported(c1: TestClient) -> None:
    before = what_is_stored(c1)
    bad = without(contact(channel="fax"), "reason")

    response = post(c1, contact(), bad)

    assert response.status_code == 422
    errors = errors_of(response)
    for error in errors:
        assert set(error) == {"index", "event_id", "field", "message"}
        assert isinstance(error["message"], str) and error["message"]
    assert sorted((e["index"], e["event_id"], e["field"]) for e in errors) == [
        (1, bad["event_id"], "channel"),
        (1, bad["event_id"], "reason"),
    ]
    assert what_is_stored(c1) == before  # not even the valid first event


# --- rule violations: 409, same shape, nothing stored, even when the last event is the bad one -----
# Every rule (unknown customer or msisdn, claims, orders, complaint transitions, event ids reused for other
# content): tests/unit/test_ingest_rules.py. Here, once, how such a refusal reaches the channel.


def test_a_rule_violation_at_the_end_of_a_batch_rejects_the_whole_batch(client: TestClient) -> None:
    recorded(client, registered("C1", ("13800138000",)), registered("C2", ("13900139000",)))
    before = what_is_stored(client)
    c2_before = customer(client, "C2")["contact_count"]
    valid = [contact(), contact({"customer_id": "C2"}, channel="store")]
    bad = complaint_opened("K9", {"msisdn": "13700000000"})  # a number nobody registered (a touchpoint would be kept)

    response = post(client, *valid, bad)

    assert response.status_code == 409, response.text
    errors = errors_of(response)
    assert errors == [
        {"index": 2, "event_id": bad["event_id"], "field": "msisdn", "message": "no customer has registered msisdn 13700000000"}
    ]
    assert what_is_stored(client) == before
    assert customer(client, "C2")["contact_count"] == c2_before
    # The valid events were not kept, nor were their event ids: posted alone, they are recorded now.
    assert [r["status"] for r in recorded(client, *valid)["results"]] == ["recorded", "recorded"]


# --- a reopening as the customer view shows it ---------------------------------------------------


def test_a_resolved_complaint_can_be_reopened_to_in_progress(client: TestClient) -> None:
    recorded(
        client,
        registered("C1"),
        complaint_opened("K1"),
        event("complaint.resolved", complaint_id="K1", resolution="refunded 30 yuan", by="agent-9"),
    )

    recorded(client, event("complaint.reopened", complaint_id="K1", reason="charged again", by="agent-2"))

    [k1] = customer(client)["open_complaints"]
    assert (k1["complaint_id"], k1["status"], k1["reopen_count"], k1["sla"]["clock"]) == ("K1", "inProgress", 1, 2)


# --- the request itself -------------------------------------------------------------------------


def test_malformed_requests_are_refused_with_the_right_status_and_nothing_is_stored(c1: TestClient) -> None:
    before = what_is_stored(c1)
    one = orjson.dumps({"events": [contact()]})
    cases = [
        ("not JSON", b'{"events": [', "application/json", 400, "body"),
        ("empty body", b"", "application/json", 400, "body"),
        ("JSON with a charset", b"{oops", "application/json; charset=utf-8", 400, "body"),
        ("form content type", one, "application/x-www-form-urlencoded", 415, "content-type"),
        ("text content type", one, "text/plain", 415, "content-type"),
        ("no content type", one, None, 415, "content-type"),
        ("a JSON array", orjson.dumps([contact()]), "application/json", 422, "events"),
        ("events not a list", b'{"events": {"0": 1}}', "application/json", 422, "events"),
        ("no events key", b"{}", "application/json", 422, "events"),
        ("an unknown key", orjson.dumps({"events": [contact()], "dry_run": True}), "application/json", 422, "dry_run"),
        ("no events", b'{"events": []}', "application/json", 422, "events"),
        ("1001 events", orjson.dumps({"events": [contact() for _ in range(1001)]}), "application/json", 422, "events"),
    ]
    for what, body, content_type, status, field in cases:
        headers = {} if content_type is None else {"content-type": content_type}
        response = c1.post("/v1/events", content=body, headers=headers)
        assert response.status_code == status, (what, response.text)
        assert field in [e["field"] for e in errors_of(response)], (what, response.text)
    assert what_is_stored(c1) == before


def test_a_json_body_with_a_charset_parameter_is_accepted(c1: TestClient) -> None:
    response = c1.post(
        "/v1/events", content=orjson.dumps({"events": [contact()]}), headers={"content-type": "application/json; charset=utf-8"}
    )

    assert response.status_code == 200, response.text


def test_garbage_never_causes_a_server_error(c1: TestClient) -> None:
    before = what_is_stored(c1)
    bodies: list[Any] = [
        [None],
        ["contact"],
        [[contact()]],
        [{"type": ["contact.logged"]}],
        [{"type": {"x": 1}, "event_id": {"y": 2}}],
        [{**contact(), "duration_s": 10**30}],
        [{**contact(), "duration_s": 1.5}],
        [{**contact(), "msisdn": 13800138000}],
        [{**contact(), "msisdn": "+" + "8" * 40}],
        [{**contact(), "event_id": "é" * 200}],
        [{**contact(), "reason": "x" * 100_000}],
        [{**contact(), "occurred_at": "9999-12-31T23:59:59+14:00"}],
        [{**contact(), "occurred_at": "2026-11-02T09:00:00+25:00"}],
        [event("customer.tier_changed", tier="gold", arpu=1e308)],
        [event("order.placed", order_id="O1", services=["voice"] * 11)],
        [{**contact(), "customer_id": "C1\n", "msisdn": None}],
    ]
    for events in bodies:
        response = c1.post("/v1/events", json={"events": events})
        assert 400 <= response.status_code < 500, (events, response.status_code, response.text)
        assert errors_of(response)
    for raw in (b'{"events": [{"duration_s": 1e400}]}', b'{"events": ["\\ud800"]}', b"[" * 5000, b"\xff\xfe"):
        response = c1.post("/v1/events", content=raw, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (raw[:40], response.status_code, response.text)
    assert what_is_stored(c1) == before


@pytest.fixture
def small_body_client(database_url: str) -> Iterator[TestClient]:
    """The API built with max_body_bytes=2000."""
    hub = build(Settings(database_url=database_url, max_body_bytes=2000, read_wait_timeout_s=3.0))
    try:
        with TestClient(allow_everything(create_app(hub))) as test_client:
            yield test_client
    finally:
        hub.close()


def test_a_body_over_max_body_bytes_is_refused_with_413(small_body_client: TestClient) -> None:
    client = small_body_client
    recorded(client, registered("C1", ("13800138000",)))
    before = what_is_stored(client)
    big = orjson.dumps({"events": [contact() for _ in range(10)]})
    assert len(big) > 2000

    declared = client.post("/v1/events", content=big, headers={"content-type": "application/json"})
    streamed = client.post(  # chunked, without a Content-Length: the limit holds while reading
        "/v1/events", content=iter([big[i : i + 500] for i in range(0, len(big), 500)]),
        headers={"content-type": "application/json"},
    )

    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert [e["field"] for e in errors_of(response)] == ["body"]
    assert what_is_stored(client) == before
    # A batch under the limit still goes through.
    small = orjson.dumps({"events": [contact()]})
    assert len(small) < 2000
    assert client.post("/v1/events", content=small, headers={"content-type": "application/json"}).status_code == 200


# --- idempotency ----------------------------------------------------------------------------------
# Duplicates within a batch, reused event ids, key order, mixed batches: tests/unit/test_ingest_rules.py.


def test_reposting_a_batch_answers_duplicate_with_the_same_positions_and_stores_it_once(c1: TestClient) -> None:
    batch = [contact(), contact(channel="store", handled_by="store-88"), complaint_opened("K1")]
    first = recorded(c1, *batch)
    stored = what_is_stored(c1)

    again = recorded(c1, *batch)

    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
    assert [(r["event_id"], r["position"]) for r in again["results"]] == [
        (r["event_id"], r["position"]) for r in first["results"]
    ]
    assert again["position"] == first["position"]
    assert what_is_stored(c1) == stored
    assert len(customer(c1)["open_complaints"]) == 1


def test_each_stored_contact_posted_again_on_its_own_is_answered_duplicate_promptly(c1: TestClient) -> None:
    """A stored contact passes the customer's rules again, so its retry is refused only by the unique
    event_id key (the writer's optimistic path): that refusal must still read as "duplicate"."""
    # Given 30 stored contacts
    events = [contact(channel=channel) for channel in ("hotline", "store", "web", "app", "sms") * 6]
    first = recorded(c1, *events)
    stored = what_is_stored(c1)

    # When a channel retries each of them on its own (the usual retry after a lost response)
    # Then every retry is a plain "duplicate" at the first position, answered without stalling
    started = time.monotonic()
    for sent, result in zip(events, first["results"]):
        try:
            answer = post(c1, sent)
        except Exception as exc:  # the TestClient re-raises what the app answered 503 for
            pytest.fail(f"re-posting stored contact {sent['event_id']} failed in the server: {exc!r}")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"results": [{**result, "status": "duplicate"}], "position": result["position"]}
        elapsed = time.monotonic() - started
        assert elapsed < 3.0, f"duplicate re-posts stall: {elapsed:.1f} s by {sent['event_id']}"
    assert what_is_stored(c1) == stored


def test_event_ids_are_durable_across_restarts(database_url: str) -> None:
    settings = Settings(database_url=database_url, read_wait_timeout_s=3.0)
    batch = [registered("C1", ("13800138000",)), contact(), contact(channel="app")]

    first_hub = build(settings)
    try:
        with TestClient(allow_everything(create_app(first_hub))) as client:
            first = recorded(client, *batch)
    finally:
        first_hub.close()

    second_hub = build(settings)
    try:
        with TestClient(allow_everything(create_app(second_hub))) as client:
            again = recorded(client, *batch)
            changed = post(client, {**batch[0], "name": "李雷"})
            assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
            assert [r["position"] for r in again["results"]] == [r["position"] for r in first["results"]]
            assert log_position(client) == first["position"]
            assert customer(client)["contact_count"] == 2
            assert changed.status_code == 409
            assert [e["field"] for e in errors_of(changed)] == ["event_id"]
    finally:
        second_hub.close()


# --- the published contract ---------------------------------------------------------------------


def test_the_openapi_document_publishes_the_ingest_batch_schema(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    schemas = document["components"]["schemas"]
    assert "IngestBatch" in schemas
    assert schemas["IngestBatch"]["properties"]["events"]["maxItems"] == 1000
    body_schema = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/IngestBatch"}
    # Every reference in the document resolves (the event schemas were moved under components).
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    refs.append(value)
                elif key == "mapping" and isinstance(value, dict):
                    refs.extend(value.values())
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(document)
    assert "#/components/schemas/ContactLogged" in refs
    assert [r for r in refs if r.removeprefix("#/components/schemas/") not in schemas] == []


def test_the_interactive_docs_are_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text


def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(hub: Any) -> None:
    """A channel that times out while sending its batch: nothing stored, answered 400, and
    the app does not raise (a raise is what the server would log as an internal error)."""
    import asyncio

    app = allow_everything(create_app(hub, run_projector=False, run_sla_watcher=False))
    incoming = [{"type": "http.request", "body": b'{"events": [{"event_id": ', "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/events", "raw_path": b"/v1/events", "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert orjson.loads(sent[1]["body"])["errors"][0]["field"] == "body"
    assert hub.event_log.head_position() == 0
