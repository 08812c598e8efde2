"""The ingest service directly (no HTTP), on both backends."""

from __future__ import annotations

from contacthub.bootstrap import ContactHub
from helpers import complaint_opened, contact, registered


def test_reposting_stored_batches_answers_duplicate_whatever_they_contain(hub: ContactHub) -> None:
    # Regression: a re-posted batch fails on the fast path at the key (or claim) insert;
    # on PostgreSQL that once surfaced as "pipeline aborted" instead of a duplicate.
    registration, first_contact, complaint = registered(), contact(), complaint_opened()
    first = hub.ingest.ingest([registration, first_contact, complaint])
    head = hub.event_log.head_position()

    for batch in ([registration], [first_contact], [complaint, registration], [first_contact, registration, complaint]):
        again = hub.ingest.ingest(batch)
        assert [r.status for r in again.results] == ["duplicate"] * len(batch)
        by_id = {r.event_id: r.position for r in first.results}
        assert [r.position for r in again.results] == [by_id[e["event_id"]] for e in batch]
    assert hub.event_log.head_position() == head


def test_a_batch_mixing_new_and_stored_events_stores_only_the_new(hub: ContactHub) -> None:
    registration, old_contact = registered(), contact()
    hub.ingest.ingest([registration, old_contact])
    new_contact = contact(channel="store", site="杭州西湖营业厅")

    outcome = hub.ingest.ingest([old_contact, new_contact])

    assert [r.status for r in outcome.results] == ["duplicate", "recorded"]
    assert outcome.position == hub.event_log.head_position() == outcome.results[1].position


def test_log_order_follows_batch_order_across_customers(hub: ContactHub) -> None:
    a, b = registered("CA", ("13900000001",)), registered("CB", ("13900000002",))
    batch = [a, b, contact({"customer_id": "CA"}), contact({"customer_id": "CB"}), contact({"customer_id": "CA"})]
    outcome = hub.ingest.ingest(batch)
    positions = [r.position for r in outcome.results]
    assert positions == sorted(positions)
