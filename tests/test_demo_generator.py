"""The demo population: valid under the public contract, accepted by the domain, reproducible.

No database: events are checked against `contacthub.contract` and replayed through the
real Customer aggregate, exactly as ingest would apply them in the order generated.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from contacthub.adapters.demo import (
    CHINA_TIME,
    DemoPlan,
    estimate_event_count,
    generate_batches,
    generate_events,
)
from contacthub.contract import validate_event
from contacthub.domain.customer import Customer
from contacthub.domain.vocabulary import Channel, ComplaintStatus, Tier
from contacthub.ingest import COMMANDS  # each event type's domain command, as ingest applies it

PLAN = DemoPlan(customers=200, months=3)



@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(generate_events(PLAN))


@pytest.fixture(scope="module")
def customers(events: list[dict[str, Any]]) -> dict[str, Customer]:
    """Every customer's aggregate after replaying the demo in generated order."""
    aggregates: dict[str, Customer] = {}
    owner_of_number: dict[str, str] = {}
    for index, raw in enumerate(events):
        event, errors = validate_event(index, raw)
        assert not errors, errors
        assert event is not None
        fields = event.domain_fields()
        if raw["type"] == "customer.registered":
            customer_id = raw["customer_id"]
            assert customer_id not in aggregates, "registered twice"
            aggregates[customer_id] = Customer(**fields)
            for number in fields["msisdns"]:
                assert number not in owner_of_number, f"{number} is registered to two customers"
                owner_of_number[number] = customer_id
            continue
        customer_id = event.customer_id or owner_of_number[str(event.msisdn)]
        # A RuleViolation here fails the test: the domain refused the generated order.
        COMMANDS[raw["type"]](aggregates[customer_id], **fields)
    return aggregates


def test_every_event_passes_the_public_contract(events: list[dict[str, Any]]) -> None:
    for index, raw in enumerate(events):
        _, errors = validate_event(index, raw)
        assert errors == [], (raw, errors)


def test_every_customer_history_is_accepted_by_the_domain(customers: dict[str, Customer]) -> None:
    assert len(customers) == PLAN.customers


def test_each_customer_starts_with_registration_and_moves_strictly_forward(events: list[dict[str, Any]]) -> None:
    owner_of_number = {n: e["customer_id"] for e in events if e["type"] == "customer.registered" for n in e["msisdns"]}
    last_seen: dict[str, datetime] = {}
    for raw in events:
        customer_id = raw.get("customer_id") or owner_of_number[raw["msisdn"]]
        when = datetime.fromisoformat(raw["occurred_at"])
        if raw["type"] == "customer.registered":
            assert customer_id not in last_seen
        else:
            assert customer_id in last_seen, f"{raw['event_id']} comes before its customer's registration"
            assert when > last_seen[customer_id], f"{raw['event_id']} is not after the customer's previous event"
        last_seen[customer_id] = when


def test_times_carry_china_offset_and_stay_inside_the_window(events: list[dict[str, Any]]) -> None:
    for raw in events:
        assert raw["occurred_at"].endswith("+08:00")
        when = datetime.fromisoformat(raw["occurred_at"])
        assert when.utcoffset() == timedelta(hours=8)
        assert PLAN.window_start <= when <= PLAN.window_end
    assert PLAN.window_start == datetime(2026, 8, 20, 18, 0, tzinfo=CHINA_TIME)


def test_event_ids_are_unique(events: list[dict[str, Any]]) -> None:
    ids = [raw["event_id"] for raw in events]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(f"demo-{PLAN.seed}-") for i in ids)


def test_same_seed_gives_identical_output_and_another_seed_does_not(events: list[dict[str, Any]]) -> None:
    assert list(generate_events(PLAN)) == events
    other = list(generate_events(DemoPlan(customers=PLAN.customers, months=PLAN.months, seed=PLAN.seed + 1)))
    assert other != events
    assert [e["occurred_at"] for e in other] != [e["occurred_at"] for e in events]


def test_population_shows_every_complaint_status(customers: dict[str, Customer], events: list[dict[str, Any]]) -> None:
    statuses = {status for c in customers.values() for status in c.complaints.values()}
    assert statuses == set(ComplaintStatus)
    assert any(raw["type"] == "complaint.reopened" for raw in events)
    levels = {raw["level"] for raw in events if raw["type"] == "complaint.escalated"}
    assert levels == {1, 2}
    assert len({raw["satisfaction"] for raw in events if raw["type"] == "complaint.followed_up"}) >= 3


