"""Orders in jeopardy over HTTP and the CLI: channels cannot post it, GET /v1/orders lists it, the server and
`contacthub watch` run the watcher. On a controllable clock, both backends.

When an order is flagged, and once only: tests/integration/test_jeopardy_watcher.py (the watcher on
the read models); the rule and the customer's refusals without a database: tests/unit/test_order_jeopardy_rule.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from contacthub.adapters.cli import main
from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from helpers import contact, event
from support.auth import allow_everything
from support.clock import ManualClock
from support.orders import activate, at, moment, place, setup_customers, stored_jeopardies, watch, who


@pytest.fixture
def hub(clocked_hub: ContactHub) -> ContactHub:
    """The clocked ContactHub (conftest), with customers C1 and C2 registered."""
    setup_customers(clocked_hub, "C1", "C2")
    return clocked_hub


# --- channels cannot post it -----------------------------------------------------------------


def test_channels_can_neither_post_order_jeopardy_nor_use_the_watchers_event_ids(clocked_client: TestClient) -> None:
    posted = {
        "event_id": "crm-1", "type": "order.jeopardy", "occurred_at": at(0), "customer_id": "C1", "order_id": "O1",
        "reasons": ["days"], "limit_days": 7.0, "limit_calls": 5, "calls": 0, "passed_at": at(0),
    }
    response = clocked_client.post("/v1/events", json={"events": [posted]})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["type"]

    for reserved, prefix in (("jeopardy-order:O1", "jeopardy-"), ("sla-warning:K1:1", "sla-")):
        response = clocked_client.post("/v1/events", json={"events": [contact(event_id=reserved)]})
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["field"] == "event_id" and f"'{prefix}'" in error["message"]


# --- the list ----------------------------------------------------------------------------------


@pytest.fixture
def orders_client(hub: ContactHub, clock: ManualClock) -> Iterator[TestClient]:
    """O1 (C1, day 0, in progress) and O4 (C2, day 0.5, partly active) flagged; O2 (day 5) open and O3 activated, not."""
    clock.set(moment(9))
    place(hub, "O1")
    place(hub, "O4", 0.5, customer_id="C2", services=("mobile", "broadband"))
    activate(hub, "O4", "mobile", 0.6, customer_id="C2")
    place(hub, "O3", 1)
    activate(hub, "O3", "broadband", 2)
    place(hub, "O2", 5)
    assert watch(hub) == 2
    hub.projector.catch_up()
    with TestClient(allow_everything(create_app(hub))) as client:
        yield client


def listed(client: TestClient, **params: Any) -> tuple[list[str], int]:
    response = client.get("/v1/orders", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [o["order_id"] for o in body["items"]], body["total"]


def test_orders_are_listed_newest_first_and_filtered_by_jeopardy_state_and_customer(orders_client: TestClient) -> None:
    assert listed(orders_client) == (["O2", "O3", "O4", "O1"], 4)
    assert listed(orders_client, jeopardy="true") == (["O4", "O1"], 2)
    assert listed(orders_client, jeopardy="false") == (["O2", "O3"], 2)
    assert listed(orders_client, jeopardy="true", state="inProgress") == (["O1"], 1)
    assert listed(orders_client, state=["inProgress", "partiallyActivated"]) == (["O2", "O4", "O1"], 3)
    assert listed(orders_client, customer_id="C2") == (["O4"], 1)
    assert listed(orders_client, page=2, page_size=3) == (["O1"], 4)

    body = orders_client.get("/v1/orders", params={"jeopardy": "true"}).json()
    first = body["items"][0]
    assert (first["placed_at"], first["state"], first["pending"]) == (at(0.5), "partiallyActivated", ["broadband"])
    assert first["jeopardy"] == {
        "at": at(7.5), "reasons": ["days"], "limits": {"days": 7.0, "calls": 5}, "calls": 0, "observed_at": at(9)
    }
    assert "touchpoints" not in first
    assert orders_client.get("/v1/orders/O1/journey").json()["jeopardy"]["at"] == at(7)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"jeopardy": "maybe"}, "jeopardy"),
        ({"state": "done"}, "state.0"),
        ({"customer_id": "no spaces"}, "customer_id"),
        ({"page": "0"}, "page"),
        ({"page_size": "101"}, "page_size"),
    ],
)
def test_bad_list_filters_are_422_naming_the_field(orders_client: TestClient, params: dict[str, str], field: str) -> None:
    response = orders_client.get("/v1/orders", params=params)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


# --- running it ------------------------------------------------------------------------------


def test_the_server_runs_the_jeopardy_watcher_by_itself(settings: Settings, clock: ManualClock) -> None:
    watching = Settings(**{**settings.__dict__, "sla_watch_interval_s": 0.05})
    server_hub = build(watching, clock=clock)
    try:
        setup_customers(server_hub, "C1")
        place(server_hub, "O1")
        clock.set(moment(8))
        with TestClient(allow_everything(create_app(server_hub))):
            deadline = datetime.now().timestamp() + 10
            while not stored_jeopardies(server_hub) and datetime.now().timestamp() < deadline:
                threading.Event().wait(0.05)
        assert [j["order_id"] for j in stored_jeopardies(server_hub)] == ["O1"]
    finally:
        server_hub.close()


def test_watch_once_runs_both_watchers_and_sla_watch_still_works(database_url: str) -> None:
    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            main, list(args), env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning"}
        )
        return result.exit_code, result.stdout.strip()

    ten_days_ago = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat()
    setup = build(Settings(database_url=database_url))
    try:
        setup_customers(setup, "C1")
        setup.ingest.ingest([event("order.placed", who("C1"), order_id="O1", services=["iptv"], occurred_at=ten_days_ago)])
    finally:
        setup.close()

    assert run("watch", "--once") == (0, "watch: 0 warning(s), 0 breach(es), 1 order(s) in jeopardy recorded")
    assert run("watch", "--once") == (0, "watch: 0 warning(s), 0 breach(es), 0 order(s) in jeopardy recorded")
    assert run("sla-watch", "--once") == (0, "sla watch: 0 warning(s), 0 breach(es) recorded")
