"""An order's rules, through the ingest service on an in-memory log: placing, activating, cancelling.

Each refusal is a 409 naming the field at fault, and stores nothing of the batch. How an order's
progress shows in the views and journeys: tests/e2e/test_api_customers.py, test_journeys.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helpers import event, registered
from support.services import Services, errors

C2 = {"customer_id": "C2"}


@pytest.fixture
def ordered(services: Services) -> Services:
    """C1 placed O1 (mobile, broadband); C2 is registered too."""
    services.given(
        registered("C1", ("13800138000",)),
        registered("C2", ("13900139000",)),
        event("order.placed", order_id="O1", services=["mobile", "broadband"]),
    )
    return services


def test_services_are_activated_one_by_one_until_the_order_is_done(ordered: Services) -> None:
    ordered.given(event("service.activated", order_id="O1", service="mobile"))
    assert (ordered.customer().orders["O1"].activated, ordered.customer().orders["O1"].finished) == ({"mobile"}, False)

    ordered.given(event("service.activated", order_id="O1", service="broadband"))

    assert ordered.customer().orders["O1"].finished


@pytest.mark.parametrize(
    ("what", "bad", "field", "message_part"),
    [
        ("an order id placed again", lambda: event("order.placed", order_id="O1", services=["iptv"]), "order_id",
         "order O1 was already placed"),
        ("an order id of another customer", lambda: event("order.placed", C2, order_id="O1", services=["iptv"]),
         "order_id", "order O1 already belongs to customer C1"),
        ("a service the order does not contain", lambda: event("service.activated", order_id="O1", service="iptv"),
         "service", "does not contain service 'iptv'"),
        ("another customer's order", lambda: event("service.activated", C2, order_id="O1", service="mobile"),
         "order_id", "order O1 already belongs to customer C1"),
    ],
)
def test_placing_and_activating_refuse_what_the_order_does_not_allow(
    ordered: Services, what: str, bad: Callable[[], dict[str, Any]], field: str, message_part: str
) -> None:
    wrong = bad()

    rejected = ordered.refused(wrong)

    assert rejected.status_code == 409, what
    assert errors(rejected) == [(0, wrong["event_id"], field)], what
    assert message_part in rejected.errors[0].message, what


def test_a_service_is_activated_once(ordered: Services) -> None:
    ordered.given(event("service.activated", order_id="O1", service="mobile"))

    again = event("service.activated", order_id="O1", service="mobile")  # a new event id: not a retry
    rejected = ordered.refused(again)

    assert errors(rejected) == [(0, again["event_id"], "service")]
    assert "already active" in rejected.errors[0].message


def test_a_cancelled_order_is_neither_activated_nor_cancelled_again(ordered: Services) -> None:
    ordered.given(event("service.activated", order_id="O1", service="mobile"))  # partly active: may still be cancelled
    ordered.given(event("order.cancelled", order_id="O1", reason="moved house"))

    activation = event("service.activated", order_id="O1", service="broadband")
    cancellation = event("order.cancelled", order_id="O1", reason="again")
    rejected = ordered.refused(activation, cancellation)

    assert errors(rejected) == [(0, activation["event_id"], "order_id"), (1, cancellation["event_id"], "order_id")]
    assert "was cancelled" in rejected.errors[0].message and "already cancelled" in rejected.errors[1].message


def test_a_fully_activated_order_cannot_be_cancelled(ordered: Services) -> None:
    ordered.given(
        event("service.activated", order_id="O1", service="mobile"),
        event("service.activated", order_id="O1", service="broadband"),
    )

    cancellation = event("order.cancelled", order_id="O1", reason="too late")
    rejected = ordered.refused(cancellation)

    assert errors(rejected) == [(0, cancellation["event_id"], "order_id")]
    assert "fully activated" in rejected.errors[0].message
