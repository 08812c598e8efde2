"""Orders in jeopardy (TMF622's jeopardy alert) without a database: the rule on event time, the limits as
settings, and what the customer refuses when the watcher records it (through the ingest service on an
in-memory log).

The watcher itself, on the journey read model and both backends: tests/integration/test_jeopardy_watcher.py;
the list over HTTP and `contacthub watch`: tests/e2e/test_jeopardy.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contacthub.config import ConfigurationError, Settings
from contacthub.contract import OrderJeopardy
from contacthub.domain.customer import Customer
from contacthub.domain.order import Jeopardy, JeopardyLimits, order_jeopardy
from contacthub.services.ingest import IngestRejected
from helpers import contact, event, registered
from support.services import Services, errors

START = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the `clock` fixture's start


def at(days: float) -> str:
    return (START + timedelta(days=days)).isoformat()


def moment(days: float) -> datetime:
    return START + timedelta(days=days)


# --- the rule ---------------------------------------------------------------------------------


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


# --- what the customer refuses when the watcher records it ------------------------------------------


@pytest.fixture
def orders(services: Services) -> Services:
    """C1 placed O1 (broadband) on day 0, and O2 (broadband) on day 0, activated on day 3; it is now day 8."""
    services.clock.set(moment(8))
    services.given(
        registered("C1", occurred_at=at(-30)),
        event("order.placed", order_id="O1", services=["broadband"], occurred_at=at(0)),
        event("order.placed", order_id="O2", services=["broadband"], occurred_at=at(0)),
        event("service.activated", order_id="O2", service="broadband", occurred_at=at(3)),
    )
    return services


def jeopardy(order_id: str, event_id: str | None = None, **extra: Any) -> OrderJeopardy:
    """What the watcher records for an order seen on day 8 past the 7-day limit."""
    fields: dict[str, Any] = {
        "type": "order.jeopardy", "event_id": event_id or f"jeopardy-order:{order_id}", "occurred_at": at(8),
        "customer_id": "C1", "order_id": order_id, "reasons": ["days"], "limit_days": 7.0, "limit_calls": 5,
        "calls": 0, "passed_at": at(7), **extra,
    }
    return OrderJeopardy(**fields)


def refusal(services: Services, order_id: str, event_id: str | None = None, **extra: Any) -> tuple[int, str, str]:
    head = services.log.head_position()
    with pytest.raises(IngestRejected) as caught:
        services.ingest.record_internal([jeopardy(order_id, event_id, **extra)])
    assert services.log.head_position() == head
    [error] = caught.value.errors
    return caught.value.status_code, error.field, error.message


def test_the_customer_refuses_a_jeopardy_for_an_unknown_or_finished_order_or_one_its_limits_do_not_support(
    orders: Services,
) -> None:
    assert refusal(orders, "O404")[:2] == (409, "order_id")
    status, field, message = refusal(orders, "O2")
    assert (status, field) == (409, "order_id") and "no longer in progress" in message and "activated" in message
    assert refusal(orders, "O1", passed_at=at(-1))[:2] == (409, "passed_at")  # before the placing
    assert refusal(orders, "O1", passed_at=at(9))[:2] == (409, "passed_at")  # after it was seen
    assert refusal(orders, "O1", reasons=["calls"], calls=4)[:2] == (409, "reasons")  # 4 calls do not reach 5
    assert refusal(orders, "O1", limit_days=9.0, passed_at=at(7))[:2] == (409, "reasons")  # 9 days have not passed at day 8


def test_an_order_is_flagged_once_dated_when_the_limit_passed_and_noticing_it_again_is_a_duplicate(orders: Services) -> None:
    first = orders.ingest.record_internal([jeopardy("O1")])
    assert [r.status for r in first.results] == ["recorded"]
    again = orders.ingest.record_internal([jeopardy("O1")])  # the same order noticed again
    later = orders.ingest.record_internal([jeopardy("O1", calls=3, occurred_at=at(9))])  # ... whatever the watcher saw then
    assert [(r.status, r.position) for r in (*again.results, *later.results)] == [("duplicate", first.position)] * 2

    status, field, message = refusal(orders, "O1", event_id="jeopardy-order:O1-again")
    assert (status, field) == (409, "order_id") and "already flagged" in message

    [flagged] = [e for _, e in orders.log.customer_history("C1") if isinstance(e, Customer.OrderJeopardy)]
    assert (flagged.event_id, flagged.order_id, flagged.reasons) == ("jeopardy-order:O1", "O1", ("days",))
    assert (flagged.occurred_at, flagged.observed_at) == (moment(7), moment(8))
    assert orders.customer().orders["O1"].jeopardy_at == moment(7)


def test_a_cancelled_order_is_flagged_only_if_the_limit_passed_before_its_cancellation(orders: Services) -> None:
    orders.given(
        event("order.placed", order_id="O3", services=["iptv"], occurred_at=at(0)),
        event("order.cancelled", order_id="O3", reason="no fibre", occurred_at=at(6)),
        event("order.placed", order_id="O4", services=["iptv"], occurred_at=at(-2)),
        event("order.cancelled", order_id="O4", reason="too slow", occurred_at=at(6)),
    )

    status, field, message = refusal(orders, "O3")
    assert (status, field) == (409, "order_id") and "cancelled" in message
    late = orders.ingest.record_internal([jeopardy("O4", passed_at=at(5))])  # 7 days after day -2
    assert [r.status for r in late.results] == ["recorded"]


def test_channels_can_neither_post_order_jeopardy_nor_use_the_watchers_event_ids(orders: Services) -> None:
    posted = {
        "event_id": "crm-1", "type": "order.jeopardy", "occurred_at": at(8), "customer_id": "C1", "order_id": "O1",
        "reasons": ["days"], "limit_days": 7.0, "limit_calls": 5, "calls": 0, "passed_at": at(7),
    }
    assert errors(orders.refused(posted)) == [(0, "crm-1", "type")]

    for reserved, prefix in (("jeopardy-order:O1", "jeopardy-"), ("sla-warning:K1:1", "sla-")):
        rejected = orders.refused(contact(event_id=reserved))
        assert rejected.status_code == 422
        [error] = rejected.errors
        assert error.field == "event_id" and f"'{prefix}'" in error.message
