"""Two invariants of the ingest service on random histories, fast, over an in-memory log:

- ingestion is idempotent: re-posting any batch, whole or in part, in any order, stores nothing new,
  and no event is lost or doubled;
- replay is deterministic: a customer rebuilt from the log equals the one the writer decided on.

Their twins on SQLite and PostgreSQL, with the read models: tests/integration/test_properties.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.domain.customer import SYSTEM, Customer, posted_by
from histories import batch_splits, histories
from support.clock import ManualClock
from support.services import Services

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # after every drawn history
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_ingestion_is_idempotent_and_loses_or_doubles_nothing(data: st.DataObject) -> None:
    events = data.draw(histories(), label="history")
    batches = data.draw(batch_splits(events), label="batches")
    services = Services.wire(ManualClock(NOW))
    first_positions: dict[str, int] = {}
    posted: list[list[dict[str, Any]]] = []
    for batch in batches:
        outcome = services.given(*batch)
        assert [r.status for r in outcome.results] == ["recorded"] * len(batch)
        first_positions.update({r.event_id: r.position for r in outcome.results})
        posted.append(batch)
        # A channel retries some earlier batch, whole or in part, in any order.
        if data.draw(st.booleans(), label="retry"):
            again = data.draw(st.sampled_from(posted), label="which")
            again = data.draw(st.permutations(again), label="order")
            again = again[: data.draw(st.integers(1, len(again)), label="how many")]
            head = services.log.head_position()
            retry = services.given(*again)
            assert {r.status for r in retry.results} == {"duplicate"}
            assert [r.position for r in retry.results] == [first_positions[e["event_id"]] for e in again]
            assert services.log.head_position() == head

    stored = services.log.read_events(0, 10_000)
    # Besides, what ContactHub records itself: unknown callers' parties and their touchpoints joining
    # a customer (the same contact.logged again, on the customer; docs/events.md §3.13), once each.
    posted = [(p, e) for p, e in stored if posted_by(e) != SYSTEM]
    assert Counter(e.event_id for _, e in posted) == Counter(e["event_id"] for e in events)  # each exactly once
    assert {p for p, _ in posted} == set(first_positions.values())
    joined = [e.event_id for _, e in stored if posted_by(e) == SYSTEM and isinstance(e, Customer.ContactLogged)]
    assert len(joined) == len(set(joined))


@PROPERTY_SETTINGS
@given(events=histories(max_customers=3, max_events=30))
def test_replay_is_deterministic(events: list[dict[str, Any]]) -> None:
    services = Services.wire(ManualClock(NOW))
    services.given(*events)
    customer_ids = [e["customer_id"] for e in events if e["type"] == "customer.registered"]

    decided = {cid: services.ingest.cache.get(cid) for cid in customer_ids}
    first = services.log.load_customers(customer_ids)
    second = services.log.load_customers(list(reversed(customer_ids)))

    assert first == second == decided
