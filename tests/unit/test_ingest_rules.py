"""The rules of ingestion, on the ingest service over an in-memory log: a batch is validated whole, decided
whole, stored all or nothing, and idempotent by event id.

Given these events, when this batch, then this outcome or IngestRejected with this status (422: malformed;
409: conflicts with what is stored) and errors naming (index, event_id, field). How POST /v1/events maps
each of them to HTTP (status, JSON errors) is shown once per family in tests/e2e/test_api_ingest.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from contacthub.contract import MAX_BATCH
from contacthub.services.ingest import IngestRejected, IngestService
from helpers import complaint_opened, contact, event, registered
from support.services import Services, errors, fields

FUTURE = "2026-11-05T09:00:00+08:00"  # three days after the clock's "now" (T0)


def statuses(outcome: Any) -> list[str]:
    return [r.status for r in outcome.results]


@pytest.fixture
def c1(services: Services) -> Services:
    """Given customer C1 registered with msisdn 13800138000 (and one earlier hotline contact)."""
    services.given(registered("C1", ("13800138000",)), contact())
    return services


# --- a valid batch ----------------------------------------------------------------------------


def test_a_valid_batch_is_recorded_in_batch_order_and_answers_each_events_log_position(services: Services) -> None:
    batch = [
        registered("CA", ("13900000001",)), registered("CB", ("13900000002",)),
        contact({"customer_id": "CA"}), contact({"customer_id": "CB"}), contact({"customer_id": "CA"}, channel="web"),
    ]

    outcome = services.given(*batch)

    assert [(r.event_id, r.status) for r in outcome.results] == [(e["event_id"], "recorded") for e in batch]
    assert [r.position for r in outcome.results] == [1, 2, 3, 4, 5]
    assert outcome.position == services.log.head_position() == 5
    assert [e.event_id for _, e in services.log.read_events(0, 10)] == [e["event_id"] for e in batch]
    assert (services.customer("CA").contact_count, services.customer("CB").contact_count) == (2, 1)


def test_an_msisdn_names_the_customer_that_registered_it_in_any_notation(services: Services) -> None:
    services.given(registered("C1", ("13800138000",)), registered("C2", ("13900139000", "02112345678")))

    services.given(
        contact({"msisdn": "13800138000"}),
        contact({"msisdn": "+8613800138000"}),  # the same mobile number with its country code
        contact({"msisdn": "02112345678"}),
    )

    assert (services.customer("C1").contact_count, services.customer("C2").contact_count) == (2, 1)


def test_an_msisdn_registered_earlier_in_the_same_batch_resolves(services: Services) -> None:
    outcome = services.given(registered("C7", ("13700137000",)), contact({"msisdn": "13700137000"}))

    assert statuses(outcome) == ["recorded", "recorded"]
    assert services.customer("C7").contact_count == 1


def test_a_batch_holds_1_to_1000_events(c1: Services) -> None:
    outcome = c1.given(*[contact() for _ in range(MAX_BATCH)])
    assert statuses(outcome) == ["recorded"] * 1000

    for size in (0, MAX_BATCH + 1):
        rejected = c1.refused(*[contact() for _ in range(size)])
        assert (rejected.status_code, errors(rejected)) == (422, [(None, None, "events")])
        assert rejected.errors[0].message == "a batch holds 1 to 1000 events"


# --- validated whole: 422 lists every problem, stores nothing ------------------------------------

# (what is wrong, the event, the fields one of which the error must name)
MALFORMED: list[tuple[str, Any, set[str]]] = [
    ("naive occurred_at", contact(occurred_at="2026-11-02T09:00:00"), {"occurred_at"}),
    ("occurred_at is not a time", contact(occurred_at="yesterday"), {"occurred_at"}),
    ("occurred_at before 2000", contact(occurred_at="1999-12-31T23:59:59+08:00"), {"occurred_at"}),
    ("occurred_at days in the future", contact(occurred_at=FUTURE), {"occurred_at"}),
    ("unknown type", {**contact(), "type": "contact.faxed"}, {"type"}),
    ("no type", {k: v for k, v in contact().items() if k != "type"}, {"type"}),
    ("no event_id", {k: v for k, v in contact().items() if k != "event_id"}, {"event_id"}),
    ("event_id with a space", contact(event_id="has a space"), {"event_id"}),
    ("neither customer_id nor msisdn", {k: v for k, v in contact().items() if k != "msisdn"}, {"customer_id", "msisdn"}),
    ("both customer_id and msisdn", contact({"customer_id": "C1", "msisdn": "13800138000"}), {"customer_id", "msisdn"}),
    ("msisdn is not a number", contact({"msisdn": "138-0013"}), {"msisdn"}),
    ("unknown channel", contact(channel="fax"), {"channel"}),
    ("missing required field", {k: v for k, v in contact().items() if k != "reason"}, {"reason"}),
    ("unknown field", contact(mood="angry"), {"mood"}),
    ("negative duration", contact(duration_s=-1), {"duration_s"}),
    ("duration as text", contact(duration_s="180"), {"duration_s"}),
    ("control character in text", contact(reason="billing\x07query"), {"reason"}),
    ("unknown severity", complaint_opened("K5", severity="urgent"), {"severity"}),
    ("registration without numbers", registered("C9", msisdns=()), {"msisdns"}),
    ("registration listing a number twice", registered("C9", msisdns=("13700000001", "13700000001")), {"msisdns"}),
    ("negative arpu", event("customer.tier_changed", tier="gold", arpu=-1), {"arpu"}),
    ("escalation level 0", event("complaint.escalated", complaint_id="K1", level=0, reason="slow"), {"level"}),
    ("order without services", event("order.placed", order_id="O9", services=[]), {"services"}),
    ("not an object", 42, {"event"}),
]


def test_an_invalid_batch_is_rejected_whole_with_every_problem_listed(c1: Services) -> None:
    # Given a batch in which valid events alternate with malformed ones of every kind
    batch: list[Any] = []
    expected: dict[int, tuple[str, Any, set[str]]] = {}
    for case in MALFORMED:
        batch.append(contact())  # valid
        expected[len(batch)] = case
        batch.append(copy.deepcopy(case[1]))
    batch.append(contact())

    # When it is ingested, then it is refused with one error list naming each bad event by index,
    # event_id and field, and nothing of the batch is stored, not even its valid events
    rejected = c1.refused(*batch)

    assert rejected.status_code == 422
    by_index: dict[int | None, list[Any]] = {}
    for error in rejected.errors:
        assert error.message
        by_index.setdefault(error.index, []).append(error)
    assert set(by_index) == set(expected), "errors for valid events, or bad events not reported"
    for index, (what, raw, names) in expected.items():
        named = {e.field for e in by_index[index]}
        assert named & names, f"{what}: expected a field in {names}, got {by_index[index]}"
        raw_id = raw.get("event_id") if isinstance(raw, dict) else None
        assert {e.event_id for e in by_index[index]} == {raw_id}, what


def test_a_missing_field_and_an_invalid_field_of_one_event_are_both_reported(c1: Services) -> None:
    bad = {k: v for k, v in contact(channel="fax").items() if k != "reason"}

    rejected = c1.refused(contact(), bad)

    assert rejected.status_code == 422
    assert sorted(errors(rejected), key=str) == [(1, bad["event_id"], "channel"), (1, bad["event_id"], "reason")]


def test_an_msisdn_with_a_trailing_newline_is_not_a_valid_msisdn(services: Services) -> None:
    rejected = services.refused(registered("C2", ("13900139000\n",)))

    assert (rejected.status_code, [(e.index, e.field) for e in rejected.errors]) == (422, [(0, "msisdns.0")])


@pytest.mark.parametrize("unix_time", [1762045200, "1762045200"], ids=["number", "digit-string"])
def test_occurred_at_must_be_an_rfc3339_text_not_a_unix_time(c1: Services, unix_time: Any) -> None:
    rejected = c1.refused(contact(occurred_at=unix_time))

    assert (rejected.status_code, [(e.index, e.field) for e in rejected.errors]) == (422, [(0, "occurred_at")])


def test_occurred_at_in_any_offset_or_utc_is_accepted_as_that_instant(c1: Services) -> None:
    utc, new_york = contact(occurred_at="2026-11-02T01:30:00Z"), contact(occurred_at="2026-11-01T20:45:00-05:00")

    c1.given(utc, new_york)

    stored = {e.event_id: e.occurred_at for _, e in c1.log.customer_history("C1")}
    assert stored[utc["event_id"]].isoformat() == "2026-11-02T01:30:00+00:00"
    assert stored[new_york["event_id"]] == stored[utc["event_id"]].replace(hour=1, minute=45)


def test_occurred_at_may_lie_up_to_the_future_tolerance_ahead_and_not_a_second_more(c1: Services) -> None:
    # The clock's "now" is T0 (2026-11-02 09:00 Shanghai); the packaged tolerance is one day.
    c1.given(contact(occurred_at="2026-11-03T09:00:00+08:00"))

    late = contact(occurred_at="2026-11-03T09:00:01+08:00")
    rejected = c1.refused(late)

    assert (rejected.status_code, errors(rejected)) == (422, [(0, late["event_id"], "occurred_at")])
    assert rejected.errors[0].message == "occurred_at lies more than 86400 s in the future"


@pytest.mark.parametrize("type_", ["complaint.sla_warning", "complaint.sla_breached", "customer.erased"])
def test_contacthubs_own_events_cannot_be_posted_by_a_channel(c1: Services, type_: str) -> None:
    c1.given(complaint_opened("K1"))
    posted = event(type_, complaint_id="K1", clock=1, by="x", reason="x")

    assert [(e.index, e.field) for e in c1.refused(posted).errors] == [(0, "type")]


def test_event_ids_of_contacthubs_own_sla_events_are_reserved(c1: Services) -> None:
    posted = contact(event_id="sla-warning:K1:1")

    rejected = c1.refused(posted)

    assert (rejected.status_code, errors(rejected)) == (422, [(0, "sla-warning:K1:1", "event_id")])


def test_the_catalogue_v1_assigned_event_is_no_longer_accepted(c1: Services) -> None:
    c1.given(complaint_opened("K1"))

    rejected = c1.refused(event("complaint.assigned", complaint_id="K1", to="billing-2"))

    assert rejected.status_code == 422 and fields(rejected) == ["type"]


# --- rule violations: 409, nothing stored, even when the last event is the bad one ---------------


@pytest.fixture
def history(services: Services) -> Services:
    """C1 (13800138000) with order O1 (voice, data) and closed complaint K1; C2 (13900139000)."""
    services.given(
        registered("C1", ("13800138000",)),
        registered("C2", ("13900139000",)),
        event("order.placed", order_id="O1", services=["voice", "data"]),
        complaint_opened("K1"),
        event("complaint.resolved", complaint_id="K1", resolution="refunded 30 yuan", by="agent-9"),
        event("complaint.closed", complaint_id="K1"),
    )
    return services


# (what, the violating event, the field its error names, a part of its message)
RULE_VIOLATIONS = [
    pytest.param(lambda: event("complaint.escalated", complaint_id="K404", reason="x", by="a"), "complaint_id",
                 "complaint K404 is not known for customer C1", id="escalating-an-unknown-complaint"),
    pytest.param(lambda: contact({"customer_id": "C404"}), "customer_id", "customer C404 is not registered",
                 id="unknown-customer"),
    pytest.param(lambda: complaint_opened("K9", {"msisdn": "13700000000"}), "msisdn",
                 "no customer has registered msisdn 13700000000", id="unknown-msisdn"),
    pytest.param(lambda: event("service.activated", order_id="O1", service="iptv"), "service",
                 "does not contain service 'iptv'", id="activating-a-service-not-in-the-order"),
    pytest.param(lambda: event("service.activated", {"customer_id": "C2"}, order_id="O1", service="voice"), "order_id",
                 "order O1 already belongs to customer C1", id="activating-another-customers-order"),
    pytest.param(lambda: event("complaint.acknowledged", complaint_id="K1"), "type",
                 "complaint K1 is closed; 'acknowledge' is not allowed", id="acting-on-a-closed-complaint"),
    pytest.param(lambda: complaint_opened("K1"), "complaint_id", "complaint K1 was already opened",
                 id="complaint-id-opened-twice"),
    pytest.param(lambda: complaint_opened("K1", {"customer_id": "C2"}), "complaint_id",
                 "complaint K1 already belongs to customer C1", id="complaint-id-opened-again-by-another-customer"),
    pytest.param(lambda: registered("C3", ("13800138000",)), "msisdns", "msisdn 13800138000 already belongs to customer C1",
                 id="msisdn-already-registered"),
    pytest.param(lambda: registered("C2", ("13600136000",)), "customer_id", "customer C2 is already registered",
                 id="customer-registered-twice"),
]


@pytest.mark.parametrize(("violation", "field", "message_part"), RULE_VIOLATIONS)
def test_a_rule_violation_at_the_end_of_a_batch_rejects_the_whole_batch(
    history: Services, violation: Callable[[], dict[str, Any]], field: str, message_part: str
) -> None:
    valid = [contact(), contact({"customer_id": "C2"}, channel="store")]
    bad = violation()

    rejected = history.refused(*valid, bad)

    assert rejected.status_code == 409
    assert errors(rejected) == [(2, bad["event_id"], field)]
    assert message_part in rejected.errors[0].message
    # The valid events were not kept, nor were their event ids: ingested alone, they are recorded now.
    assert statuses(history.given(*valid)) == ["recorded", "recorded"]


def test_every_rule_violation_of_a_batch_is_listed(history: Services) -> None:
    first = event("service.activated", order_id="O1", service="iptv")
    second = event("complaint.closed", complaint_id="K1")

    rejected = history.refused(contact(), first, contact(), second)

    assert rejected.status_code == 409
    assert errors(rejected) == [(1, first["event_id"], "service"), (3, second["event_id"], "type")]


def test_a_closed_complaint_is_final_and_the_refusal_names_its_status_and_the_allowed_actions(history: Services) -> None:
    rejected = history.refused(event("complaint.reopened", complaint_id="K1", reason="charged again", by="agent-2"))

    [error] = rejected.errors
    assert (rejected.status_code, error.field) == (409, "type")
    assert error.message == "complaint K1 is closed; 'reopen' is not allowed (allowed: note)"
    assert history.complaint("K1").status == "closed"


def test_a_resolved_complaint_can_be_reopened_to_in_progress_on_a_new_sla_clock(services: Services) -> None:
    services.given(
        registered("C1"),
        complaint_opened("K1"),
        event("complaint.resolved", complaint_id="K1", resolution="refunded 30 yuan", by="agent-9"),
    )

    services.given(event("complaint.reopened", complaint_id="K1", reason="charged again", by="agent-2"))

    k1 = services.complaint("K1")
    assert (k1.status, k1.reopen_count, k1.clock.number) == ("inProgress", 1, 2)


def test_after_a_rejected_batch_the_writer_decides_on_the_stored_state_only(c1: Services) -> None:
    # Given a rejected batch whose first event would have opened complaint K2
    c1.refused(complaint_opened("K2"), event("complaint.escalated", complaint_id="K404", reason="x", by="a"))

    # Then K2 does not exist: handing it over is refused, and opening it is accepted
    assert fields(c1.refused(event("complaint.handed_over", complaint_id="K2", to="agent-9", reason="x", by="a"))) == [
        "complaint_id"]
    c1.given(complaint_opened("K2"))
    assert list(c1.customer().complaints) == ["K2"]


# --- idempotency --------------------------------------------------------------------------------


def test_reposting_a_batch_answers_duplicate_with_the_same_positions_and_stores_it_once(c1: Services) -> None:
    batch = [contact(), contact(channel="store", handled_by="store-88"), complaint_opened("K1")]
    first = c1.given(*batch)
    head = c1.log.head_position()

    again = c1.given(*batch)

    assert statuses(again) == ["duplicate"] * 3
    assert [(r.event_id, r.position) for r in again.results] == [(r.event_id, r.position) for r in first.results]
    assert again.position == first.position
    assert c1.log.head_position() == head
    assert list(c1.customer().complaints) == ["K1"]


def test_each_stored_event_posted_again_on_its_own_or_with_others_is_a_duplicate(services: Services) -> None:
    # The fast path assumes nothing of a batch is stored: a stored event that passes the customer's
    # rules again is refused only by its key, and that refusal must still read as "duplicate".
    registration, first_contact, complaint = registered(), contact(), complaint_opened()
    first = services.given(registration, first_contact, complaint)
    position_of = {r.event_id: r.position for r in first.results}

    for batch in ([registration], [first_contact], [complaint, registration], [first_contact, registration, complaint]):
        again = services.given(*batch)
        assert statuses(again) == ["duplicate"] * len(batch)
        assert [r.position for r in again.results] == [position_of[e["event_id"]] for e in batch]
    assert services.log.head_position() == 3


def test_a_repost_in_another_key_order_is_the_same_content(c1: Services) -> None:
    original = complaint_opened("K1")
    first = c1.given(original)

    again = c1.given(dict(reversed(list(original.items()))))

    assert [(r.status, r.position) for r in again.results] == [("duplicate", first.position)]


def test_an_event_id_reused_for_different_content_is_refused(c1: Services) -> None:
    original = complaint_opened("K1", summary="上月账单多扣 30 元")
    c1.given(original)
    changed = {**original, "summary": "上月账单多扣 50 元"}

    rejected = c1.refused(contact(), changed)

    assert (rejected.status_code, errors(rejected)) == (409, [(1, original["event_id"], "event_id")])
    assert rejected.errors[0].message == "event_id was already stored with different content"


def test_the_same_event_twice_in_one_batch_is_stored_once(c1: Services) -> None:
    twice = contact()

    outcome = c1.given(twice, contact(), copy.deepcopy(twice))

    first, _, second = outcome.results
    assert [(first.event_id, first.status), (second.event_id, second.status)] == [
        (twice["event_id"], "recorded"), (twice["event_id"], "duplicate")
    ]
    assert second.position == first.position
    assert c1.customer().contact_count == 1 + 2


def test_one_event_id_with_two_contents_in_one_batch_rejects_the_batch(c1: Services) -> None:
    first = contact()
    clash = {**first, "channel": "web"}

    rejected = c1.refused(first, contact(), clash)

    assert (rejected.status_code, errors(rejected)) == (409, [(2, first["event_id"], "event_id")])


def test_a_batch_mixing_stored_and_new_events_records_only_the_new_ones(c1: Services) -> None:
    old = complaint_opened("K1")
    first = c1.given(old)
    new = contact(channel="sms")

    outcome = c1.given(new, old)

    assert (outcome.results[1].status, outcome.results[1].position) == ("duplicate", first.position)
    assert outcome.results[0].status == "recorded" and outcome.results[0].position > first.position
    assert outcome.position == outcome.results[0].position == c1.log.head_position()


def test_event_ids_are_kept_by_the_log_not_by_the_writer(services: Services) -> None:
    """A new ingest service on the same log (a restarted process: nothing cached) still knows every event id."""
    batch = [registered("C1", ("13800138000",)), contact(), contact(channel="app")]
    first = services.given(*batch)
    restarted = IngestService(services.log, clock=services.clock, sla_policy=services.ingest.sla_policy)

    again = restarted.ingest(batch)

    assert [(r.status, r.position) for r in again.results] == [("duplicate", r.position) for r in first.results]
    with pytest.raises(IngestRejected) as changed:
        restarted.ingest([{**batch[0], "name": "李雷"}])
    assert (changed.value.status_code, fields(changed.value)) == (409, ["event_id"])
    assert services.log.head_position() == 3

