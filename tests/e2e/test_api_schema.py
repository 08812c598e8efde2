"""Hostile input against every operation of the app's own OpenAPI document (schemathesis).

Each operation is sent generated requests, valid and invalid, with a real key of a role that
may call it (so requests reach the handlers, not only the key check), on both backends, over
a few seeded customers, complaints and orders that generated path parameters sometimes name.
Every answer must be: no 5xx, a status code the document lists for the operation, a body that
matches the documented schema of that status, and a 4xx for every request the document says is
invalid. What the runs found is pinned by the regression tests at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import hypothesis
import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from contacthub.adapters.http.app import create_app
from contacthub.adapters.http.limits import MAX_PATH_BYTES, MAX_QUERY_BYTES, MAX_SMALL_BODY_BYTES
from contacthub.adapters.store.api_keys import ApiKeys
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, SOURCES, Role
from helpers import complaint_opened, contact, event, registered
from support.auth import bearer, new_key
from support.databases import BACKENDS, fresh_database_url

EXAMPLES_PER_OPERATION = 12
"""Generated requests per operation and backend: bounded so the file stays well under a minute on 2 cores."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _published_document() -> dict[str, Any]:
    """The OpenAPI document exactly as the app serves it (built over a stand-in hub: only its routes are read)."""
    stand_in = SimpleNamespace(settings=Settings(), event_log=SimpleNamespace(read_store=None), clock=None)
    return create_app(stand_in).openapi()  # type: ignore[arg-type]


schema = schemathesis.openapi.from_dict(
    _published_document(),
    config=schemathesis.Config.from_dict({
        # The key is the test's own (a real one, per operation); unknown parameters and headers
        # are ignored by HTTP servers and prove nothing when they are.
        "generation": {"with-security-parameters": False, "allow-extra-parameters": False},
        # Invalid input must be refused with a 4xx; 413 and 414 are this app's limits (docs/limits.md).
        "checks": {"negative_data_rejection": {"expected-statuses": [
            400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 428,
        ]}},
        # POST /v1/events: the coverage phase's boundary cases of all 21 event types are ~1,700
        # requests; tests/e2e/test_payload_fuzz.py covers every field of every type instead.
        "operations": [{"include-path": "/v1/events", "phases": {"coverage": {"enabled": False}}}],
    }),
)
# The TM Forum facades are judged against TM Forum's own specification files instead
# (tests/e2e/test_tmf_conformance.py), which is what their clients hold them to.
schema = schema.exclude(path_regex="^/tmf-api/")

# --- the records generated requests sometimes name -------------------------------------------------------

SEEDED: dict[str, list[str]] = {
    "customer_id": ["C1", "C2"],
    "complaint_id": ["K1", "K2"],
    "order_id": ["O1"],
}


def _seed(hub: ContactHub) -> int:
    outcome = hub.ingest.ingest([
        registered("C1", ("13800138000",)),
        registered("C2", ("13900139000",), tier="diamond"),
        contact({"customer_id": "C1"}, complaint_id="K1", order_id="O1"),
        contact({"msisdn": "13900139000"}, channel="store", outcome="resolved"),
        event("order.placed", {"customer_id": "C1"}, order_id="O1", services=["plan_5g", "broadband"]),
        event("service.activated", {"customer_id": "C1"}, order_id="O1", service="plan_5g"),
        complaint_opened("K1", {"customer_id": "C1"}),
        complaint_opened("K2", {"customer_id": "C2"}, severity="critical"),
        event("complaint.pended", {"customer_id": "C2"}, complaint_id="K2", reason="等待客户确认"),
    ])
    return outcome.position


# --- one served app per backend, a key for each role --------------------------------------------------------


