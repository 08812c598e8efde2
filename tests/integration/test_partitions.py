"""Read models split into partitions by customer (projections/runner.py): any number of
partitions, applied by any number of projectors in any interleaving, crashed and restarted,
gives exactly the read models one projector gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.bootstrap import build, read_models
from contacthub.config import Settings
from contacthub.projections.base import projection_digest
from contacthub.projections.runner import PartitioningMismatch, Projector, lane_name, partition_of
from histories import batch_splits, histories
from support.databases import fresh_database_url

PROPERTY_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _new_hub(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), sla_watch_interval_s=0))
    request.addfinalizer(hub.close)
    return hub


def _digests(hub: Any) -> dict[str, dict[str, str]]:
    return {p.name: projection_digest(hub.event_log.read_store, p) for p in hub.projector.projections}


class _Crash(Exception):
    """A projector process dying in the middle of a batch (its transaction never commits)."""


def _crashing(projector: Projector, after_applies: int) -> Projector:
    """The projector, dying inside the transaction of its `after_applies`-th read-model apply."""
    calls = {"n": 0}
    for projection in projector.projections:
        apply = projection.apply

        def dying(sql: Any, events: Any, apply: Any = apply) -> None:
            apply(sql, events)
            calls["n"] += 1
            if calls["n"] == after_applies:
                raise _Crash
        projection.apply = dying  # type: ignore[method-assign]
    return projector


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_number_of_partitions_gives_the_read_models_of_one(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    events = data.draw(histories(max_customers=5, max_events=40))
    batches = data.draw(batch_splits(events))
    partitions = data.draw(st.integers(2, 4), label="partitions")
    hub = _new_hub(backend, request, tmp_path_factory)
    hub.projector.reset(partitions=partitions)

    def projector() -> Projector:
        # A worker process: some of the partitions (or all), its own batch size; read models
        # built fresh, as a new process would.
        only = data.draw(st.sets(st.integers(0, partitions - 1), min_size=1), label="partitions taken")
        worker = Projector(hub.event_log, read_models(), batch_size=data.draw(st.integers(1, 6), label="batch"), only=only)
        if data.draw(st.booleans(), label="crashes"):
            _crashing(worker, data.draw(st.integers(1, 6), label="crash after applies"))
        return worker

    workers = [projector() for _ in range(data.draw(st.integers(1, 3), label="workers"))]
    for batch in batches:
        hub.ingest.ingest(batch)
        for _ in range(data.draw(st.integers(0, 3), label="steps")):
            n = data.draw(st.integers(0, len(workers) - 1), label="worker")
            try:
                workers[n].run_once()
            except _Crash:
                workers[n] = projector()  # restarted: knows only what the database says
    # Finally one clean worker per partition brings every lane to the end.
    for i in range(partitions):
        Projector(hub.event_log, read_models(), only={i}).catch_up()
    assert hub.projector.caught_up_to() == hub.event_log.head_position()
    partitioned = _digests(hub)

    hub.projector.reset(partitions=1)
    hub.projector.catch_up()
    assert _digests(hub) == partitioned


def _customers_in(partitions: int) -> tuple[str, str]:
    """Two customer ids in different partitions, the first in partition 1."""
    first = next(f"C-part-{n}" for n in range(1000) if partition_of(f"C-part-{n}", partitions) == 1)
    second = next(f"C-part-{n}" for n in range(1000) if partition_of(f"C-part-{n}", partitions) == 0)
    return first, second


def _registration(event_id: str, customer_id: str, msisdn: str) -> dict[str, Any]:
    return {"event_id": event_id, "type": "customer.registered", "occurred_at": "2026-11-02T09:00:00+08:00",
            "customer_id": customer_id, "name": "测试", "segment": "individual", "tier": "gold", "msisdns": [msisdn]}


def test_a_freed_number_registered_again_in_another_partition_belongs_to_its_new_owner(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hub = _new_hub(backend, request, tmp_path_factory)
    hub.projector.reset(partitions=2)
    old, new = _customers_in(2)
    hub.ingest.ingest([_registration("r-old", old, "13900000001")])
    Projector(hub.event_log, read_models(), only={1}).catch_up()  # the old owner's partition has the number
    hub.erasure.forget(old, by="dpo-1", reason="customer asked", wait_s=0)
    hub.ingest.ingest([_registration("r-new", new, "13900000001")])
    # The new owner's partition (0) is applied before the old owner's partition applies the erasure.
    Projector(hub.event_log, read_models(), only={0}).catch_up()
    assert hub.customers.customer_id_for_msisdn("13900000001") == new
    Projector(hub.event_log, read_models(), only={1}).catch_up()
    assert hub.customers.customer_id_for_msisdn("13900000001") == new
    partitioned = _digests(hub)
    hub.projector.reset(partitions=1)
    hub.projector.catch_up()
    assert _digests(hub) == partitioned


def test_reads_wait_for_every_partition(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hub = _new_hub(backend, request, tmp_path_factory)
    hub.projector.reset(partitions=2)
    first, second = _customers_in(2)
    outcome = hub.ingest.ingest([_registration("r-1", first, "13900000001"), _registration("r-2", second, "13900000002")])
    Projector(hub.event_log, read_models(), only={0}).catch_up()
    assert hub.projector.caught_up_to() < outcome.position
    assert not hub.projector.wait_for(outcome.position, timeout=0.05)
    Projector(hub.event_log, read_models(), only={1}).catch_up()
    assert hub.projector.caught_up_to() == hub.event_log.head_position()
    assert hub.projector.wait_for(outcome.position, timeout=0.05)


def test_partitions_are_re_split_only_where_they_all_stand(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hub = _new_hub(backend, request, tmp_path_factory)
    first, second = _customers_in(2)
    hub.ingest.ingest([_registration("r-1", first, "13900000001")])
    hub.projector.catch_up()
    head = hub.event_log.head_position()
    # All lanes at one position: a projector asking for 3 partitions re-splits them there.
    three = Projector(hub.event_log, read_models(), partitions=3, only={0})
    assert three.partitions == 3
    assert three.lane_positions()["customer_view"] == {0: head, 1: head, 2: head}
    rows = hub.event_log.read_store.query(f"SELECT application_name FROM {three.tracking_table}")
    assert {r["application_name"] for r in rows} >= {lane_name("customer_view", i, 3) for i in range(3)}
    assert "customer_view" not in {r["application_name"] for r in rows}
    # Partition 0 moves ahead: asking for another number now is refused, saying what to do.
    hub.ingest.ingest([_registration("r-2", second, "13900000002")])
    three.catch_up()
    with pytest.raises(PartitioningMismatch, match="rebuild"):
        Projector(hub.event_log, read_models(), partitions=2)
    # A projector asking for nothing in particular follows what is stored, and can finish the job.
    follower = Projector(hub.event_log, read_models())
    assert follower.partitions == 3
    follower.catch_up()
    assert hub.projector.caught_up_to() == hub.event_log.head_position()
