"""Late references (issue 18, part 1, orders): a step of an order that comes before the order is
recorded, kept, and linked when the order is placed, or listed as a conflict (docs/events.md §3.15).

Given these events, when this batch, then the customer's order reads as in-order delivery gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.contract import ACTION_EVENT
from contacthub.domain.customer import SYSTEM, Customer, posted_by
from contacthub.services.ingest import IngestRejected
from helpers import complaint_opened, event, registered
from histories import SAMPLE_FIELDS
from support.clock import ManualClock
from support.services import Services, errors

C1 = {"customer_id": "C1"}


def at(day: int) -> str:
    return f"2026-10-{day:02d}T09:00:00+08:00"


def placed(order_id: str = "O1", services: tuple[str, ...] = ("mobile", "broadband", "iptv"), day: int = 1) -> dict[str, Any]:
    return event("order.placed", C1, order_id=order_id, services=list(services), occurred_at=at(day))


def activated(service: str, day: int, order_id: str = "O1") -> dict[str, Any]:
    return event("service.activated", C1, order_id=order_id, service=service, occurred_at=at(day))


def cancelled(day: int, order_id: str = "O1") -> dict[str, Any]:
    return event("order.cancelled", C1, order_id=order_id, reason="客户取消", occurred_at=at(day))


@pytest.fixture
def customer(services: Services) -> Services:
    services.given(registered("C1", ("13800138000",)), registered("C2", ("13900139000",)))
    return services


def history(services: Services) -> list[tuple[str, str, str | None]]:
    return [(type(e).TOPIC, e.event_id, posted_by(e)) for _, e in services.log.customer_history("C1")
            if type(e).TOPIC not in ("customer.registered",)]


def test_an_activation_before_its_order_is_kept_and_linked_when_the_order_comes(customer: Services) -> None:
    early = activated("broadband", 5)
    customer.given(early)
    assert customer.customer().pending_steps["O1"][0].event_id == early["event_id"]
    assert "O1" not in customer.customer().orders

    customer.given(placed())

    order = customer.customer().orders["O1"]
    assert (order.activated, order.last_activated_at.isoformat()) == ({"broadband"}, at(5))
    assert customer.customer().pending_steps == {}
    assert history(customer) == [
        ("service.activated", early["event_id"], None),  # as it came
        ("order.placed", history(customer)[1][1], None),
        ("service.activated", early["event_id"], SYSTEM),  # linked: the same fact, after the placement
    ]


def test_steps_before_their_order_are_judged_in_event_time(customer: Services) -> None:
    # The cancellation (day 9) came first, the activation (day 4) later: in event time the
    # activation is first, then the cancellation of a partly active order: both apply.
    customer.given(cancelled(9), activated("mobile", 4), placed())

    order = customer.customer().orders["O1"]
    assert (order.activated, order.cancelled) == ({"mobile"}, True)


def test_a_step_that_contradicts_its_order_is_recorded_as_a_conflict_and_not_applied(customer: Services) -> None:
    wrong = activated("landline", 5)  # the order will not contain it
    twice = [activated("mobile", 3), activated("mobile", 4)]
    customer.given(wrong, *twice)

    customer.given(placed())

    order = customer.customer().orders["O1"]
    assert order.activated == {"mobile"}
    conflicts = [e for _, e in customer.log.customer_history("C1") if isinstance(e, Customer.OrderStepConflict)]
    assert [(c.step_event_id, c.step_type, c.reason) for c in conflicts] == [
        (twice[1]["event_id"], "service.activated", "service 'mobile' of order O1 is already active"),
        (wrong["event_id"], "service.activated",
         "order O1 does not contain service 'landline' (it contains: mobile, broadband, iptv)"),
    ]
    assert all(c.event_id == f"late-conflict-{c.step_event_id}" for c in conflicts)


def test_when_both_are_known_a_contradiction_is_still_refused(customer: Services) -> None:
    customer.given(placed())
    wrong = activated("landline", 5)
    rejected = customer.refused(wrong)
    assert errors(rejected) == [(0, wrong["event_id"], "service")]


def test_a_step_naming_another_customers_order_is_refused(customer: Services) -> None:
    customer.given(event("order.placed", {"customer_id": "C2"}, order_id="O2", services=["mobile"]))
    step = activated("mobile", 5, order_id="O2")

    rejected = customer.refused(step)

    assert errors(rejected) == [(0, step["event_id"], "order_id")]
    assert rejected.errors[0].message == "order O2 already belongs to customer C2"


def test_a_step_and_its_order_in_one_batch_in_either_order(customer: Services) -> None:
    customer.given(activated("iptv", 6), placed(), activated("mobile", 7))

    assert customer.customer().orders["O1"].activated == {"iptv", "mobile"}


# --- any delivery order ------------------------------------------------------------------------


STORY = [placed(day=1), activated("mobile", 2), activated("broadband", 9), activated("iptv", 20)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(STORY) + 2)))
def test_any_delivery_order_gives_the_in_order_state(clock: ManualClock, order: list[int]) -> None:
    """The order and its activations (one twice, one of a service it does not contain) delivered one by
    one in any order: the order ends as delivering them in event time gives, and each step the rules
    refuse when its order is known is, when it came before the order, recorded as a conflict.
    With a cancellation: test_an_activation_dated_before_the_cancellation_counts_in_any_delivery_order."""
    story = [*STORY, activated("mobile", 3), activated("landline", 4)]
    in_event_time, shuffled = (_delivered_one_by_one(clock, story, delivery) for delivery in (_event_time(story), order))
    assert (shuffled.activated, shuffled.last_activated_at, shuffled.refused) == (
        in_event_time.activated, in_event_time.last_activated_at, in_event_time.refused)


@dataclass(frozen=True)
class Delivered:
    """Order O1 after a story was delivered one event a batch, and how many of its steps the rules turned
    away (refused when the order was known, listed as order.conflict when it came before the order)."""

    activated: set[str]
    last_activated_at: Any
    cancelled_at: Any
    refused: int


def _event_time(story: list[dict[str, Any]]) -> list[int]:
    return sorted(range(len(story)), key=lambda i: story[i]["occurred_at"])


def _delivered_one_by_one(clock: ManualClock, story: list[dict[str, Any]], delivery: list[int]) -> Delivered:
    services = Services.wire(clock)
    services.given(registered("C1", ("13800138000",)))
    refused = 0
    for i in delivery:
        try:
            services.ingest.ingest([story[i]])
        except IngestRejected:
            refused += 1
    conflicts = sum(isinstance(e, Customer.OrderStepConflict) for _, e in services.log.customer_history("C1"))
    state = services.customer().orders["O1"]
    return Delivered(state.activated, state.last_activated_at, state.cancelled_at, refused + conflicts)

CANCELLED_STORY = [placed(day=1), activated("mobile", 2), activated("broadband", 9), cancelled(15),
                   activated("mobile", 3), activated("landline", 4)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(CANCELLED_STORY))))
def test_an_activation_dated_before_the_cancellation_counts_in_any_delivery_order(
    clock: ManualClock, order: list[int]
) -> None:
    """An order partly activated and then cancelled, its steps delivered one by one in any order (an
    activation after the cancellation it precedes, or before the order): it ends cancelled with the
    activations dated before the cancellation, as event time gives; the repeated activation and the
    service the order does not contain are refused or listed as conflicts, one each."""
    in_event_time, shuffled = (_delivered_one_by_one(clock, CANCELLED_STORY, delivery)
                               for delivery in (_event_time(CANCELLED_STORY), order))
    assert shuffled == in_event_time
    assert in_event_time.activated == {"mobile", "broadband"} and in_event_time.refused == 2

def test_an_activation_after_the_cancellation_or_completing_the_order_before_it_is_refused(customer: Services) -> None:
    customer.given(placed(services=("mobile", "broadband")), activated("mobile", 2), cancelled(15))
    after = activated("broadband", 16)
    completing = activated("broadband", 9)
    assert errors(customer.refused(after)) == [(0, after["event_id"], "order_id")]
    rejected = customer.refused(completing)
    assert errors(rejected) == [(0, completing["event_id"], "order_id")]
    assert "would have fully activated it" in rejected.errors[0].message


# --- complaint steps before their complaint ------------------------------------------------------

ACTIONS = ["start", "pend", "resume", "resolve", "follow_up", "close"]


def step(action: str, day: int, complaint_id: str = "K1") -> dict[str, Any]:
    return event(ACTION_EVENT[action], C1, complaint_id=complaint_id, by="agent-1", channel="hotline",
                 occurred_at=at(day), **SAMPLE_FIELDS[action])


def opened(day: int = 1, complaint_id: str = "K1") -> dict[str, Any]:
    return complaint_opened(complaint_id, C1, occurred_at=at(day))


def test_complaint_steps_before_the_opening_are_kept_and_linked_in_event_time(customer: Services) -> None:
    resolve, start = step("resolve", 5), step("start", 3)
    customer.given(resolve, start)
    assert [s.event_id for s in customer.customer().pending_complaint_steps["K1"]] == [resolve["event_id"], start["event_id"]]

    customer.given(opened())

    case = customer.customer().complaints["K1"]
    assert case.status.value == "resolved"
    assert customer.customer().pending_complaint_steps == {}
    linked = [(type(e).TOPIC, e.event_id) for _, e in customer.log.customer_history("C1") if posted_by(e) == SYSTEM]
    assert linked == [("complaint.started", start["event_id"]), ("complaint.resolved", resolve["event_id"])]


def test_a_complaint_step_the_table_refuses_is_a_conflict(customer: Services) -> None:
    reopen = step("reopen", 4)  # reopening a complaint that was never resolved
    customer.given(reopen)

    customer.given(opened())

    conflicts = [e for _, e in customer.log.customer_history("C1") if isinstance(e, Customer.ComplaintStepConflict)]
    assert [(c.step_event_id, c.step_type) for c in conflicts] == [(reopen["event_id"], "complaint.reopened")]
    assert customer.customer().complaints["K1"].reopen_count == 0


def test_a_step_of_another_customers_complaint_is_refused(customer: Services) -> None:
    customer.given(complaint_opened("K2", {"customer_id": "C2"}))
    wrong = step("start", 3, complaint_id="K2")

    rejected = customer.refused(wrong)

    assert errors(rejected) == [(0, wrong["event_id"], "complaint_id")]
    assert rejected.errors[0].message == "complaint K2 already belongs to customer C2"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.permutations(range(len(ACTIONS))), cut=st.integers(0, len(ACTIONS)))
def test_any_steps_before_the_opening_in_any_order_give_the_in_order_case(
    clock: ManualClock, before: list[int], cut: int
) -> None:
    """Some of the complaint's steps, in any order, before its opening; the rest after it in order: the
    complaint's status, owner, SLA clock and history read as in-order delivery gives."""
    steps = [step(action, 2 + n) for n, action in enumerate(ACTIONS)]
    early = [i for i in before if i < cut]
    late = [i for i in range(len(ACTIONS)) if i >= cut]
    cases = []
    for delivery in ([opened(), *steps], [*(steps[i] for i in early), opened(), *(steps[i] for i in late)]):
        services = Services.wire(clock)
        services.given(registered("C1", ("13800138000",)))
        for e in delivery:
            services.given(e)
        cases.append(services.customer().complaints["K1"])
    in_order, shuffled = cases
    assert shuffled == in_order


@pytest.mark.parametrize("step_first", [True, False])
def test_a_step_naming_what_the_same_batch_makes_another_customers_is_refused(customer: Services,
                                                                              step_first: bool) -> None:
    wrong = step("start", 3, complaint_id="K2")  # by C1
    opening = complaint_opened("K2", {"customer_id": "C2"})
    batch = [wrong, opening] if step_first else [opening, wrong]

    rejected = customer.refused(*batch)

    assert errors(rejected) == [(batch.index(wrong), wrong["event_id"], "complaint_id")]
    assert rejected.errors[0].message == "complaint K2 already belongs to customer C2"
