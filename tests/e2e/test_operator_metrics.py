"""`GET /metrics`: the operators' view in Prometheus' text format (adapters/http/prometheus.py), on both backends."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, Role
from helpers import contact, registered
from support.auth import bearer, new_key


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    answer = client.get("/metrics")  # no key: scrapers call it
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def test_metrics_count_ingest_refusals_and_reads_and_report_each_read_models_position_and_lag(database_url: str) -> None:
    hub = build(Settings(database_url=database_url, sla_watch_interval_s=0, log_format="console"))
    try:
        boss, hotline = bearer(new_key(hub, Role.CHANNEL, channel=BOSS)), bearer(new_key(hub, Role.CHANNEL, channel="hotline"))
        clerk = bearer(new_key(hub, Role.CLERK))
        with TestClient(create_app(hub, run_projector=False)) as client:  # nobody applies the log: a lag to see
            assert client.post("/v1/events", json={"events": [registered("C1")]}, headers=boss).status_code == 200
            calls = [contact({"customer_id": "C1"}, event_id=f"m-{i}") for i in range(7)]
            assert client.post("/v1/events", json={"events": calls}, headers=hotline).status_code == 200
            assert client.post("/v1/events", json={"events": calls[:3]}, headers=hotline).status_code == 200  # a retry
            assert client.post("/v1/events", json={"events": calls}).status_code == 401  # no key
            time.sleep(0.05)
            head = hub.event_log.head_position()
            before = scrape(client)

            assert before[("contacthub_ingest_events_total", (("result", "recorded"), ("source", "hotline")))] == 7
            assert before[("contacthub_ingest_events_total", (("result", "duplicate"), ("source", "hotline")))] == 3
            assert before[("contacthub_ingest_events_total", (("result", "recorded"), ("source", "boss")))] == 1
            assert before[("contacthub_ingest_batch_seconds_count", ())] == 3  # the 401 never reached the route
            assert before[("contacthub_http_refusals_total", (("status", "401"),))] == 1
            assert before[("contacthub_database_up", ())] == 1
            assert before[("contacthub_log_position", ())] == head == 8
            for name in ("customer_view", "complaint_view.v2", "metrics_view", "journey_view.v2"):
                labels = (("read_model", name),)
                assert before[("contacthub_read_model_position", labels)] == 0
                assert before[("contacthub_read_model_lag_events", labels)] == head
                assert 0 < before[("contacthub_read_model_lag_seconds", labels)] < 60

            hub.projector.catch_up()
            assert client.get("/v1/customers/C1", headers=clerk).status_code == 200  # recorded in the access log
            after = scrape(client)
            for name in ("customer_view", "complaint_view.v2", "metrics_view", "journey_view.v2"):
                labels = (("read_model", name),)
                assert after[("contacthub_read_model_position", labels)] == head
                assert after[("contacthub_read_model_lag_events", labels)] == 0
                assert after[("contacthub_read_model_lag_seconds", labels)] == 0
            assert after[("contacthub_access_log_entries_total", ())] == 1
            assert ("contacthub_standby_lag_events", ()) not in after  # no standby configured
    finally:
        hub.close()


def test_watcher_passes_are_counted_where_the_watchers_run(database_url: str) -> None:
    hub = build(Settings(database_url=database_url, sla_watch_interval_s=0.05, log_format="console"))
    try:
        with TestClient(create_app(hub)) as client:
            deadline = time.monotonic() + 10
            while True:
                samples = scrape(client)
                passes = {watcher: samples.get(("contacthub_watcher_passes_total", (("outcome", "ok"), ("watcher", watcher))), 0)
                          for watcher in (hub.sla_watcher.name, hub.jeopardy_watcher.name, hub.risk_watcher.name)}
                if min(passes.values()) >= 2:
                    break
                assert time.monotonic() < deadline, passes
                time.sleep(0.05)
    finally:
        hub.close()
