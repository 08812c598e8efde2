"""The operators' view: Prometheus metrics at `GET /metrics` (prometheus-client, text format).

Counted as they happen, in this server process:
- `contacthub_ingest_events_total{source,result}`: events answered by `POST /v1/events`,
  `recorded` or `duplicate`, by the posting key's channel (or its role for staff keys);
- `contacthub_ingest_batch_seconds`: how long the `POST /v1/events` route took (read, check, store;
  refused batches too), before the answer is sent;
- `contacthub_http_refusals_total{status}`: answers with a 4xx or 5xx status, every route;
- `contacthub_watcher_passes_total{watcher,outcome}`: the SLA, jeopardy and risk watchers'
  passes in this process (`ok` / `failed`);
- `contacthub_access_log_entries_total`: access-log entries committed by this process.

Read from the database when scraped (the same from every process of one database):
- `contacthub_log_position`: the log's head;
- `contacthub_read_model_position{read_model}`, `contacthub_read_model_lag_events{read_model}`,
  `contacthub_read_model_lag_seconds{read_model}` (how long the oldest event a read model has not
  applied has been in the log; 0 when caught up);
- with a standby for reads: `contacthub_reads_on_standby` (0 while the read URL reaches only the
  primary), `contacthub_standby_read_models_position` and `contacthub_standby_lag_events` (the
  standby's copy of the read models behind the primary's);
- per webhook subscription: `contacthub_webhook_lag_events{subscription,api}` (log positions still
  to look at), `contacthub_webhook_failures{subscription,api}` (failed attempts in a row) and
  `contacthub_webhook_delivered{subscription,api}` (requests answered 2xx);
- on PostgreSQL: `contacthub_replica_replay_lag_seconds{standby}` per standby the primary streams
  to (`pg_stat_replication.replay_lag`; shown only to a role allowed to see it, e.g. pg_monitor).

A scrape that cannot reach the database still answers, with the counters and
`contacthub_database_up 0`. Counters are per process: with `serve --workers N` each worker
counts its own requests (its answers carry `X-ContactHub-Worker`), and the watchers run in the
parent, which serves no `/metrics`: their passes are counted only by a one-process `serve`.
Refusals include the 500s and the database's 503s, counted where the error handler answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import Principal, Role

log = structlog.get_logger(__name__)

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class OperatorMetrics:
    """One server process's metrics, in their own registry (several apps may live in one process: the tests)."""

    def __init__(self, hub: ContactHub) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.ingested = Counter("contacthub_ingest_events", "Events answered by POST /v1/events, by source and result",
                                ["source", "result"], registry=self.registry)
        self.batch_seconds = Histogram("contacthub_ingest_batch_seconds", "Time to answer POST /v1/events",
                                       buckets=BATCH_BUCKETS, registry=self.registry)
        self.refusals = Counter("contacthub_http_refusals", "Answers with a 4xx or 5xx status", ["status"],
                                registry=self.registry)
        self.watcher_passes = Counter("contacthub_watcher_passes", "Watcher passes run in this process",
                                      ["watcher", "outcome"], registry=self.registry)
        self.access_log_entries = Counter("contacthub_access_log_entries", "Access-log entries committed",
                                          registry=self.registry)
        self.registry.register(_Positions(hub))

    def count_batch(self, principal: Principal, statuses: list[str]) -> None:
        source = principal.channel if principal.role is Role.CHANNEL and principal.channel else principal.role.value
        for result in ("recorded", "duplicate"):
            n = statuses.count(result)
            if n:
                self.ingested.labels(source, result).inc(n)

    def watcher_pass(self, watcher: str, ok: bool) -> None:
        self.watcher_passes.labels(watcher, "ok" if ok else "failed").inc()


