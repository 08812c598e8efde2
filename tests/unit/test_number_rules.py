"""Numbers over time (issue 18): released, recycled and added numbers, and whose a number is at a moment.

Given these events, when this batch, then the touchpoint lands on the customer who held the number at
its occurred_at, or the batch is refused naming the field (docs/events.md §3.11, §3.12; domain/numbers.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.domain.numbers import Holding, holder_at
from helpers import contact, event, registered
from support.services import Services, errors

NUMBER = "13800138000"
CST = timezone(timedelta(hours=8))


def at(day: int, hour: int = 9) -> str:
    return f"2026-10-{day:02d}T{hour:02d}:00:00+08:00"


def moment(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=CST)


def released(customer_id: str, number: str, day: int, reason: str = "account_closed") -> dict[str, Any]:
    return event("customer.msisdn_released", {"customer_id": customer_id}, msisdn=number, reason=reason,
                 occurred_at=at(day))


def added(customer_id: str, number: str, day: int) -> dict[str, Any]:
    return event("customer.msisdn_added", {"customer_id": customer_id}, msisdn=number, occurred_at=at(day))


def by_number(day: int, number: str = NUMBER, hour: int = 9) -> dict[str, Any]:
    return contact({"msisdn": number}, occurred_at=at(day, hour))


def contact_ids(services: Services, customer_id: str) -> list[str]:
    return [e.event_id for _, e in services.log.customer_history(customer_id) if type(e).TOPIC == "contact.logged"]


@pytest.fixture
def recycled(services: Services) -> Services:
    """13800138000: C1's from Oct 1, released Oct 10; C2's from Oct 20."""
    services.given(registered("C1", (NUMBER,), occurred_at=at(1)))
    services.given(released("C1", NUMBER, 10))
    services.given(registered("C2", (NUMBER,), occurred_at=at(20)))
    return services


# --- the rule: holder at a moment ---------------------------------------------------------------


def test_a_holding_covers_its_start_and_not_its_release() -> None:
    holdings = [
        Holding(NUMBER, "C1", moment(1), moment(10)),
        Holding(NUMBER, "C2", moment(10), moment(15)),
        Holding(NUMBER, "C3", moment(20)),
    ]
    assert holder_at(holdings, moment(10) - timedelta(microseconds=1)) == "C1"
    assert holder_at(holdings, moment(10)) == "C2"  # released and given again at the same instant
    assert holder_at(holdings, moment(15)) is None  # between a release and the next holding: nobody
    assert holder_at(holdings, moment(20)) == "C3"
    assert holder_at(list(reversed(holdings)), moment(28)) == "C3"


def test_before_its_first_holding_a_number_is_its_first_holders() -> None:
    holdings = [Holding(NUMBER, "C1", moment(5), moment(10)), Holding(NUMBER, "C2", moment(12))]
    assert holder_at(holdings, moment(1)) == "C1"
    assert holder_at(holdings, moment(11, 10)) is None  # before the second holding, after the first: nobody's
    assert holder_at([], moment(1)) is None


# --- a recycled number ---------------------------------------------------------------------------


def test_a_touchpoint_by_a_recycled_number_goes_to_whoever_held_it_when_it_happened(recycled: Services) -> None:
    new_holders = by_number(25)
    old_holders_late = by_number(8)  # delivered after the number changed hands

    recycled.given(new_holders, old_holders_late)

    assert contact_ids(recycled, "C2") == [new_holders["event_id"]]
    assert contact_ids(recycled, "C1") == [old_holders_late["event_id"]]
    assert recycled.customer("C1").msisdns == ()
    assert recycled.customer("C2").msisdns == (NUMBER,)


def test_a_touchpoint_dated_while_nobody_held_the_number_is_refused(recycled: Services) -> None:
    gap = by_number(15)

    rejected = recycled.refused(gap)

    assert (rejected.status_code, errors(rejected)) == (409, [(0, gap["event_id"], "msisdn")])
    assert rejected.errors[0].message == f"no customer held msisdn {NUMBER} at 2026-10-15T09:00:00+08:00"


def test_a_new_holder_cannot_have_the_number_before_its_last_release(services: Services) -> None:
    services.given(registered("C1", (NUMBER,), occurred_at=at(1)), released("C1", NUMBER, 10))

    too_early = registered("C2", (NUMBER,), occurred_at=at(9))
    rejected = services.refused(too_early)

    assert errors(rejected) == [(0, too_early["event_id"], "msisdns")]
    assert "was released at 2026-10-10T09:00:00+08:00" in rejected.errors[0].message
    services.given(registered("C2", (NUMBER,), occurred_at=at(10)))  # from the release on, it may


def test_a_held_number_cannot_be_registered_or_added_by_another_customer(services: Services) -> None:
    services.given(registered("C1", (NUMBER,), occurred_at=at(1)), registered("C2", ("13900139000",), occurred_at=at(1)))

    taken = added("C2", NUMBER, 5)
    rejected = services.refused(taken)

    assert errors(rejected) == [(0, taken["event_id"], "msisdn")]
    assert rejected.errors[0].message == f"msisdn {NUMBER} already belongs to customer C1"


def test_a_release_counts_for_the_whole_batch_it_is_in(services: Services) -> None:
    services.given(registered("C1", (NUMBER,), occurred_at=at(1)))

    touchpoint = by_number(12)  # first in the batch, yet after the release the batch brings
    rejected = services.refused(touchpoint, released("C1", NUMBER, 10))
    assert errors(rejected) == [(0, touchpoint["event_id"], "msisdn")]

    services.given(released("C1", NUMBER, 10), registered("C2", (NUMBER,), occurred_at=at(11)), touchpoint)
    assert contact_ids(services, "C2") == [touchpoint["event_id"]]


def test_a_number_is_given_again_only_after_its_release_in_the_batch(services: Services) -> None:
    services.given(registered("C3", ("13700137000",), occurred_at=at(1)))

    wrong_order = [registered("C4", ("13700137000",), occurred_at=at(12)), released("C3", "13700137000", 11)]
    rejected = services.refused(*wrong_order)

    assert errors(rejected) == [(0, wrong_order[0]["event_id"], "msisdns")]


def test_a_number_taken_and_released_in_one_batch_is_free_afterwards(services: Services) -> None:
    services.given(registered("C1", (NUMBER,), occurred_at=at(1)), released("C1", NUMBER, 10))

    services.given(registered("C2", (NUMBER,), occurred_at=at(10)))

    assert services.log.lookup_claims("msisdn", [NUMBER]) == {NUMBER: "C2"}


# --- added numbers --------------------------------------------------------------------------------


def test_an_added_number_routes_to_its_customer_from_when_it_was_added(services: Services) -> None:
    services.given(registered("C1", (NUMBER,), occurred_at=at(1)))
    services.given(added("C1", "13900000009", 5))

    services.given(by_number(6, "13900000009"))

    assert services.customer("C1").msisdns == (NUMBER, "13900000009")
    assert len(contact_ids(services, "C1")) == 1
    again = added("C1", "13900000009", 7)
    rejected = services.refused(again)
    assert (errors(rejected), rejected.errors[0].message) == (
        [(0, again["event_id"], "msisdn")], "customer C1 already has msisdn 13900000009")


def test_a_release_needs_a_held_number_and_a_moment_after_it_was_taken(services: Services) -> None:
    services.given(registered("C1", (NUMBER,), occurred_at=at(5)))

    not_held = released("C1", "13900000009", 6)
    rejected = services.refused(not_held)
    assert (errors(rejected), rejected.errors[0].message) == (
        [(0, not_held["event_id"], "msisdn")], "customer C1 does not hold msisdn 13900000009")

    too_early = released("C1", NUMBER, 4)
    rejected = services.refused(too_early)
    assert errors(rejected) == [(0, too_early["event_id"], "occurred_at")]
    assert "since 2026-10-05T09:00:00+08:00" in rejected.errors[0].message


def test_number_changes_are_decided_alone(recycled: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that ends a holding, or gives a number held before, holds the writers' lock exclusively."""
    deciding = recycled.log.deciding
    stored_under: list[bool] = []

    def recorded(*, exclusive: bool) -> Any:
        stored_under.append(exclusive)
        return deciding(exclusive=exclusive)

    monkeypatch.setattr(recycled.log, "deciding", recorded)
    recycled.given(by_number(25))
    recycled.given(added("C1", "13900000009", 12))  # a number nobody ever held
    assert stored_under == [False, False]
    recycled.given(released("C2", NUMBER, 26))
    recycled.given(added("C1", NUMBER, 27))  # held before
    assert stored_under[2:] == [False, True, False, True]  # the fast path gives way at once


