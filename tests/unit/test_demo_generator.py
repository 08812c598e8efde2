"""The demo population: valid under the public contract, accepted by the domain, reproducible.

No database: events are checked against `contacthub.contract` and replayed through the
real Customer aggregate, exactly as ingest would apply them in the order generated, under
the SLA policy ingest records by default.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from contacthub.config import Settings
from contacthub.contract import validate_event
from contacthub.demo import (
    CHINA_TIME,
    DemoPlan,
    estimate_event_count,
    generate_batches,
    generate_events,
)
from contacthub.domain.customer import Customer
from contacthub.domain.vocabulary import Channel, ComplaintStatus, Tier
from contacthub.services.ingest import COMMANDS  # each event type's domain command, as ingest applies it

PLAN = DemoPlan(customers=200, months=3)
# Large enough that the lifecycle's rarer turns (withdrawn, duplicate, held) show as shares.
LARGE_PLAN = DemoPlan(customers=1500, months=4)
SLA_POLICY = Settings().load_sla_policy()  # what ingest records when CONTACTHUB_SLA_POLICY is unset


@dataclass
class Replay:
    customers: dict[str, Customer] = field(default_factory=dict)
    # For each escalation by the SLA monitor: the level it raised the complaint to, which
    # SLA clock was running (1, then one more per reopening), the seconds that clock had
    # run by then, and its allowance.
    monitor_escalations: list[tuple[int, int, float, int]] = field(default_factory=list)


def replay(events: list[dict[str, Any]]) -> Replay:
    """Every customer's aggregate after replaying the demo in generated order, as ingest applies it."""
    result = Replay()
    aggregates = result.customers
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
        customer = aggregates[customer_id]
        if raw["type"] == "complaint.opened":
            fields["sla_policy"] = SLA_POLICY
        if raw["type"] == "complaint.escalated" and raw["by"] == "sla-monitor":
            clock = customer.complaints[raw["complaint_id"]].clock
            elapsed = clock.elapsed_s(fields["occurred_at"])
            result.monitor_escalations.append((raw["level"], clock.number, elapsed, clock.allowance_s))
        # A RuleViolation here fails the test: the domain refused the generated order.
        COMMANDS[raw["type"]](customer, **fields)
    return result


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(generate_events(PLAN))


@pytest.fixture(scope="module")
def customers(events: list[dict[str, Any]]) -> dict[str, Customer]:
    return replay(events).customers


@pytest.fixture(scope="module")
def large_events() -> list[dict[str, Any]]:
    return list(generate_events(LARGE_PLAN))


@pytest.fixture(scope="module")
def large_replayed(large_events: list[dict[str, Any]]) -> Replay:
    return replay(large_events)


@pytest.fixture(scope="module")
def large_customers(large_replayed: Replay) -> dict[str, Customer]:
    return large_replayed.customers


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


def test_population_shows_every_complaint_status(
    large_customers: dict[str, Customer], large_events: list[dict[str, Any]]
) -> None:
    statuses = {case.status for c in large_customers.values() for case in c.complaints.values()}
    assert statuses == set(ComplaintStatus)
    assert any(raw["type"] == "complaint.reopened" for raw in large_events)
    levels = {raw["level"] for raw in large_events if raw["type"] == "complaint.escalated"}
    assert {1, 2} <= levels
    assert len({raw["satisfaction"] for raw in large_events if raw["type"] == "complaint.followed_up"}) >= 3


def test_showcase_complaints_wait_at_each_stage_at_the_end(customers: dict[str, Customer]) -> None:
    """What the module's docstring promises of C000005-C000009."""

    def only_complaint(customer_id: str) -> Any:
        [case] = customers[customer_id].complaints.values()
        return case

    assert only_complaint("C000005").status == ComplaintStatus.ACKNOWLEDGED
    assert only_complaint("C000005").channel == "email"
    pending = only_complaint("C000006")
    assert pending.status == ComplaintStatus.PENDING
    assert pending.clock.paused_since is not None  # the SLA clock waits with the customer
    overdue = only_complaint("C000007")
    assert (overdue.status, overdue.escalation_level) == (ComplaintStatus.IN_PROGRESS, 2)
    assert only_complaint("C000008").status == ComplaintStatus.RESOLVED
    assert only_complaint("C000008").satisfaction is None  # the follow-up call is still to come
    assert only_complaint("C000009").status == ComplaintStatus.HELD


