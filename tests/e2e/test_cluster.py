"""Beyond one machine: ContactHub on a pg_auto_failover cluster (a monitor, a primary, two
synchronous standbys), with real processes and real failures.

The promise under test: with a multi-host `CONTACTHUB_DATABASE_URL`
(`target_session_attrs=read-write`) the same API process follows the primary through a
failover by itself; every event acknowledged before, during or after it is stored exactly
once; nothing is ever answered 500; the hash chains hold and the read models equal a rebuild.
The cluster is started once for the module (support/pgcluster.py) and healed after each test.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contacthub.adapters.store.chain import EventChain
from contacthub.bootstrap import build
from contacthub.config import Settings
from support.auth import new_key
from support.faults import (
    assert_read_models_equal_a_rebuild,
    assert_versions_without_gaps,
    hotline_calls,
    ledger,
    registrations,
    stored_event_ids,
    wait_for_read_models,
)
from support.pgcluster import ThrowawayCluster
from support.processes import ApiServer, ChannelClient
from support.reliability import record_outcome

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    with ThrowawayCluster(standbys=2) as started:
        yield started


@pytest.fixture
def healed(cluster: ThrowawayCluster) -> Iterator[ThrowawayCluster]:
    """The cluster, whole again after the test: every node back and in sync."""
    yield cluster
    for node in cluster.nodes:
        if node.process is None or node.process.poll() is not None:
            cluster.restart_node(node)
    cluster.wait_healthy(timeout=90)


def test_the_same_api_process_follows_the_primary_through_a_failover_losing_and_doubling_nothing(
    healed: ThrowawayCluster, tmp_path: Path
) -> None:
    cluster = healed
    rng = random.Random(17)
    run = "failover"
    customers = [f"F-{n}" for n in range(20)]
    url = cluster.create_database("failover")
    hub = build(Settings(database_url=url, sla_watch_interval_s=0))
    server = ApiServer(url, tmp_path)
    try:
        hotline = new_key(hub, "channel", channel="hotline")
        hub.ingest.ingest(registrations(run, customers))
        server.start()
        plans = {name: [hotline_calls(f"{run}-{name}", b, customers, rng.randint(1, 30), rng) for b in range(60)]
                 for name in ("crm", "ivr")}
        acknowledged: set[str] = set()
        answers: list[tuple[float, int, Any]] = []  # (when, status, body) of every answer
        failures: list[BaseException] = []

        def stream(name: str) -> None:
            client = ChannelClient(server.port, hotline, timeout=30)
            try:
                for batch in plans[name]:
                    while True:  # retried unchanged until acknowledged, as a channel does
                        reply = client.request("POST", "/v1/events", {"events": batch})
                        answers.append((time.monotonic(), reply.status, reply.body))
                        if 200 <= reply.status < 300:
                            acknowledged.update(r["event_id"] for r in reply.body["results"])
                            break
                        time.sleep(0.1)
                    time.sleep(0.05)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=stream, args=(name,)) for name in plans]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        old = cluster.primary()
        killed_at = time.monotonic()
        cluster.kill_node(old)
        new = cluster.wait_for_new_primary(old)
        promoted_s = time.monotonic() - killed_at
        for thread in threads:
            thread.join(timeout=180)
        assert not failures, failures
        assert not any(t.is_alive() for t in threads), "the channels were still not acknowledged"
        assert server.process is not None and server.process.poll() is None, "the API process died"

        refusals = [(when, status, body) for when, status, body in answers if not 200 <= status < 300]
        # While no primary was writable: 503 naming the database, never a 500, never silence.
        assert refusals, "no request met the failover: the test proved nothing"
        assert {status for _, status, _ in refusals} == {503}, refusals[:3]
        assert {item["field"] for _, _, body in refusals for item in body["errors"]} <= {"database", "events"}
        acknowledged_after = [when for when, status, _ in answers if 200 <= status < 300 and when > killed_at]
        assert acknowledged_after, "nothing was acknowledged after the failover"
        outage_s = min(acknowledged_after) - killed_at

        wait_for_read_models(hub, timeout=90)
        sent = {e["event_id"] for plan in plans.values() for batch in plan for e in batch}
        registered = {f"{run}-reg-{c}" for c in customers}
        stored = stored_event_ids(hub)
        record_outcome("7-primary-failover", nodes=len(cluster.nodes), old_primary=old.name, new_primary=new.name,
                       promoted_s=round(promoted_s, 1), outage_s=round(outage_s, 1),
                       refusals=dict(Counter(status for _, status, _ in refusals)),
                       **ledger(sent | registered, acknowledged | registered, stored))
        assert acknowledged == sent
        assert max(stored.values()) == 1, [k for k, n in stored.items() if n > 1][:5]
        assert set(stored) == sent | registered
        assert_versions_without_gaps(hub, customers)
        assert EventChain(hub.event_log.read_store).verify().findings == []
        assert_read_models_equal_a_rebuild(hub)
    finally:
        server.stop()
        hub.close()
