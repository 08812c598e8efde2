"""Back-pressure and fair use (issue 16, F6): a rate per key, a bound on the read models' lag, waits that hold
no thread, watchers that catch up rather than skip forever, and readiness that reports the lag.

The probe: one hotline key posting 1,000-event batches for 30 s stored 92,000 events; the read models fell
35,000 behind; the SLA and jeopardy watchers skipped every pass; 60 `min_position` readers used up the
worker threads, so unrelated reads took 3-7 s; `/health` answered 200 throughout.
"""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, Role
from helpers import complaint_opened, contact, registered
from support.auth import bearer, new_key
from support.clock import ManualClock
from support.processes import ApiServer


def contacts(n: int, prefix: str) -> list[dict[str, object]]:
    return [contact({"customer_id": "C1"}, event_id=f"{prefix}-{i}") for i in range(n)]


def test_a_key_past_its_rate_is_answered_429_and_others_are_not_held_up(database_url: str) -> None:
    settings = Settings(database_url=database_url, sla_watch_interval_s=0, log_format="console",
                        ingest_events_per_s=50, ingest_burst_events=100)
    hub = build(settings)
    try:
        boss, hotline = bearer(new_key(hub, Role.CHANNEL, channel=BOSS)), bearer(new_key(hub, Role.CHANNEL, channel="hotline"))
        with TestClient(create_app(hub)) as client:
            assert client.post("/v1/events", json={"events": [registered("C1")]}, headers=boss).status_code == 200
            assert client.post("/v1/events", json={"events": contacts(99, "a")}, headers=hotline).status_code == 200
            head = hub.event_log.head_position()
            refused = client.post("/v1/events", json={"events": contacts(50, "b")}, headers=hotline)
            assert refused.status_code == 429, refused.text
            assert refused.json()["errors"][0]["field"] == "events" and int(refused.headers["retry-after"]) >= 1
            assert hub.event_log.head_position() == head  # nothing stored
            # another key has its own bucket
            assert client.post("/v1/events", json={"events": [registered("C2", ("13900139000",))]},
                               headers=boss).status_code == 200
            time.sleep(1.1)  # 55 events' worth come back
            assert client.post("/v1/events", json={"events": contacts(50, "b")}, headers=hotline).status_code == 200
    finally:
        hub.close()


def test_ingest_waits_while_the_read_models_lag_past_the_bound_and_ready_says_so(database_url: str) -> None:
    settings = Settings(database_url=database_url, sla_watch_interval_s=0, log_format="console", max_lag_events=20)
    hub = build(settings)
    try:
        boss, hotline = bearer(new_key(hub, Role.CHANNEL, channel=BOSS)), bearer(new_key(hub, Role.CHANNEL, channel="hotline"))
        with TestClient(create_app(hub, run_projector=False)) as client:  # nobody applies the log
            assert client.get("/ready").json()["status"] == "ready"
            assert client.post("/v1/events", json={"events": [registered("C1")]}, headers=boss).status_code == 200
            assert client.post("/v1/events", json={"events": contacts(30, "a")}, headers=hotline).status_code == 200
            time.sleep(0.3)  # the lag is looked up at most every 0.25 s
            head = hub.event_log.head_position()
            refused = client.post("/v1/events", json={"events": contacts(1, "b")}, headers=hotline)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
            assert "behind" in refused.json()["errors"][0]["message"] and hub.event_log.head_position() == head
            ready = client.get("/ready")
            assert ready.status_code == 503 and ready.json() == {
                "status": "lagging", "log_position": head, "read_models_position": 0, "lag": head, "max_lag": 20}

            hub.projector.catch_up()
            time.sleep(0.3)
            assert client.get("/ready").json()["status"] == "ready"
            assert client.post("/v1/events", json={"events": contacts(1, "b")}, headers=hotline).status_code == 200
    finally:
        hub.close()


def test_readers_waiting_for_min_position_hold_no_thread_and_time_out_as_documented(
    hub: ContactHub, database_url: str, tmp_path: Path
) -> None:
    boss, clerk = new_key(hub, Role.CHANNEL, channel=BOSS), new_key(hub, Role.CLERK, "store-0571-03")
    server = ApiServer(database_url, tmp_path, projector=False, env={"CONTACTHUB_READ_WAIT_TIMEOUT_S": "3"})
    server.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("POST", "/v1/events", body=json.dumps({"events": [registered("C1")]}),
                           headers={"Authorization": f"Bearer {boss}", "Content-Type": "application/json"})
        position = json.loads(connection.getresponse().read())["position"]

        def get(path: str) -> tuple[int, float]:
            started = time.monotonic()
            link = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            link.request("GET", path, headers={"Authorization": f"Bearer {clerk}"})
            status = link.getresponse().status
            return status, time.monotonic() - started

        with ThreadPoolExecutor(max_workers=70) as pool:
            waiting = [pool.submit(get, f"/v1/customers/C1?min_position={position}") for _ in range(60)]
            time.sleep(0.5)  # all 60 are waiting now
            unrelated = [get("/v1/status")[1] for _ in range(5)]
            outcomes = [w.result() for w in waiting]
        assert max(unrelated) < 1.0, unrelated  # before: 3-7 s, the thread pool held by the waiters
        assert {status for status, _ in outcomes} == {503}
        assert all(2.9 <= took < 5.0 for _, took in outcomes), sorted(took for _, took in outcomes)
    finally:
        server.stop()


def test_a_watcher_skips_at_most_three_passes_while_the_read_models_lag_then_runs(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    clocked_hub.ingest.ingest([registered("C1", tier="gold"), complaint_opened("K1", {"customer_id": "C1"}, severity="high",
                                                                            occurred_at=clock().isoformat())])
    clocked_hub.projector.catch_up()
    clock.advance(hours=9)  # past the 8-hour deadline
    watcher = clocked_hub.sla_watcher
    watcher.read_models_current = lambda: False  # a flood: never current
    assert [watcher.run_once().breaches for _ in range(4)] == [0, 0, 0, 2]  # its first response and its resolution
    assert [watcher.run_once().breaches for _ in range(2)] == [0, 0]  # skipping again, nothing due meanwhile
