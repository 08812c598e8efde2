"""A separate client process for the HTTP benchmarks (run by bench/run.py).

`ingest`: posts contact batches to POST /v1/events over keep-alive connections from a few
threads and reports events/s. `read`: fetches 360-degree views of random customers one
after another and reports latency percentiles. `metrics`: each metrics endpoint in turn, latency
percentiles per endpoint.

API keys come in CONTACTHUB_BENCH_KEYS (JSON, made by run.py): `reader`, a clerk key (its
reads are recorded in the access log, as a clerk's are), and `channels`, one channel key per
channel. A channel key posts only its own channel's events, so the contacts are posted as
each channel would: in batches of that channel's events, in their order.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import contacts, customer_id  # noqa: E402


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def _keys() -> dict[str, Any]:
    raw = os.environ.get("CONTACTHUB_BENCH_KEYS")
    if not raw:
        raise SystemExit("CONTACTHUB_BENCH_KEYS is not set: run the benchmark through bench/run.py")
    return dict(orjson.loads(raw))


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def channel_batches(events: Iterable[dict[str, Any]], batch_size: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The events regrouped by channel, in batches of up to `batch_size` (each channel posts its own)."""
    pending: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        batch = pending.setdefault(event["channel"], [])
        batch.append(event)
        if len(batch) == batch_size:
            yield event["channel"], batch
            pending[event["channel"]] = []
    for channel, batch in pending.items():
        if batch:
            yield channel, batch


def ingest(port: int, events: int, customers: int, batch_size: int, threads: int, seed: int) -> dict[str, float]:
    channel_keys = _keys()["channels"]
    stream = (e for b in contacts("bench-http", events, customers, batch_size, seed) for e in b)
    bodies = [(orjson.dumps({"events": b}), _auth(channel_keys[ch])) for ch, b in channel_batches(stream, batch_size)]
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        conn = _connection(port)
        while True:
            with lock:
                if not bodies:
                    return
                body, auth = bodies.pop()
            conn.request("POST", "/v1/events", body, {"Content-Type": "application/json", **auth})
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                failures.append(f"{response.status}: {payload[:200]!r}")

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} batches failed, first: {failures[0]}")
    return {"events": events, "seconds": elapsed, "events_per_s": events / elapsed}


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50, p99 and max of request latencies (seconds), in milliseconds."""
    latencies = sorted(latencies)
    return {
        "requests": len(latencies),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


def _timed_get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    """One GET, read whole; its latency in seconds. Anything but 200 stops the benchmark."""
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    latency = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"GET {path} answered {response.status}")
    return latency


def read(port: int, requests: int, customers: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    conn = _connection(port)
    paths = [f"/v1/customers/{customer_id(rng.randrange(customers))}" for _ in range(requests)]
    auth = _auth(_keys()["reader"])
    return percentiles([_timed_get(conn, path, auth) for path in paths])


METRICS_PATHS = [
    "/v1/metrics/journeys?from=2026-09-01&to=2026-10-31",
    "/v1/metrics/contacts?from=2026-09-01&to=2026-10-31",
    "/v1/metrics/contacts?from=2026-09-01&to=2026-10-31&tier=gold&channel=hotline",
    "/v1/metrics/complaints?from=2026-09-01&to=2026-10-31",
    "/v1/metrics/channels?from=2026-09-01&to=2026-10-31",
    "/v1/metrics/value",
    "/v1/metrics/value?to=2026-10-15",
    "/v1/customers/at-risk?as_of=2026-10-31T00:00:00%2B08:00",
]


def metrics(port: int, requests: int) -> dict[str, dict[str, float]]:
    """Each metrics endpoint `requests` times in turn; latency percentiles per path."""
    conn = _connection(port)
    auth = _auth(_keys()["reader"])
    results = {}
    for path in METRICS_PATHS:
        results[path] = percentiles([_timed_get(conn, path, auth) for _ in range(requests)])
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["ingest", "read", "metrics"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.mode == "ingest":
        result = ingest(args.port, args.events, args.customers, args.batch_size, args.threads, args.seed)
    elif args.mode == "metrics":
        result = metrics(args.port, args.requests)  # type: ignore[assignment]
    else:
        result = read(args.port, args.requests, args.customers, args.seed)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