class _Positions(Collector):
    """The positions and lags, read from the database at each scrape."""

    def __init__(self, hub: ContactHub) -> None:
        self.hub = hub

    def describe(self) -> list[Any]:
        return []  # collected fresh at each scrape; nothing to describe ahead

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("contacthub_database_up", "1 when the database answered this scrape")
        try:
            families = list(self._read())
        except Exception as exc:  # a scrape must answer whatever the database does
            log.warning("metrics_database_unreachable", error=str(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> Iterator[GaugeMetricFamily]:
        hub = self.hub
        positions = hub.projector.positions()  # first: a head read after it is never behind it
        head = hub.event_log.head_position()
        yield _gauge("contacthub_log_position", "The event log's head position", head)
        position = GaugeMetricFamily("contacthub_read_model_position", "Position each read model has applied",
                                     labels=["read_model"])
        lag = GaugeMetricFamily("contacthub_read_model_lag_events", "Events each read model is behind the log",
                                labels=["read_model"])
        lag_s = GaugeMetricFamily("contacthub_read_model_lag_seconds",
                                  "How long the oldest event a read model has not applied has been in the log",
                                  labels=["read_model"])
        ages: dict[int, float] = {}
        for name, at in sorted(positions.items()):
            position.add_metric([name], at)
            lag.add_metric([name], max(0, head - at))
            if at < head and at not in ages:
                ages[at] = self._age_of_next(at)
            lag_s.add_metric([name], ages.get(at, 0.0) if at < head else 0.0)
        yield from (position, lag, lag_s)
        reads = hub.reads
        if reads.standby is not None:
            try:
                standby = reads.standby_position()
            except Exception as exc:
                log.warning("metrics_standby_unreachable", error=str(exc))
                standby = None
            yield _gauge("contacthub_reads_on_standby",
                         "1 when the read URL reaches a standby; 0 when reads are served by the primary", standby is not None)
            if standby is not None:
                applied = min(positions.values(), default=0)
                yield _gauge("contacthub_standby_read_models_position",
                             "Position the standby's copy of the read models has reached", standby)
                yield _gauge("contacthub_standby_lag_events",
                             "Events the standby's read models are behind the primary's", max(0, applied - standby))
        yield from self._subscriptions(head)
        if hub.event_log.dialect == "postgresql":
            yield self._replicas()

    def _subscriptions(self, head: int) -> Iterator[GaugeMetricFamily]:
        labels = ["subscription", "api"]
        lag = GaugeMetricFamily("contacthub_webhook_lag_events",
                                "Log positions a webhook subscription has still to look at", labels=labels)
        failures = GaugeMetricFamily("contacthub_webhook_failures",
                                     "Failed delivery attempts in a row (0 after a success)", labels=labels)
        delivered = GaugeMetricFamily("contacthub_webhook_delivered",
                                      "Webhook requests a subscription's callback answered 2xx", labels=labels)
        for subscription in self.hub.subscriptions.active():
            key = [subscription.subscription_id, subscription.api]
            lag.add_metric(key, max(0, head - subscription.position))
            failures.add_metric(key, subscription.failures)
            delivered.add_metric(key, subscription.delivered)
        yield from (lag, failures, delivered)

    def _age_of_next(self, after: int) -> float:
        notifications = self.hub.event_log.read_notifications(after, 1)
        if not notifications:
            return 0.0
        event = self.hub.event_log.decode(notifications)[0]
        stored: datetime = event.timestamp
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=timezone.utc)
        return max(0.0, time.time() - stored.timestamp())

    def _replicas(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("contacthub_replica_replay_lag_seconds",
                                   "Replay lag of each standby the primary streams to", labels=["standby"])
        rows = self.hub.event_log.read_store.query(
            "SELECT application_name, EXTRACT(EPOCH FROM replay_lag) AS lag FROM pg_stat_replication")
        for row in rows:
            family.add_metric([str(row["application_name"])], float(row["lag"] or 0.0))
        return family


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


class CountRefusals:
    """ASGI middleware: every answer with a 4xx or 5xx status, by status."""

    def __init__(self, app: ASGIApp, metrics: OperatorMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                self.metrics.refusals.labels(str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting)
