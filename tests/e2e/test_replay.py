"""The auditor's replay: a customer's history and state as of any moment, from the log alone. Both backends.

The central property: for a random history delivered in batches at known recorded times,
the state replayed "as of" a moment between two batches equals what the live read models
showed at that moment (same projection code, but from the filtered events into an empty
private database, not from the live tables).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.adapters.cli import main
from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from helpers import complaint_opened, contact, event, registered
from histories import batch_splits, histories
from support.auth import allow_everything
from support.clock import ManualClock
from support.databases import fresh_database_url


def run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning"}
    )
    return result.exit_code, result.stdout, result.stderr


START = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
BATCH_GAP = timedelta(minutes=10)


def _live(client: TestClient, hub: ContactHub, customer_id: str) -> dict[str, Any]:
    view = client.get(f"/v1/customers/{customer_id}").json()
    complaints = [
        client.get(f"/v1/complaints/{c['complaint_id']}").json()
        for c in hub.complaints.for_customer(customer_id, open_only=False)
    ]
    view.pop("position")
    for c in complaints:
        c.pop("position")
    return {"customer": view, "complaints": sorted(complaints, key=lambda c: c["complaint_id"])}


def _replayed(client: TestClient, customer_id: str, **moment: str) -> dict[str, Any]:
    response = client.get(f"/v1/customers/{customer_id}/state", params=moment)
    assert response.status_code == 200, response.text
    body = response.json()
    body["customer"].pop("position")
    for c in body["complaints"]:
        c.pop("position")
    return {"customer": body["customer"], "complaints": sorted(body["complaints"], key=lambda c: c["complaint_id"])}


@settings(
    max_examples=10, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_state_replayed_as_of_a_moment_equals_what_the_live_view_showed_then(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    events = data.draw(histories(max_customers=2, max_events=30), label="history")
    batches = data.draw(batch_splits(events), label="batches")
    customers = sorted(e["customer_id"] for e in events if e["type"] == "customer.registered")
    clock = ManualClock(START)
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), sla_watch_interval_s=0),
                clock=clock)
    try:
        with TestClient(allow_everything(create_app(hub))) as client:
            seen: list[tuple[datetime, dict[str, dict[str, Any]]]] = []
            for batch in batches:
                clock.advance(seconds=BATCH_GAP.total_seconds())
                outcome = hub.ingest.ingest(batch)
                assert {r.status for r in outcome.results} == {"recorded"}
                hub.projector.catch_up()
                clock.advance(seconds=BATCH_GAP.total_seconds() / 2)  # look between this batch and the next
                registered_now = [c for c in customers if client.get(f"/v1/customers/{c}").status_code == 200]
                seen.append((clock(), {c: _live(client, hub, c) for c in registered_now}))
            clock.advance(days=30)  # replay happens much later: "now" must not leak into the answer
            assert seen[-1][1], "the history registers at least one customer"
            for moment, live in seen:
                for customer_id, state in live.items():
                    assert _replayed(client, customer_id, as_of=moment.isoformat()) == state, (moment, customer_id)
    finally:
        hub.close()


C1 = {"customer_id": "C1"}


@pytest.fixture
def story(clocked_client: TestClient, clock: ManualClock) -> dict[str, Any]:
    """Three deliveries ten minutes apart; the last brings a contact that happened before the second."""
    marks: dict[str, Any] = {}

    def post(*events: dict[str, Any]) -> int:
        response = clocked_client.post("/v1/events", json={"events": list(events)})
        assert response.status_code == 200, response.text
        return int(response.json()["position"])

    marks["p1"] = post(registered("C1", ("13800138000",), occurred_at="2026-11-02T08:00:00+08:00"),
                       contact(C1, event_id="c1", occurred_at="2026-11-02T08:30:00+08:00"))
    marks["t1"] = clock()
    clock.advance(minutes=10)
    marks["p2"] = post(complaint_opened("K1", C1, event_id="K1-opened", occurred_at="2026-11-02T09:05:00+08:00"))
    marks["t2"] = clock()
    clock.advance(minutes=10)
    marks["p3"] = post(contact(C1, event_id="late", occurred_at="2026-11-02T08:45:00+08:00"),
                       event("complaint.resolved", C1, complaint_id="K1", resolution="已处理",
                             occurred_at="2026-11-02T09:15:00+08:00"))
    marks["t3"] = clock()
    return marks


def test_history_lists_events_in_log_order_with_both_times(clocked_client: TestClient, story: dict[str, Any]) -> None:
    body = clocked_client.get("/v1/customers/C1/history").json()
    events = body["events"]
    assert [e["type"] for e in events] == [
        "customer.registered", "contact.logged", "complaint.opened", "contact.logged", "complaint.resolved",
    ]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
    late = events[3]
    assert late["event_id"] == "late" and late["occurred_at"] == "2026-11-02T08:45:00+08:00"
    assert late["recorded_at"] == story["t3"].isoformat()
    assert late["payload"]["channel"] == "hotline" and "event_id" not in late["payload"]
    assert body["next_after"] is None


def test_history_filters_by_recorded_time_position_and_type_and_pages(
    clocked_client: TestClient, story: dict[str, Any]
) -> None:
    def ids(**params: Any) -> list[str]:
        return [e["event_id"] for e in clocked_client.get("/v1/customers/C1/history", params=params).json()["events"]]

    between = (story["t2"] + timedelta(minutes=5)).isoformat()
    assert len(ids(as_of=between)) == 3
    assert len(ids(as_of=story["t1"].isoformat())) == 2  # recorded at exactly t1: included
    assert len(ids(as_of_position=story["p1"])) == 2
    assert ids(type="contact.logged") == ["c1", "late"]
    assert ids(type=["contact.logged", "complaint.opened"]) == ["c1", "K1-opened", "late"]
    first = clocked_client.get("/v1/customers/C1/history", params={"limit": 2}).json()
    assert len(first["events"]) == 2 and first["next_after"] == first["events"][-1]["position"]
    rest = clocked_client.get("/v1/customers/C1/history", params={"after": first["next_after"]}).json()
    assert len(rest["events"]) == 3 and rest["next_after"] is None


def test_state_as_known_then_and_as_happened_by_then(clocked_client: TestClient, story: dict[str, Any]) -> None:
    def state(**params: Any) -> dict[str, Any]:
        response = clocked_client.get("/v1/customers/C1/state", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    # As known at 09:15 (between the second and third deliveries): one contact, complaint open.
    known = state(as_of=(story["t2"] + timedelta(minutes=5)).isoformat())
    assert known["basis"] == "recorded" and known["events_applied"] == 3
    assert [c["event_id"] for c in known["customer"]["recent_contacts"]] == ["c1"]
    assert [c["status"] for c in known["complaints"]] == ["acknowledged"]
    # What had happened by 09:00, as known today: the late contact (08:45) counts, the complaint (09:05) does not.
    happened = state(occurred_before="2026-11-02T09:00:00+08:00")
    assert happened["basis"] == "occurred"
    assert sorted(c["event_id"] for c in happened["customer"]["recent_contacts"]) == ["c1", "late"]
    assert happened["complaints"] == []
    # By log position: the first delivery only.
    assert state(as_of_position=story["p1"])["events_applied"] == 2
    # Everything: the complaint resolved.
    assert state()["complaints"][0]["status"] == "resolved"


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/customers/NOPE/history", {}, 404, "customer_id"),
        ("/v1/customers/NOPE/state", {}, 404, "customer_id"),
        ("/v1/customers/C1/state", {"as_of": "2026-11-02T07:00:00+08:00"}, 404, "customer_id"),
        ("/v1/customers/C1/history", {"as_of": "2026-11-02T09:00:00"}, 422, "as_of"),
        ("/v1/customers/C1/state", {"occurred_before": "2026-11-02T09:00:00"}, 422, "occurred_before"),
        ("/v1/customers/C1/history", {"as_of": "2026-11-02T09:00:00+08:00", "as_of_position": 1}, 422, "as_of_position"),
        ("/v1/customers/C1/state", {"as_of": "2026-11-02T09:00:00+08:00", "as_of_position": 1}, 422, "as_of"),
        ("/v1/customers/C1/history", {"type": "contact.deleted"}, 422, "type"),
        ("/v1/customers/C1/history", {"as_of": "yesterday"}, 422, "as_of"),
    ],
)
def test_bad_replay_requests_get_a_clear_error(
    clocked_client: TestClient, story: dict[str, Any], path: str, params: dict[str, Any], status: int, field: str
) -> None:
    response = clocked_client.get(path, params=params)
    assert response.status_code == status, response.text
    assert field in response.text


def test_cli_replay_prints_the_timeline_and_state_as_known_then(
    clocked_client: TestClient, story: dict[str, Any], database_url: str
) -> None:
    between = (story["t2"] + timedelta(minutes=5)).isoformat()
    code, out, err = run_cli(database_url, "replay", "C1", "--as-of", between)
    assert code == 0, err
    lines = out.splitlines()
    assert f"as ContactHub knew it at {between}" in lines[0] and "3 events" in lines[0]
    timeline = lines[2:5]
    assert [line.split()[0] for line in timeline] == [str(p) for p in (1, 2, story["p2"])]
    assert "complaint.opened K1-opened" in timeline[2] and "complaint_id=K1" in timeline[2]
    assert any(line.startswith("complaint K1: acknowledged, owner agent-7") for line in lines)
    assert "late" not in out  # recorded after that moment

    code, out, _ = run_cli(database_url, "replay", "C1", "--json", "--occurred-before", "2026-11-02T09:00:00+08:00")
    assert code == 0
    body = orjson.loads(out)
    assert body["basis"] == "occurred" and body["events_applied"] == 3 and body["complaints"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replay", "NOPE"), "no customer NOPE"),
        (("replay", "C1", "--as-of", "2026-11-02T09:00:00"), "needs a time zone offset"),
        (("replay", "C1", "--as-of", "2026-11-02T09:00:00+08:00", "--as-of-position", "2"), "at most one"),
        (("replay", "C1", "--as-of", "2026-11-01T09:00:00+08:00"), "not yet registered"),
    ],
)
def test_cli_replay_refuses_bad_input_with_one_line(
    clocked_client: TestClient, story: dict[str, Any], database_url: str, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run_cli(database_url, *args)
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1, err