@dataclass
class Served:
    hub: ContactHub
    app: Any
    """The app for schemathesis (see _without_lifespan)."""
    client: TestClient
    keys: dict[Role | str, str]

    def get(self, url: str, role: Role, **params: Any) -> Any:
        return self.client.get(url, params=params, headers=bearer(self.keys[role]))

    def key_for(self, case: Any) -> str:
        """A key whose role may call the operation: what each role may do is domain/roles.py.

        A batch of events is posted with the key of the channel its events name (a `boss` key
        when they name none), so that the channel rule lets it through to validation; a batch
        mixing channels is refused (403) by any key.
        """
        method, path = case.method, case.path
        if path == "/v1/events":
            events = case.body.get("events") if isinstance(case.body, dict) else None
            named = [e.get("channel") for e in events if isinstance(e, dict)] if isinstance(events, list) else []
            channels = {c for c in named if isinstance(c, str)}
            channel = channels.pop() if len(channels) == 1 else BOSS
            return self.keys[channel if channel in SOURCES else BOSS]
        if path.startswith(("/v1/hub", "/v1/feed")):
            return self.keys[Role.INTEGRATION]
        if path.startswith("/v1/keys") or path.endswith("/erasure"):
            return self.keys[Role.ADMIN]
        if method == "POST":  # the complaint actions
            return self.keys[Role.CLERK]
        return self.keys[Role.AUDITOR]  # reads everything a clerk reads, the audit API and the access log


def _without_lifespan(app: Any) -> Any:
    """The app for schemathesis's own client, which would start the app's lifespan and keep it to the process's end.

    The fixture's TestClient runs the real lifespan (the embedded projector) for the module's
    duration; the ASGI client only sends requests.
    """

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("the lifespan is run by the test's TestClient")
        await app(scope, receive, send)

    return asgi


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = fresh_database_url(str(request.param), request, tmp_path_factory)
    hub = build(Settings(database_url=url, read_wait_timeout_s=0.5, log_format="console", sla_watch_interval_s=0))
    try:
        seeded = _seed(hub)
        keys: dict[Role | str, str] = {role: new_key(hub, role)
                                       for role in (Role.CLERK, Role.AUDITOR, Role.ADMIN, Role.INTEGRATION)}
        keys.update({source: new_key(hub, Role.CHANNEL, channel=source) for source in SOURCES})
        app = create_app(hub)
        with TestClient(app) as client:
            assert hub.projector.wait_for(seeded, 10)
            yield Served(hub, _without_lifespan(app), client, keys)
    finally:
        hub.close()


def _now_and_then_seeded(parameters: dict[str, Any] | None) -> Any:
    """Now and then a seeded record instead of a generated id, so handlers answer about real data too."""
    if not parameters:
        return st.just(parameters)
    return st.fixed_dictionaries({
        name: st.sampled_from([value, *SEEDED[name]]) if name in SEEDED and isinstance(value, str) else st.just(value)
        for name, value in parameters.items()
    })


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    return _now_and_then_seeded(path_parameters)


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
    return _now_and_then_seeded(query)  # the customer_id filters of the queues, orders and the access log


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,
)
def test_every_operation_answers_as_documented(case: Any, served: Served) -> None:
    key = served.key_for(case)
    case.call_and_validate(app=served.app, headers=bearer(key), checks=CHECKS)


# --- regressions: what the runs above found, each pinned ------------------------------------------------------


def refused(response: Any, status: int = 422) -> set[str]:
    assert response.status_code == status, response.text
    return {e["field"] for e in response.json()["errors"]}


def test_the_document_publishes_the_model_of_every_json_answer() -> None:
    """Regression: the app's JSON response class was not a JSONResponse, so FastAPI published every
    200 answer as `{"type": "string"}` and no client could see (or check) what the API returns."""
    document = _published_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                json_schema = answer.get("content", {}).get("application/json", {}).get("schema")
                assert json_schema != {"type": "string"}, f"{method.upper()} {path} {status}"
    customer = document["paths"]["/v1/customers/{customer_id}"]["get"]["responses"]["200"]
    assert customer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Customer360Out"}


