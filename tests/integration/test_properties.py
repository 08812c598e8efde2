"""The invariants that matter, checked on random histories, on both backends:

- rebuild from scratch equals incremental projection, whatever the batch splits and projector restarts;
- ingestion is idempotent: re-posting any batch stores nothing new, and no event is lost or doubled;
- replay is deterministic: a customer rebuilt from the log equals the one the writer decided on.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.bootstrap import build, read_models
from contacthub.config import Settings
from contacthub.projections.base import projection_digest
from contacthub.projections.runner import Projector
from histories import batch_splits, histories
from support.databases import fresh_database_url

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _new_hub(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory)))
    request.addfinalizer(hub.close)
    return hub


def _digests(hub: Any) -> dict[str, dict[str, str]]:
    return {p.name: projection_digest(hub.event_log.read_store, p) for p in hub.projector.projections}


@PROPERTY_SETTINGS
@given(data=st.data())
def test_rebuild_equals_incremental(backend: str, request: pytest.FixtureRequest,
                                    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    events = data.draw(histories(merges=True))
    batches = data.draw(batch_splits(events))
    hub = _new_hub(backend, request, tmp_path_factory)
    projector = hub.projector
    for batch in batches:
        hub.ingest.ingest(batch)
        if data.draw(st.booleans(), label="restart projector"):
            # A restarted projector is a new object that knows only what the database says.
            projector = Projector(hub.event_log, read_models(), batch_size=data.draw(st.integers(1, 7), label="batch"))
        if data.draw(st.booleans(), label="project now"):
            projector.run_once()
    projector.catch_up()
    incremental = _digests(hub)

    hub.projector.reset()
    hub.projector.catch_up()
    assert _digests(hub) == incremental
    assert hub.projector.caught_up_to() == hub.event_log.head_position()


@PROPERTY_SETTINGS
@given(data=st.data())
def test_ingestion_is_idempotent_and_loses_or_doubles_nothing(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    events = data.draw(histories(merges=True))
    batches = data.draw(batch_splits(events))
    hub = _new_hub(backend, request, tmp_path_factory)
    first_positions: dict[str, int] = {}
    posted: list[list[dict[str, Any]]] = []
    for batch in batches:
        outcome = hub.ingest.ingest(batch)
        assert [r.status for r in outcome.results] == ["recorded"] * len(batch)
        first_positions.update({r.event_id: r.position for r in outcome.results})
        posted.append(batch)
        # A channel retries some earlier batch, whole or in part, in any order.
        if data.draw(st.booleans(), label="retry"):
            again = data.draw(st.sampled_from(posted), label="which")
            again = data.draw(st.permutations(again), label="order")
            head = hub.event_log.head_position()
            retry = hub.ingest.ingest(again)
            assert {r.status for r in retry.results} == {"duplicate"}
            assert {r.event_id: r.position for r in retry.results} == {e["event_id"]: first_positions[e["event_id"]] for e in again}
            assert hub.event_log.head_position() == head

    stored = hub.event_log.read_notifications(0, 10_000)
    # What ContactHub records itself besides: unknown callers' parties, and their touchpoints
    # joining a customer (the same contact.logged again, on the customer; docs/events.md §3.13).
    states = [orjson.loads(n.state) for n in stored]
    posted_states = [s for s in states if s.get("posted_by") != "contacthub"]
    stored_ids = Counter(s["event_id"] for s in posted_states)
    assert stored_ids == Counter(e["event_id"] for e in events)  # each exactly once
    assert {n.id for n, s in zip(stored, states, strict=True) if s.get("posted_by") != "contacthub"} == set(
        first_positions.values())
    joined = [s for n, s in zip(stored, states, strict=True)
              if s.get("posted_by") == "contacthub" and n.topic == "contact.logged"]
    assert len(joined) == len({s["event_id"] for s in joined})  # each joins once

    hub.projector.catch_up()
    contacts = [e for e in events if e["type"] == "contact.logged"]
    timeline_total = sum(  # a merged person's timeline once (either record's id reads all its records')
        len(hub.customers.timeline(cid, None, 10_000)[0])
        for cid in {e["customer_id"] for e in events if e["type"] == "customer.registered"}
        if hub.customers.records_of(cid)[0] == cid
    )
    _, unidentified, _ = hub.customers.unidentified_contacts("13700000000", limit=0)
    still_unknown = {f"1390000{m:04d}" for m in range(10)} - {
        m for e in events if e["type"] == "customer.registered" for m in e["msisdns"]}
    unidentified += sum(hub.customers.unidentified_contacts(m, limit=0)[1] for m in still_unknown)
    assert timeline_total + unidentified == len(contacts)  # every touchpoint once: on a customer or a party


@PROPERTY_SETTINGS
@given(events=histories(max_customers=3, max_events=30, merges=True))
def test_replay_is_deterministic(backend: str, request: pytest.FixtureRequest,
                                 tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]) -> None:
    hub = _new_hub(backend, request, tmp_path_factory)
    hub.ingest.ingest(events)
    customer_ids = [e["customer_id"] for e in events if e["type"] == "customer.registered"]
    decided = {cid: hub.ingest.cache.get(cid) for cid in customer_ids}
    first = hub.event_log.load_customers(customer_ids)
    second = hub.event_log.load_customers(list(reversed(customer_ids)))
    assert first == second == decided