def test_a_release_reason_is_one_of_the_vocabulary(recycled: Services) -> None:
    free_text = released("C2", NUMBER, 26, reason="客户王芳来电要求销户")
    rejected = recycled.refused(free_text)
    assert (rejected.status_code, [e.field for e in rejected.errors]) == (422, ["reason"])


def test_a_channel_key_is_not_told_who_holds_a_number(recycled: Services) -> None:
    taken = added("C9", NUMBER, 25)
    recycled.given(registered("C9", ("13600136000",), occurred_at=at(1)))

    rejected = recycled._refused(lambda: recycled.ingest.ingest([taken], name_customers=False), [taken])

    assert rejected.errors[0].message == f"msisdn {NUMBER} already belongs to another customer"


def test_number_changes_need_both_the_customer_and_the_number(services: Services) -> None:
    without_customer = event("customer.msisdn_added", {"msisdn": NUMBER}, occurred_at=at(5))
    rejected = services.refused(without_customer)
    assert (rejected.status_code, [e.field for e in rejected.errors]) == (422, ["customer_id"])

    without_reason = event("customer.msisdn_released", {"customer_id": "C1"}, msisdn=NUMBER, occurred_at=at(5))
    rejected = services.refused(without_reason)
    assert (rejected.status_code, [e.field for e in rejected.errors]) == (422, ["reason"])


