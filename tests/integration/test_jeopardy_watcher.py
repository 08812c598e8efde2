"""The jeopardy watcher (TMF622's jeopardy alert): an order in progress past 7 days or at the 5th call is flagged once.

On a controllable clock, both backends: the watcher reads the journey read model and records
through the ingest service. The limits are the defaults (7 days, 5 inbound hotline calls)
unless a test sets its own. The rule itself, and the customer's refusals, without a database:
tests/unit/test_order_jeopardy_rule.py; the list of orders over HTTP, the server's own watcher
and `contacthub watch`: tests/e2e/test_jeopardy.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.demo import DEFAULT_END, DemoPlan, generate_events
from helpers import event
from support.clock import ManualClock
from support.orders import activate, at, call, journey, moment, place, setup_customers, stored_jeopardies, watch, who
from support.rivals import race


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