def test_dates_outside_the_supported_years_are_refused_naming_the_parameter(served: Served) -> None:
    """Regression: `to=0001-01-01` (the period's default start 29 days earlier) and the like overflowed into a 500."""
    auditor = Role.AUDITOR
    for path in ("/v1/metrics/contacts", "/v1/metrics/channels", "/v1/metrics/complaints", "/v1/metrics/journeys"):
        assert refused(served.get(path, auditor, to="0001-01-05")) == {"to"}
        assert refused(served.get(path, auditor, **{"from": "1969-12-31", "to": "1970-01-20"})) == {"from"}
        assert refused(served.get(path, auditor, to="3000-01-01")) == {"to"}
        assert served.get(path, auditor, **{"from": "1970-01-01", "to": "1970-01-30"}).status_code == 200
        assert served.get(path, auditor, **{"from": "2999-12-02", "to": "2999-12-31"}).status_code == 200
    assert refused(served.get("/v1/metrics/value", auditor, to="9999-12-31")) == {"to"}
    assert served.get("/v1/metrics/value", auditor, to="2999-12-31").status_code == 200
    moments = [("/v1/customers/at-risk", "as_of"), ("/v1/access-log", "since"), ("/v1/customers/C1/history", "as_of"),
               ("/v1/customers/C1/state", "as_of"), ("/v1/customers/C1/state", "occurred_before")]
    for path, name in moments:
        assert refused(served.get(path, auditor, **{name: "0001-01-01T00:00:00+05:00"})) == {name}
        assert refused(served.get(path, auditor, **{name: "9999-12-31T23:59:59-23:59"})) == {name}
        assert served.get(path, auditor, **{name: "1970-01-01T00:00:00+14:00"}).status_code in (200, 404)
        assert served.get(path, auditor, **{name: "2999-12-31T23:59:59-23:59"}).status_code in (200, 404)


def test_a_date_or_moment_is_text_in_its_one_form_not_unix_seconds(served: Served) -> None:
    """Regression: pydantic read `to=0` as 1970-01-01 and `as_of=0.5` as Unix seconds; the contract refuses both."""
    assert refused(served.get("/v1/metrics/contacts", Role.AUDITOR, to="0")) == {"to"}
    assert refused(served.get("/v1/metrics/contacts", Role.AUDITOR, to="2026-11-02T00:00:00Z")) == {"to"}
    assert refused(served.get("/v1/customers/at-risk", Role.AUDITOR, as_of="0.5")) == {"as_of"}
    assert refused(served.get("/v1/access-log", Role.AUDITOR, since="1730509200")) == {"since"}
    naive = served.get("/v1/customers/at-risk", Role.AUDITOR, as_of="2026-11-02T09:00:00")
    assert refused(naive) == {"as_of"} and "offset" in naive.json()["errors"][0]["message"]
    assert served.get("/v1/customers/at-risk", Role.AUDITOR, as_of="2026-11-02 09:00:00.123456789z").status_code == 200


def test_a_control_character_in_the_path_or_a_query_parameter_is_refused_naming_it(served: Served) -> None:
    """Regression: on PostgreSQL, a NUL in a query parameter (a queue filter, or anything the access log records)
    or in a recorded path reached a text column and failed there: 500."""
    assert refused(served.get("/v1/complaints", Role.AUDITOR, customer_id="C1\x00")) == {"customer_id"}
    assert refused(served.get("/v1/complaints", Role.AUDITOR, owner="agent\x1b[31m")) == {"owner"}
    assert refused(served.get("/v1/customers/C1%00/history", Role.AUDITOR)) == {"path"}
    assert refused(served.get("/v1/access-log", Role.AUDITOR, key_id="\x00")) == {"key_id"}
    store = ApiKeys(served.client.app.state.hub.event_log.read_store)  # type: ignore[attr-defined]
    session = store.open_session(store.authenticate(served.keys[Role.AUDITOR]), 600)  # type: ignore[arg-type]
    page = {"Cookie": f"contacthub_session={session}"}
    assert refused(served.client.get("/analytics", params={"from": "\x00"}, headers=page)) == {"from"}
    assert refused(served.client.get("/desk/customers/C1%00", headers=page)) == {"path"}
    # Tab and newline are what text may hold (owners are free text): a filter may name them.
    assert served.get("/v1/complaints", Role.AUDITOR, owner="agent\t7").status_code == 200


