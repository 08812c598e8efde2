"""Order journeys to activation on event time, whatever order the channels deliver in. Both backends."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacthub.demo import DemoPlan, generate_events
from helpers import contact, event, registered


def post(client: TestClient, *events: Any) -> int:
    response = client.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    return int(response.json()["position"])


def journey(client: TestClient, order_id: str, position: int) -> dict[str, Any]:
    response = client.get(f"/v1/orders/{order_id}/journey", params={"min_position": position})
    assert response.status_code == 200, response.text
    return dict(response.json())


def the_bundle_story() -> list[dict[str, Any]]:
    """C000001 of the demo: a mobile + broadband + IPTV bundle that took three weeks, 21 calls and 4 visits."""
    events = list(generate_events(DemoPlan(customers=12, months=2)))
    numbers = next(e["msisdns"] for e in events if e["type"] == "customer.registered" and e["customer_id"] == "C000001")
    return [e for e in events if e.get("customer_id") == "C000001" or e.get("msisdn") in numbers]


def the_order_and_its_time(story: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The story's order.placed, and the seconds from it to its last activation (in event time)."""
    placed = next(e for e in story if e["type"] == "order.placed")
    last = [e for e in story if e["type"] == "service.activated" and e["order_id"] == placed["order_id"]][-1]
    return placed, int((datetime.fromisoformat(last["occurred_at"]) - datetime.fromisoformat(placed["occurred_at"])).total_seconds())


def post_in_random_batches(client: TestClient, rng: random.Random, events: list[dict[str, Any]]) -> int:
    """Posted in order, in batches of 1 to 7; the last batch's position."""
    position = 0
    while events:
        size = rng.randint(1, 7)
        position = post(client, *events[:size])
        events = events[size:]
    return position


@pytest.mark.parametrize("seed", [1, 2])
def test_the_three_week_bundle_counts_21_calls_and_4_visits_even_delivered_out_of_order(
    client: TestClient, seed: int
) -> None:
    story = the_bundle_story()
    placed, took = the_order_and_its_time(story)

    # Delivered out of order: the registration first (the rest names the customer by it), then
    # every touchpoint at a random place among the other events, in batches of random size.
    rng = random.Random(seed)
    registration, rest = story[0], story[1:]
    contacts = [e for e in rest if e["type"] == "contact.logged"]
    others = [e for e in rest if e["type"] != "contact.logged"]
    delivery: list[dict[str, Any]] = list(others)
    for c in contacts:
        delivery.insert(rng.randint(0, len(delivery)), c)
    assert delivery != rest  # really out of order
    post(client, registration)
    position = post_in_random_batches(client, rng, delivery)

    seen = journey(client, placed["order_id"], position)

    assert_the_in_order_journey(seen, took)
    assert seen["contacts_to_activation"] == len(seen["touchpoints"]) >= 25
    last_touch = seen["touchpoints"][-1]
    assert (last_touch["calls_so_far"], last_touch["technician_visits_so_far"]) == (21, 4)
    times = [t["occurred_at"] for t in seen["touchpoints"]]
    assert times == sorted(times, key=datetime.fromisoformat)


def assert_the_in_order_journey(seen: dict[str, Any], took: int) -> None:
    """What delivering the bundle story in order gives: 21 calls, 4 visits, the order's own duration."""
    assert (seen["calls_to_activation"], seen["technician_visits_to_activation"]) == (21, 4)
    assert seen["order_to_activation_s"] == took
    assert seen["state"] == "activated" and seen["pending"] == []


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_the_bundle_story_fully_shuffled_across_sources_gives_the_in_order_journey(client: TestClient, seed: int) -> None:
    """Every event at a random place (issue 18, late references): activations before BOSS's
    order.placed, contacts before and after. Only the registration comes first,
    and a complaint's steps keep their own order (one desk posts them)."""
    story = the_bundle_story()
    placed, took = the_order_and_its_time(story)
    rng = random.Random(seed)
    registration, rest = story[0], story[1:]
    complaint_steps = [e for e in rest if e["type"].startswith("complaint.")]
    delivery = [e for e in rest if not e["type"].startswith("complaint.")]
    rng.shuffle(delivery)
    first_activation = min(i for i, e in enumerate(delivery) if e["type"] == "service.activated")
    if delivery.index(placed) < first_activation:  # BOSS's order feed is the late one here, whatever the draw
        delivery.remove(placed)
        delivery.insert(rng.randint(first_activation, len(delivery)), placed)
    for step in complaint_steps:  # in their order, each somewhere after the one before
        after = max((delivery.index(s) for s in complaint_steps if s in delivery), default=-1)
        delivery.insert(rng.randint(after + 1, len(delivery)), step)
    assert delivery.index(placed) > min(delivery.index(e) for e in delivery if e["type"] == "service.activated")
    post(client, registration)
    position = post_in_random_batches(client, rng, delivery)

    seen = journey(client, placed["order_id"], position)

    assert_the_in_order_journey(seen, took)
    conflicts = client.get("/v1/conflicts").json()
    assert (conflicts["conflict_total"], conflicts["unresolved_total"]) == (0, 0)


def test_the_window_is_placed_to_last_activation_inclusive_and_open_while_in_progress(client: TestClient) -> None:
    def at(day: int, hour: int = 10) -> str:
        return f"2026-10-{day:02d}T{hour:02d}:00:00+08:00"

    post(
        client,
        registered("C1", occurred_at="2026-09-01T09:00:00+08:00"),  # a customer since before October
        contact(channel="hotline", direction="inbound", occurred_at=at(1)),  # before the order: not counted
        event("order.placed", order_id="O1", services=["broadband", "iptv"], occurred_at=at(2)),
        contact(channel="hotline", direction="inbound", occurred_at=at(2)),  # at the placing moment: counted
        contact(channel="hotline", direction="outbound", occurred_at=at(3)),  # outbound: a contact, not a call
        contact(channel="technician", direction="outbound", occurred_at=at(4)),
        event("service.activated", order_id="O1", service="broadband", occurred_at=at(5)),
    )
    in_progress = journey(client, "O1", post(client, contact(channel="app", occurred_at=at(9))))
    assert in_progress["state"] == "partiallyActivated"
    assert (in_progress["calls_to_activation"], in_progress["contacts_to_activation"],
            in_progress["technician_visits_to_activation"]) == (1, 4, 1)
    assert in_progress["order_to_activation_s"] is None

    # Calls on days 10 and 11 count while the order is open...
    calls = post(
        client,
        contact(channel="hotline", direction="inbound", occurred_at=at(11)),
        contact(channel="hotline", direction="inbound", occurred_at=at(10)),
    )
    assert journey(client, "O1", calls)["calls_to_activation"] == 3
    # ...then the last service's activation arrives, dated day 10: the day-10 call still
    # counts (inclusive), the day-11 one no longer does
    position = post(client, event("service.activated", order_id="O1", service="iptv", occurred_at=at(10)))
    done = journey(client, "O1", position)
    assert (done["calls_to_activation"], done["contacts_to_activation"], done["technician_visits_to_activation"]) == (
        2, 5, 1
    )
    assert done["order_to_activation_s"] == 8 * 86400
    assert done["activated_at"] == at(10)


def test_an_unknown_order_is_404(client: TestClient) -> None:
    response = client.get("/v1/orders/O404/journey")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "order_id"