def test_complaints_follow_the_v2_lifecycle(events: list[dict[str, Any]]) -> None:
    types = Counter(raw["type"] for raw in events)
    # Work is handed over and then started by its new owner; the v1 assignment is no longer written.
    assert types["complaint.assigned"] == 0
    assert types["complaint.handed_over"] > 0 and types["complaint.started"] > 0
    assert types["complaint.noted"] > 0
    # Warnings and breaches are ContactHub's own SLA watcher's to record, never a channel's.
    assert types["complaint.sla_warning"] == types["complaint.sla_breached"] == 0
    handovers = [raw for raw in events if raw["type"] == "complaint.handed_over"]
    assert all(raw["to"] != raw["by"] and raw["reason"] for raw in handovers)
    # The new owner is the one who starts the work.
    owners = {raw["to"] for raw in handovers}
    assert any(raw["by"] in owners for raw in events if raw["type"] == "complaint.started")


def test_reopening_comes_before_the_close(events: list[dict[str, Any]]) -> None:
    """A closed complaint is final: a dissatisfied customer's complaint is reopened while it is resolved."""
    history: dict[str, list[str]] = {}
    for raw in events:
        if raw["type"].startswith("complaint."):
            history.setdefault(raw["complaint_id"], []).append(raw["type"])
    reopened = [steps for steps in history.values() if "complaint.reopened" in steps]
    assert reopened
    for steps in reopened:
        before = steps[steps.index("complaint.reopened") - 1]
        assert before in ("complaint.resolved", "complaint.followed_up"), steps


def test_the_sla_monitor_escalates_when_the_time_limit_is_up(large_replayed: Replay) -> None:
    """To level 1 at the deadline of the terms ingest records (the clock paused while pending),
    to level 2 an allowance later: within minutes of the moment ContactHub sees the breach."""
    escalations = large_replayed.monitor_escalations
    assert {level for level, _, _, _ in escalations} == {1, 2}
    assert any(clock > 1 for _, clock, _, _ in escalations), "a reopening starts a new clock, which runs out too"
    for level, _, elapsed, allowance in escalations:
        assert level * allowance <= elapsed <= level * allowance + 15 * 60, (level, elapsed, allowance)


def test_lifecycle_turns_come_in_realistic_shares(large_events: list[dict[str, Any]]) -> None:
    complaints_with: dict[str, set[str]] = {}
    for raw in large_events:
        if raw["type"].startswith("complaint."):
            complaints_with.setdefault(raw["type"], set()).add(raw["complaint_id"])

    def share(type_: str, of: str) -> float:
        return len(complaints_with.get(type_, set())) / len(complaints_with[of])

    assert 0.10 <= share("complaint.pended", of="complaint.started") <= 0.20
    for rare in ("complaint.held", "complaint.cancelled", "complaint.rejected"):
        assert 0 < share(rare, of="complaint.opened") < 0.06, rare
    assert 0.1 < share("complaint.noted", of="complaint.opened") < 0.5
    rejected = [raw for raw in large_events if raw["type"] == "complaint.rejected"]
    opened_ids = {raw["complaint_id"] for raw in large_events if raw["type"] == "complaint.opened"}
    # A duplicate names the complaint it duplicates, which is a real one.
    assert all(any(other in raw["reason"] for other in opened_ids - {raw["complaint_id"]}) for raw in rejected)
    steps = [raw for raw in large_events if raw["type"].startswith("complaint.") and raw["type"] != "complaint.opened"]
    assert {raw["channel"] for raw in steps} >= {"hotline", "sms", "technician", "store", "email"}


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