def test_the_path_and_the_query_string_have_a_longest_length(served: Served) -> None:
    auditor = bearer(served.keys[Role.AUDITOR])
    query_at_limit = "owner=" + "a" * (MAX_QUERY_BYTES - len("owner=") - len("&x=")) + "&x="
    assert len(query_at_limit) == MAX_QUERY_BYTES
    assert served.client.get(f"/v1/complaints?{query_at_limit}", headers=auditor).status_code == 422  # owner > 200
    assert refused(served.client.get(f"/v1/complaints?{query_at_limit}x", headers=auditor), 414) == {"query"}
    path_at_limit = "/v1/customers/" + "C" * (MAX_PATH_BYTES - len("/v1/customers/"))
    assert served.client.get(path_at_limit, headers=auditor).status_code == 422  # a customer id is 64 at most
    assert refused(served.client.get(path_at_limit + "C", headers=auditor), 414) == {"path"}


def test_every_body_but_a_batch_of_events_has_a_largest_size(served: Served) -> None:
    """Regression: a complaint action, a new key or an erasure was read whole into memory whatever its size."""
    admin = {**bearer(served.keys[Role.ADMIN]), "content-type": "application/json"}
    key = orjson.dumps({"role": "auditor", "name": "edge-of-the-body"})
    at_limit = served.client.post("/v1/keys", content=key.ljust(MAX_SMALL_BODY_BYTES), headers=admin)
    past = served.client.post("/v1/keys", content=key.ljust(MAX_SMALL_BODY_BYTES + 1), headers=admin)
    streamed = served.client.post("/v1/keys", content=iter([key, b" " * MAX_SMALL_BODY_BYTES]), headers=admin)
    assert at_limit.status_code == 201, at_limit.text
    assert refused(past, 413) == {"body"}
    assert refused(streamed, 413) == {"body"}
    clerk = {**bearer(served.keys[Role.CLERK]), "content-type": "application/json"}
    huge = b'{"action": "note", "by": "' + b"x" * 10_000_000 + b'", "channel": "store", "text": "n"}'
    assert refused(served.client.post("/v1/complaints/K1/actions", content=huge, headers=clerk), 413) == {"body"}


def test_the_frameworks_own_refusals_name_what_they_are_about(served: Served) -> None:
    """Regression: a body that is not JSON, or not an object, and an unknown path or method were all on field `request`."""
    admin = {**bearer(served.keys[Role.ADMIN]), "content-type": "application/json"}
    assert refused(served.client.post("/v1/keys", content=b"{not json", headers=admin), 400) == {"body"}
    assert refused(served.client.post("/v1/keys", content=b"[1, 2]", headers=admin)) == {"body"}
    assert refused(served.client.get("/v1/no-such-thing", headers=admin), 404) == {"path"}
    assert refused(served.client.delete("/v1/keys", headers=admin), 405) == {"method"}


def test_a_deeply_nested_vocabulary_value_is_refused_naming_the_field(served: Served) -> None:
    """Regression: pydantic's enum check built its message from the value's repr; nested just under the depth the
    JSON parser gives up at (~960 levels here), that overflowed Python's recursion limit (500), in a complaint
    action's `channel` and a new key's `role` alike. Every depth up to 1,000 is now a 422 naming the field, or a
    400 for a body too deep to parse."""
    clerk = {**bearer(served.keys[Role.CLERK]), "content-type": "application/json"}
    admin = {**bearer(served.keys[Role.ADMIN]), "content-type": "application/json"}
    answers: dict[int, set[int]] = {}
    for depth in range(900, 1001):
        deep = "[" * depth + '"store"' + "]" * depth
        action = '{"action": "note", "by": "agent-7", "text": "n", "channel": ' + deep + "}"
        key = '{"name": "deep", "role": ' + deep + "}"
        for url, body, headers, field in (("/v1/complaints/K1/actions", action, clerk, "channel"),
                                          ("/v1/keys", key, admin, "role")):
            response = served.client.post(url, content=body, headers=headers)
            answers.setdefault(response.status_code, set()).add(depth)
            assert refused(response, response.status_code) == ({field} if response.status_code == 422 else {"body"})
    assert set(answers) <= {400, 422} and 422 in answers, answers