# --- any history of holdings, any touchpoints ----------------------------------------------------


@st.composite
def number_histories(draw: st.DrawFn) -> tuple[list[tuple[str, int, int | None]], list[int]]:
    """Successive holdings of one number (customer, start day, release day or None), and touchpoint days."""
    holdings: list[tuple[str, int, int | None]] = []
    day = draw(st.integers(1, 5))
    for n in range(draw(st.integers(1, 4))):
        end = draw(st.one_of(st.none(), st.integers(day, day + 4))) if n < 3 else None
        holdings.append((f"H{n}", day, end))
        if end is None:
            break
        day = end + draw(st.integers(0, 3))
    touchpoints = draw(st.lists(st.integers(1, 28), min_size=1, max_size=12))
    return holdings, touchpoints


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=number_histories(), batch_size=st.integers(1, 5), seed=st.randoms(use_true_random=False))
def test_every_touchpoint_lands_on_the_holder_at_its_moment_whatever_the_order(
    clock: Any, history: tuple[list[tuple[str, int, int | None]], list[int]], batch_size: int, seed: Any
) -> None:
    holdings, days = history
    services = Services.wire(clock)
    for customer_id, start, end in holdings:
        services.given(registered(customer_id, (NUMBER,), occurred_at=at(start)))
        if end is not None:
            services.given(released(customer_id, NUMBER, end))
    model = [Holding(NUMBER, c, moment(s), None if e is None else moment(e)) for c, s, e in holdings]
    touchpoints = [by_number(day, hour=12) for day in days]
    seed.shuffle(touchpoints)

    expected: dict[str, str | None] = {}
    for t in touchpoints:
        expected[t["event_id"]] = holder_at(model, datetime.fromisoformat(t["occurred_at"]))
    routed = [t for t in touchpoints if expected[t["event_id"]] is not None]
    for start in range(0, len(routed), batch_size):
        services.given(*routed[start : start + batch_size])
    for t in touchpoints:
        if expected[t["event_id"]] is None:
            services.refused(t)

    landed = {event_id: c for c, _, _ in holdings for event_id in contact_ids(services, c)}
    assert landed == {event_id: owner for event_id, owner in expected.items() if owner is not None}
