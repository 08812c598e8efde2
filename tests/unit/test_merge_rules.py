"""Merged customers on the write side (issue 18, part 4; docs/events.md §3.16), on the in-memory log.

Given two records of one person, when a merge, posts while merged, an unmerge or an erasure, then
each event sits on the stream the rules say, and refused batches store nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from contacthub.domain.customer import SYSTEM, identity_in, posted_by
from helpers import complaint_opened, contact, event, registered
from support.services import Services, errors

A, B = "13800138000", "13900139000"


def at(day: int) -> str:
    return f"2026-10-{day:02d}T09:00:00+08:00"


def merged(duplicate: str = "C2", survivor: str = "C1", **extra: Any) -> dict[str, Any]:
    return event("customer.merged", {"customer_id": duplicate}, survivor_id=survivor, occurred_at=at(10), **extra)


def unmerged(duplicate: str = "C2", survivor: str = "C1") -> dict[str, Any]:
    return event("customer.unmerged", {"customer_id": duplicate}, survivor_id=survivor, occurred_at=at(20))


@pytest.fixture
def person(services: Services) -> Services:
    services.given(registered("C1", (A,), occurred_at=at(1)), registered("C2", (B,), occurred_at=at(1)),
                   registered("C3", ("13700137000",), occurred_at=at(1)),
                   complaint_opened("K2", {"customer_id": "C2"}, occurred_at=at(2)),
                   event("order.placed", {"customer_id": "C1"}, order_id="O1", services=["mobile"], occurred_at=at(2)))
    return services


def test_a_merge_is_recorded_on_both_records_and_the_survivors_side_by_contacthub(person: Services) -> None:
    merge = merged()
    person.given(merge)
    assert person.stored_types("C2")[-1] == "customer.merged"
    survivor_side = person.log.customer_history("C1")[-1][1]
    assert (type(survivor_side).TOPIC, survivor_side.event_id, posted_by(survivor_side)) == (
        "customer.duplicate_merged", f"identity-merge-{merge['event_id']}", SYSTEM)
    assert (person.customer("C2").merged_into, person.customer("C1").duplicates) == ("C1", ("C2",))
    person.given(unmerged())
    assert (person.customer("C2").merged_into, person.customer("C1").duplicates) == (None, ())
    assert person.stored_types("C1")[-1] == "customer.duplicate_unmerged"


def test_posts_while_merged_stay_on_the_record_posted_to_and_steps_go_where_their_complaint_or_order_is(
    person: Services
) -> None:
    person.given(merged())
    call = contact({"msisdn": B}, occurred_at=at(11))
    by_id = contact({"customer_id": "C2"}, occurred_at=at(11))
    step = event("complaint.acknowledged", {"customer_id": "C1"}, complaint_id="K2", occurred_at=at(12))
    activation = event("service.activated", {"customer_id": "C2"}, order_id="O1", service="mobile", occurred_at=at(12))
    person.given(call, by_id, step, activation)
    owners = {k: v.customer_id for k, v in person.log.lookup_keys(
        [call["event_id"], by_id["event_id"], step["event_id"], activation["event_id"]]).items()}
    assert owners == {call["event_id"]: "C2", by_id["event_id"]: "C2", step["event_id"]: "C2",
                      activation["event_id"]: "C1"}
    assert person.complaint("K2").status.value == "acknowledged"
    assert person.customer("C1").orders["O1"].finished


def test_a_step_naming_another_persons_complaint_is_still_refused(person: Services) -> None:
    person.given(merged())
    step = event("complaint.acknowledged", {"customer_id": "C3"}, complaint_id="K2", occurred_at=at(12))
    assert errors(person.refused(step)) == [(0, step["event_id"], "complaint_id")]
    person.given(unmerged())
    again = event("complaint.acknowledged", {"customer_id": "C1"}, complaint_id="K2", occurred_at=at(21))
    assert errors(person.refused(again)) == [(0, again["event_id"], "complaint_id")]  # one person no more


@pytest.mark.parametrize(("batch", "field"), [
    ([merged("C2", "C2")], "survivor_id"),
    ([merged("C2", "C9")], "survivor_id"),
    ([merged("C9", "C1")], "customer_id"),
    ([unmerged()], "survivor_id"),
    ([merged(), merged("C2", "C3")], "customer_id"),  # already merged
    ([merged(), merged("C3", "C2")], "survivor_id"),  # into a duplicate: a chain
    ([merged(), merged("C1", "C3")], "customer_id"),  # a survivor with duplicates: a chain
    ([merged(), unmerged("C2", "C3")], "survivor_id"),
])
def test_merge_rules(person: Services, batch: list[dict[str, Any]], field: str) -> None:
    rejected = person.refused(*batch)
    assert [e.field for e in rejected.errors] == [field]
    assert person.customer("C2").merged_into is None


def test_erasing_any_record_erases_every_record_merged_with_it_and_not_a_former_one(person: Services) -> None:
    person.given(merged(), merged("C3", "C1", event_id="m-3"))
    person.given(unmerged("C3", "C1"))
    status, _ = person.ingest.erase("C2", by="dpo", reason="客户要求")
    assert status == "recorded"
    assert [person.customer(c).erased_at is not None for c in ("C1", "C2", "C3")] == [True, True, False]
    assert person.ingest.erase("C1", by="dpo", reason="again")[0] == "already_erased"


def test_identity_in_reads_any_subset_of_a_records_events(person: Services) -> None:
    person.given(merged())
    person.given(unmerged())
    survivor = [e for _, e in person.log.customer_history("C1")]
    duplicate = [e for _, e in person.log.customer_history("C2")]
    assert identity_in(duplicate[:-1]) == ("C1", ())
    assert identity_in(duplicate) == (None, ())
    assert identity_in(survivor[:-1]) == (None, ("C2",))
    assert identity_in(survivor) == (None, ())
