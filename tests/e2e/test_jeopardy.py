"""Orders in jeopardy (TMF622's jeopardy alert): in progress past 7 days or at the 5th call, flagged once, listed.

On a controllable clock, both backends. The limits are the defaults (7 days, 5 inbound
hotline calls) unless a test sets its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from contacthub.adapters.cli import main
from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import ConfigurationError, Settings
from contacthub.contract import OrderJeopardy
from contacthub.demo import DEFAULT_END, DemoPlan, generate_events
from contacthub.domain.order import Jeopardy, JeopardyLimits, order_jeopardy
from contacthub.services.ingest import IngestRejected
from helpers import contact, event, registered
from support.auth import allow_everything
from support.clock import ManualClock
from support.rivals import race

START = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the `clock` fixture's start


def at(days: float) -> str:
    return (START + timedelta(days=days)).isoformat()


def moment(days: float) -> datetime:
    return START + timedelta(days=days)


def who(customer_id: str) -> dict[str, str]:
    return {"customer_id": customer_id}


def setup_customers(hub: ContactHub, *customer_ids: str) -> None:
    hub.ingest.ingest(
        [registered(c, msisdns=(f"1380013800{n}",), occurred_at=at(-30)) for n, c in enumerate(customer_ids)]
    )


def place(hub: ContactHub, order_id: str, days: float = 0, customer_id: str = "C1", services: tuple[str, ...] = ("broadband",)) -> None:
    hub.ingest.ingest([event("order.placed", who(customer_id), order_id=order_id, services=list(services), occurred_at=at(days))])


def activate(hub: ContactHub, order_id: str, service: str, days: float, customer_id: str = "C1") -> None:
    hub.ingest.ingest([event("service.activated", who(customer_id), order_id=order_id, service=service, occurred_at=at(days))])


def call(hub: ContactHub, days: float, customer_id: str = "C1", **extra: Any) -> None:
    fields = {"channel": "hotline", "direction": "inbound", "occurred_at": at(days), **extra}
    hub.ingest.ingest([contact(who(customer_id), **fields)])


def watch(hub: ContactHub) -> int:
    """One jeopardy pass on current read models: how many orders it flagged. It proposes nothing the customer refuses."""
    hub.projector.catch_up()
    outcome = hub.jeopardy_watcher.run_once()
    assert outcome.refused == 0
    return outcome.flagged


def journey(hub: ContactHub, order_id: str) -> dict[str, Any]:
    hub.projector.catch_up()
    found = hub.journeys.order_journey(order_id)
    assert found is not None
    return found


def stored_jeopardies(hub: ContactHub) -> list[dict[str, Any]]:
    """Every order.jeopardy in the log, with its stream."""
    return [
        {**orjson.loads(n.state), "customer": n.originator_id}
        for n in hub.event_log.read_notifications(0, 100_000)
        if n.topic == "order.jeopardy"
    ]


def race_watchers(settings: Settings, clock: ManualClock, count: int) -> None:
    """`count` separate ContactHub instances (as separate servers would be) run a jeopardy pass at the same moment."""

    def decide_regardless(rival: ContactHub) -> None:
        # Decide even when another rival's event has made the read models lag (nobody projects
        # here): the customer's rules and the event id alone must keep it to one event.
        rival.jeopardy_watcher.read_models_current = lambda: True

    race(settings, clock, count, lambda hub: hub.jeopardy_watcher.run_once(), prepare=decide_regardless)


@pytest.fixture
def hub(clocked_hub: ContactHub) -> ContactHub:
    """The clocked ContactHub (conftest), with customers C1 and C2 registered."""
    setup_customers(clocked_hub, "C1", "C2")
    return clocked_hub


# --- when an order is flagged, and how it is dated -----------------------------------------


def test_an_order_in_progress_past_seven_days_is_flagged_once_dated_at_the_limit(hub: ContactHub, clock: ManualClock) -> None:
    place(hub, "O1")
    clock.set(moment(7) - timedelta(seconds=1))
    assert watch(hub) == 0
    assert journey(hub, "O1")["jeopardy"] is None

    clock.set(moment(9))  # the watcher was down for two days
    assert watch(hub) == 1
    assert watch(hub) == 0

    assert journey(hub, "O1")["jeopardy"] == {
        "at": at(7), "reasons": ["days"], "limits": {"days": 7.0, "calls": 5}, "calls": 0, "observed_at": at(9)
    }
    [stored] = stored_jeopardies(hub)
    assert (stored["event_id"], stored["customer"], stored["order_id"]) == ("jeopardy-order:O1", "C1", "O1")
    assert datetime.fromisoformat(stored["occurred_at"]) == moment(7)
    assert datetime.fromisoformat(stored["observed_at"]) == moment(9)


def test_the_fifth_call_flags_the_order_dated_at_that_call_even_delivered_out_of_order(
    hub: ContactHub, clock: ManualClock
) -> None:
    place(hub, "O1", services=("broadband", "iptv"))
    clock.set(moment(6.5))
    # Not calls of this order's window: before the placing, outbound, another channel, another customer
    call(hub, -1)
    call(hub, 0.5, direction="outbound")
    call(hub, 0.6, channel="store")
    call(hub, 0.7, customer_id="C2")
    for day in (6, 5, 4, 3, 2, 1):  # the calls of days 1-6, latest first, each delivered on its own
        call(hub, day)

    assert watch(hub) == 1

    assert journey(hub, "O1")["jeopardy"] == {
        "at": at(5), "reasons": ["calls"], "limits": {"days": 7.0, "calls": 5}, "calls": 6, "observed_at": at(6.5)
    }
    assert journey(hub, "O1")["calls_to_activation"] == 6


def test_four_calls_and_six_days_are_not_yet_jeopardy(hub: ContactHub, clock: ManualClock) -> None:
    place(hub, "O1")
    clock.set(moment(6.9))
    for day in (1, 2, 3, 4):
        call(hub, day)
    call(hub, 5, direction="outbound")

    assert watch(hub) == 0


def test_orders_activated_or_cancelled_within_the_limits_are_never_flagged(hub: ContactHub, clock: ManualClock) -> None:
    place(hub, "O1", services=("broadband", "iptv"))
    place(hub, "O2", customer_id="C2")
    clock.set(moment(7))
    for day in (1, 2, 3, 4):
        call(hub, day)
    activate(hub, "O1", "broadband", 2)
    activate(hub, "O1", "iptv", 6.9)  # a fifth call after the activation is outside the window
    hub.ingest.ingest([event("order.cancelled", who("C2"), order_id="O2", reason="no fibre", occurred_at=at(6))])
    call(hub, 6.95)

    clock.set(moment(60))
    assert watch(hub) == 0
    assert (journey(hub, "O1")["jeopardy"], journey(hub, "O2")["jeopardy"]) == (None, None)


def test_an_order_that_passed_a_limit_before_its_activation_is_flagged_late_dated_when_it_passed(
    hub: ContactHub, clock: ManualClock
) -> None:
    place(hub, "O1")
    clock.set(moment(10))
    activate(hub, "O1", "broadband", 10)  # nobody looked while it was in progress

    clock.set(moment(12))
    assert watch(hub) == 1

    seen = journey(hub, "O1")
    assert seen["state"] == "activated"
    assert seen["jeopardy"] == {
        "at": at(7), "reasons": ["days"], "limits": {"days": 7.0, "calls": 5}, "calls": 0, "observed_at": at(12)
    }


def test_a_partially_activated_order_is_flagged_and_keeps_the_flag_after_full_activation(
    hub: ContactHub, clock: ManualClock
) -> None:
    place(hub, "O1", services=("mobile", "broadband"))
    activate(hub, "O1", "mobile", 0.1)
    clock.set(moment(8))
    assert journey(hub, "O1")["state"] == "partiallyActivated"
    assert watch(hub) == 1

    activate(hub, "O1", "broadband", 9)
    assert watch(hub) == 0
    seen = journey(hub, "O1")
    assert seen["state"] == "activated"
    assert seen["jeopardy"] is not None and seen["jeopardy"]["at"] == at(7)


def test_the_rule_on_event_time_a_limit_counts_only_while_the_order_is_open() -> None:
    """The pure rule the watcher applies (no database): the window is inclusive at both ends, like the counts."""
    limits = JeopardyLimits(days=7, calls=5)
    placed, later = moment(0), moment(30)
    calls = [moment(d) for d in (3, 1, 2, 5, 4, 6)]  # in any order

    assert order_jeopardy(placed, None, calls, limits, now=moment(6.9)) == Jeopardy(("calls",), moment(5), 6)
    assert order_jeopardy(placed, None, calls[:4], limits, now=later) == Jeopardy(("days",), moment(7), 4)
    assert order_jeopardy(placed, moment(7), [], limits, now=later) == Jeopardy(("days",), moment(7), 0)
    assert order_jeopardy(placed, moment(7) - timedelta(seconds=1), [], limits, now=later) is None
    assert order_jeopardy(placed, moment(4.5), calls, limits, now=later) is None  # calls 5 and 6 came after
    assert order_jeopardy(placed, moment(5), calls, limits, now=later) == Jeopardy(("calls",), moment(5), 5)
    assert order_jeopardy(placed, None, [moment(-1), *calls[:4]], limits, now=moment(6)) is None  # before the placing


# --- once per order --------------------------------------------------------------------------


def test_not_flagged_again_after_later_calls_restarts_and_rival_watchers(
    hub: ContactHub, clock: ManualClock, settings: Settings
) -> None:
    place(hub, "O1")
    clock.set(moment(8))
    assert watch(hub) == 1
    for day in (8.1, 8.2, 8.3, 8.4, 8.5, 8.6):  # the calls limit passes too, later
        call(hub, day)
    clock.set(moment(9))
    assert watch(hub) == 0

    later = ManualClock(moment(20))
    restarted = build(settings, clock=later)
    try:
        assert watch(restarted) == 0
        race_watchers(settings, later, 2)
    finally:
        restarted.close()

    assert [(j["order_id"], j["reasons"]) for j in stored_jeopardies(hub)] == [("O1", ["days"])]


def test_rival_watchers_that_all_see_the_order_in_jeopardy_record_it_once(
    hub: ContactHub, clock: ManualClock, settings: Settings
) -> None:
    place(hub, "O1")
    place(hub, "O2", customer_id="C2")
    hub.projector.catch_up()
    clock.set(moment(8))
    race_watchers(settings, clock, 3)

    assert sorted(j["order_id"] for j in stored_jeopardies(hub)) == ["O1", "O2"]
    assert watch(hub) == 0


def test_the_customer_refuses_a_jeopardy_for_an_unknown_finished_or_flagged_order(
    hub: ContactHub, clock: ManualClock
) -> None:
    place(hub, "O1")
    place(hub, "O2")
    clock.set(moment(3))
    activate(hub, "O2", "broadband", 3)
    clock.set(moment(8))

    def record(order_id: str, event_id: str | None = None, **extra: Any) -> str:
        fields: dict[str, Any] = {
            "type": "order.jeopardy", "event_id": event_id or f"jeopardy-order:{order_id}", "occurred_at": at(8),
            "customer_id": "C1", "order_id": order_id, "reasons": ["days"], "limit_days": 7.0, "limit_calls": 5,
            "calls": 0, "passed_at": at(7), **extra,
        }
        return hub.ingest.record_internal([OrderJeopardy(**fields)]).results[0].status

    def refused(order_id: str, event_id: str | None = None, **extra: Any) -> tuple[int, str, str]:
        with pytest.raises(IngestRejected) as caught:
            record(order_id, event_id, **extra)
        error = caught.value.errors[0]
        return caught.value.status_code, error.field, error.message

    assert refused("O404")[:2] == (409, "order_id")
    status, field, message = refused("O2")
    assert (status, field) == (409, "order_id") and "no longer in progress" in message
    assert refused("O1", passed_at=at(-1))[:2] == (409, "passed_at")
    assert refused("O1", reasons=["calls"], calls=4)[:2] == (409, "reasons")  # 4 calls do not reach 5
    assert refused("O1", limit_days=9.0, passed_at=at(7))[:2] == (409, "reasons")  # 9 days have not passed at day 8

    assert record("O1") == "recorded"
    assert record("O1") == "duplicate"  # the same order noticed again
    assert record("O1", calls=3, occurred_at=at(9)) == "duplicate"  # ... whatever the watcher saw then
    status, field, message = refused("O1", event_id="jeopardy-order:O1-again")
    assert (status, field) == (409, "order_id") and "already flagged" in message
    assert len(stored_jeopardies(hub)) == 1


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


# --- the limits are settings ----------------------------------------------------------------


def test_the_limits_come_from_the_settings(settings: Settings, clock: ManualClock) -> None:
    strict = build(Settings(**{**settings.__dict__, "jeopardy_days": 2.5, "jeopardy_calls": 2}), clock=clock)
    try:
        setup_customers(strict, "C1", "C2")
        place(strict, "O1")
        place(strict, "O2", customer_id="C2")
        clock.set(moment(1.5))
        call(strict, 0.5)
        call(strict, 1)
        assert watch(strict) == 1  # O1 at its second call
        clock.set(moment(3))
        assert watch(strict) == 1  # O2 two and a half days after its placing
        assert journey(strict, "O1")["jeopardy"]["at"] == at(1)  # type: ignore[index]
        assert journey(strict, "O2")["jeopardy"] == {
            "at": at(2.5), "reasons": ["days"], "limits": {"days": 2.5, "calls": 2}, "calls": 0, "observed_at": at(3)
        }
    finally:
        strict.close()


def test_the_limits_are_read_from_the_environment_and_checked() -> None:
    settings = Settings.from_env({"CONTACTHUB_JEOPARDY_DAYS": "3.5", "CONTACTHUB_JEOPARDY_CALLS": "8"})
    assert (settings.jeopardy_days, settings.jeopardy_calls) == (3.5, 8)
    assert (Settings.from_env({}).jeopardy_days, Settings.from_env({}).jeopardy_calls) == (7.0, 5)
    for name, raw, expected in [
        ("DAYS", "0", "CONTACTHUB_JEOPARDY_DAYS must be a number of days above 0"),
        ("DAYS", "-1", "CONTACTHUB_JEOPARDY_DAYS must be a number of days above 0"),
        ("DAYS", "nan", "CONTACTHUB_JEOPARDY_DAYS must be a number of days above 0"),
        ("DAYS", "soon", "CONTACTHUB_JEOPARDY_DAYS='soon' is not a valid float"),
        ("CALLS", "0", "CONTACTHUB_JEOPARDY_CALLS must be a whole number of calls, at least 1"),
        ("CALLS", "2.5", "CONTACTHUB_JEOPARDY_CALLS='2.5' is not a valid int"),
    ]:
        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({f"CONTACTHUB_JEOPARDY_{name}": raw})
        assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


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


# --- the demo's three-week bundle ------------------------------------------------------------


def bundle_story() -> list[dict[str, Any]]:
    """C000001 of the demo: the bundle that took three weeks, 21 calls and 4 technician visits."""
    events = list(generate_events(DemoPlan(customers=12, months=2)))
    numbers = next(e["msisdns"] for e in events if e["type"] == "customer.registered" and e["customer_id"] == "C000001")
    return [e for e in events if e.get("customer_id") == "C000001" or e.get("msisdn") in numbers]


@pytest.mark.parametrize("watched", ["during the journey", "after it"])
def test_the_demo_bundle_is_flagged_at_its_fifth_call(clocked_hub: ContactHub, clock: ManualClock, watched: str) -> None:
    story = bundle_story()
    placed = next(e for e in story if e["type"] == "order.placed")
    placed_at = datetime.fromisoformat(placed["occurred_at"])
    activated_at = max(datetime.fromisoformat(e["occurred_at"]) for e in story if e["type"] == "service.activated")
    calls = sorted(
        datetime.fromisoformat(e["occurred_at"]) for e in story
        if e["type"] == "contact.logged" and e["channel"] == "hotline" and e["direction"] == "inbound"
        and placed_at <= datetime.fromisoformat(e["occurred_at"]) <= activated_at
    )
    assert len(calls) == 21 and calls[4] < placed_at + timedelta(days=7)

    seen_at = placed_at + timedelta(days=10) if watched == "during the journey" else DEFAULT_END
    clock.set(seen_at)
    clocked_hub.ingest.ingest([e for e in story if datetime.fromisoformat(e["occurred_at"]) <= seen_at])
    assert watch(clocked_hub) == 1
    clock.set(DEFAULT_END)
    clocked_hub.ingest.ingest(story)  # the rest of the story, if any (what is stored already: duplicates)
    assert watch(clocked_hub) == 0

    bundle = journey(clocked_hub, placed["order_id"])
    assert (bundle["state"], bundle["calls_to_activation"]) == ("activated", 21)
    jeopardy = bundle["jeopardy"]
    assert jeopardy is not None
    assert datetime.fromisoformat(jeopardy["at"]) == calls[4]
    assert jeopardy["reasons"] == ["days", "calls"]
