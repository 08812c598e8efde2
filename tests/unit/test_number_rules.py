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

from contacthub.config import Settings
from contacthub.domain.customer import Customer
from contacthub.domain.numbers import Holding, holder_at
from helpers import complaint_opened, contact, event, registered
from support.services import Services, errors

NUMBER = "13800138000"
LOOK_BACK = timedelta(days=Settings().unidentified_look_back_days)
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
    """The touchpoints on a customer's stream; on an unidentified party's, those that joined no customer."""
    history = [e for _, e in services.log.customer_history(customer_id)]
    joined = {e.contact_event_id for e in history if isinstance(e, Customer.ContactIdentified)}
    return [e.event_id for e in history if type(e).TOPIC == "contact.logged" and e.event_id not in joined]


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


def test_a_moment_nobody_held_goes_to_the_next_holding_within_the_look_back() -> None:
    holdings = [Holding(NUMBER, "C1", moment(5), moment(10)), Holding(NUMBER, "C2", moment(12))]
    month = timedelta(days=30)
    assert holder_at(holdings, moment(1), month) == "C1"
    assert holder_at(holdings, moment(11, 10), month) == "C2"  # after the first holding, within the second's look-back
    assert holder_at(holdings, moment(1), timedelta(days=4)) == "C1"  # exactly the look-back before: still
    assert holder_at(holdings, moment(1), timedelta(days=3)) is None  # further back: nobody's
    assert holder_at(holdings, moment(1)) is None  # a lookup at a moment uses no look-back
    assert holder_at(holdings, moment(11, 10)) is None
    assert holder_at([], moment(1), month) is None


# --- a recycled number ---------------------------------------------------------------------------


def test_a_touchpoint_by_a_recycled_number_goes_to_whoever_held_it_when_it_happened(recycled: Services) -> None:
    new_holders = by_number(25)
    old_holders_late = by_number(8)  # delivered after the number changed hands

    recycled.given(new_holders, old_holders_late)

    assert contact_ids(recycled, "C2") == [new_holders["event_id"]]
    assert contact_ids(recycled, "C1") == [old_holders_late["event_id"]]
    assert recycled.customer("C1").msisdns == ()
    assert recycled.customer("C2").msisdns == (NUMBER,)


def test_a_touchpoint_between_two_holders_goes_to_the_next_one_within_the_look_back(recycled: Services) -> None:
    gap = by_number(15)  # C1 released it on Oct 10, C2 took it on Oct 20

    recycled.given(gap)

    assert contact_ids(recycled, "C2") == [gap["event_id"]]


def test_further_back_a_touchpoint_stays_on_the_numbers_unidentified_party(clock: Any) -> None:
    services = Services.wire(clock, Settings(unidentified_look_back_days=2))
    services.given(registered("C1", (NUMBER,), occurred_at=at(1)), released("C1", NUMBER, 10),
                   registered("C2", (NUMBER,), occurred_at=at(20)))
    gap = by_number(15)

    services.given(gap)

    assert contact_ids(services, services.party_of(NUMBER)) == [gap["event_id"]]
    assert contact_ids(services, "C2") == []
    # anything but a touchpoint is refused
    complaint = complaint_opened("K1", {"msisdn": NUMBER}, occurred_at=at(15))
    rejected = services.refused(complaint)
    assert (rejected.status_code, errors(rejected)) == (409, [(0, complaint["event_id"], "msisdn")])
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
    services.given(touchpoint, released("C1", NUMBER, 10))
    assert contact_ids(services, "C1") == []
    assert contact_ids(services, services.party_of(NUMBER)) == [touchpoint["event_id"]]

    services.given(registered("C2", (NUMBER,), occurred_at=at(11)))  # ... until the number's next holder takes it
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

    for start in range(0, len(touchpoints), batch_size):
        services.given(*touchpoints[start : start + batch_size])

    party = services.party_of(NUMBER)
    expected = {t["event_id"]: holder_at(model, datetime.fromisoformat(t["occurred_at"]), LOOK_BACK) or party
                for t in touchpoints}

    landed = {event_id: c for c in [*(h[0] for h in holdings), party] for event_id in contact_ids(services, c)}
    assert landed == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(registrations=st.lists(st.integers(1, 28), min_size=1, max_size=3, unique=True),
       days=st.lists(st.integers(1, 28), min_size=1, max_size=10), look_back=st.sampled_from([0, 1, 3, 30]),
       seed=st.randoms(use_true_random=False))
def test_unknown_callers_land_where_in_order_delivery_puts_them_whatever_the_order(
    clock: Any, registrations: list[int], days: list[int], look_back: int, seed: Any
) -> None:
    """Each number taken once (on one of the registration days); touchpoints from them, before and after,
    delivered before, between and after the registrations in any order: each ends on the customer
    whose holding covers it or starts within the look-back after it, or else on its number's party."""
    numbers = [f"1380000000{n}" for n in range(len(registrations))]
    boss = [registered(f"C{n}", (number,), occurred_at=at(day)) for n, (number, day) in enumerate(zip(numbers, registrations))]
    touchpoints = [by_number(day, number=numbers[i % len(numbers)], hour=12) for i, day in enumerate(days)]
    posts = [*boss, *touchpoints]
    seed.shuffle(posts)
    services = Services.wire(clock, Settings(unidentified_look_back_days=look_back))
    for post in posts:
        services.given(post)

    expected = {}
    for t in touchpoints:
        n = numbers.index(t["msisdn"])
        holder = holder_at([Holding(t["msisdn"], f"C{n}", moment(registrations[n]))],
                           datetime.fromisoformat(t["occurred_at"]), timedelta(days=look_back))
        expected[t["event_id"]] = holder or services.party_of(t["msisdn"])
    owners = [f"C{n}" for n in range(len(numbers))] + [services.party_of(m) for m in numbers]
    landed = {event_id: c for c in owners for event_id in contact_ids(services, c)}
    assert landed == expected