def test_population_has_cancelled_and_unfinished_orders(customers: dict[str, Customer]) -> None:
    orders = [order for c in customers.values() for order in c.orders.values()]
    assert any(order.cancelled for order in orders)
    assert any(not order.finished for order in orders), "no order is still in progress at the end"
    assert any(len(order.services) >= 3 for order in orders), "no bundle"


def test_population_covers_every_channel_tier_and_segment(events: list[dict[str, Any]]) -> None:
    contacts = [raw for raw in events if raw["type"] == "contact.logged"]
    assert {raw["channel"] for raw in contacts} == set(Channel)
    assert {raw["direction"] for raw in contacts} == {"inbound", "outbound"}
    assert {raw["outcome"] for raw in contacts} == {"resolved", "unresolved", "transferred", "abandoned", "no_answer"}
    registrations = [raw for raw in events if raw["type"] == "customer.registered"]
    assert {raw["tier"] for raw in registrations} == set(Tier)
    assert {raw["segment"] for raw in registrations} == {"individual", "corporate"}
    assert any(len(raw["msisdns"]) > 1 for raw in registrations)
    # Channels name most contacts by the caller's number, as a real hotline does.
    by_number = sum("msisdn" in raw for raw in contacts)
    assert 0.5 < by_number / len(contacts) < 0.95
    assert any(raw["type"] == "customer.tier_changed" for raw in events)


def test_the_bundle_that_took_three_weeks_21_calls_and_4_technician_visits(events: list[dict[str, Any]]) -> None:
    numbers = next(e["msisdns"] for e in events if e["type"] == "customer.registered" and e["customer_id"] == "C000001")
    mine = [e for e in events if e.get("customer_id") == "C000001" or e.get("msisdn") in numbers]
    placed = next(e for e in mine if e["type"] == "order.placed")
    assert placed["services"] == ["mobile", "broadband", "iptv"]
    activations = [e for e in mine if e["type"] == "service.activated" and e["order_id"] == placed["order_id"]]
    assert len(activations) == 3
    start, finish = placed["occurred_at"], activations[-1]["occurred_at"]
    took = datetime.fromisoformat(finish) - datetime.fromisoformat(start)
    assert timedelta(days=19) <= took <= timedelta(days=23)
    during = [e for e in mine if e["type"] == "contact.logged" and start <= e["occurred_at"] <= finish]
    calls = [e for e in during if e["channel"] == "hotline" and e["direction"] == "inbound"]
    visits = [e for e in during if e["channel"] == "technician"]
    assert len(calls) == 21
    assert all(e.get("order_id") == placed["order_id"] for e in calls)
    assert len(visits) == 4


def test_volume_is_realistic_and_estimate_is_close(events: list[dict[str, Any]]) -> None:
    per_customer = len(events) / PLAN.customers
    assert 8 <= per_customer <= 20
    counts = Counter(raw["type"] for raw in events)
    assert counts["contact.logged"] > len(events) / 2
    assert abs(estimate_event_count(PLAN) - len(events)) < 0.15 * len(events)


def test_batches_are_bounded_and_cover_the_same_events(events: list[dict[str, Any]]) -> None:
    batches = list(generate_batches(PLAN, batch_size=137))
    assert all(1 <= len(batch) <= 137 for batch in batches)
    assert all(len(batch) == 137 for batch in batches[:-1])
    assert [raw for batch in batches for raw in batch] == events


def test_plan_rejects_what_it_cannot_generate() -> None:
    with pytest.raises(ValueError):
        DemoPlan(end=datetime(2026, 11, 20, 18, 0))
    with pytest.raises(ValueError):
        DemoPlan(customers=0)
    with pytest.raises(ValueError):
        generate_batches(PLAN, batch_size=0)
    with pytest.raises(ValueError):
        generate_batches(PLAN, batch_size=1001)


def test_a_plan_of_a_few_customers_is_still_valid() -> None:
    events = list(generate_events(DemoPlan(customers=3, months=1, seed=11)))
    assert [e["customer_id"] for e in events if e["type"] == "customer.registered"] != []
    for index, raw in enumerate(events):
        assert validate_event(index, raw)[1] == []
