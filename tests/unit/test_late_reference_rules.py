"""Late references (issue 18, part 1, orders): a step of an order that comes before the order is
recorded, kept, and linked when the order is placed, or listed as a conflict (docs/events.md §3.15).

Given these events, when this batch, then the customer's order reads as in-order delivery gives.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.domain.customer import SYSTEM, Customer, posted_by
from contacthub.services.ingest import IngestRejected
from helpers import event, registered
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

    Not with cancellations: a step that comes after its order is known is judged on the order as it
    then stands, as it always was, so an activation dated before a cancellation but delivered after
    it is refused (docs/architecture.md, known limits)."""
    story = [*STORY, activated("mobile", 3), activated("landline", 4)]
    outcomes = []
    for delivery in (sorted(range(len(story)), key=lambda i: story[i]["occurred_at"]), order):
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
        outcomes.append(((state.activated, state.last_activated_at), refused + conflicts))
    in_event_time, shuffled = outcomes
    assert shuffled == in_event_time
