"""ContactHub load test: a mix of ingest and 360-degree reads at 70% of measured capacity.

    .venv/bin/python bench/load.py                                  # SQLite, 5 minutes
    .venv/bin/python bench/load.py --backend postgresql --minutes 5
    .venv/bin/python bench/load.py --backend sqlite --minutes 1 --customers 5000 --contacts 50000   # a quick try

Not part of CI. One command, one backend per run:

1. A fresh database (SQLite in a temp dir, or a throwaway PostgreSQL server with fsync on,
   as bench/run.py starts it), seeded in-process through the real ingest path with the
   benchmark's population (bench/workload.py: customers, contacts, then tier changes,
   orders with activations and complaints), and the read models caught up.
2. The real server as its own process (`contacthub serve`: embedded projector, SLA and
   jeopardy watchers at their default interval, JSON logs at info into a file), with real
   API keys: one per channel and one for BOSS to post, a clerk's to read.
3. Capacity: a closed loop (--capacity-concurrency (32) clients, each sending its next
   request as soon as the previous one is answered) for --capacity-warmup + --capacity-seconds
   (10 + 45 s); capacity is the requests/s answered in the last --capacity-seconds, for the
   mix below. Then a pause until the read models have caught up again.
4. Load: an open loop at --load-share (70%) of that capacity for --warmup (30 s) + --minutes (5):
   arrivals at a constant rate (--arrivals poisson: exponential gaps) whatever the server
   does, each request's latency measured from its *scheduled* send time, so a server that
   falls behind shows it as latency (no coordinated omission). Statistics are over the
   steady part (after --warmup); errors are counted over the whole load phase.
5. The server's RSS (VmRSS of its process and any children, from /proc) every
   --sample-interval (2) seconds; growth = RSS at the end of the load phase against RSS at
   the end of its warm-up (also: peak, and the least-squares trend in MiB/min). Beside it,
   CPU used by the server, PostgreSQL, this client and the whole machine (other work on
   the machine shows there), the read models' lag, and the latency every 10 s (in the JSON).
6. Afterwards, with the server stopped: every event_id the server acknowledged is looked up
   in the log (stored events and ingest keys): acknowledged / stored / lost / doubled, and
   whether each is at the position the server returned.

The mix, by request count (--mix, weights; default ingest:26,register:1,read:53,msisdn:20):
`ingest` (a channel's key posts a batch of --batch-size (20) new events of that channel:
contacts, --complaint-share (2%) complaints opened, for known customers, a third named by
msisdn, stamped within the last ten minutes), `register` (BOSS's key registers
--register-batch-size (5) new customers, who from their acknowledgement on get contacts and
reads too), `read` (GET /v1/customers/{id}, a clerk's key: each read is also written to the
access log), `msisdn` (GET /v1/customers?msisdn=). Every event_id is new. Reads of a
customer registered during the run carry `min_position` (the registration's position), as
a channel reading its own write would.

Prints a table; writes JSON to bench/results/<date>-load-<backend>.json. Exit code 1 when
the load phase had an error (non-2xx or transport), RSS grew 10% or more, or an
acknowledged event is lost, doubled or misplaced.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import platform
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.domain.roles import ID_SCOPE_SEPARATOR  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from run import PG_SETTINGS, ThrowawayPostgres, bench_keys, free_port, log, serve  # noqa: E402
from workload import customer_id, ingest_population, msisdn  # noqa: E402

HERE = Path(__file__).resolve().parent
OPERATIONS = ("ingest", "register", "read", "msisdn")
SHANGHAI = timezone(timedelta(hours=8))
CHANNELS = ["hotline"] * 4 + ["store", "app", "web", "sms", "technician", "email", "kiosk"]
REASONS = ["billing_query", "network_fault", "plan_change", "activation_status", "broadband_slow", "complaint_follow_up"]
OUTCOMES = ["resolved"] * 3 + ["unresolved", "transferred"]
CATEGORIES = ["billing", "network", "service", "installation"]
SEVERITIES = ["low", "medium", "medium", "high", "critical"]
TIERS = ["diamond", "gold", "silver", "vip", "ordinary"]
RSS_GROWTH_LIMIT_PCT = 10.0
DEFAULT_MIX = "ingest:26,register:1,read:53,msisdn:20"


# --- a small HTTP/1.1 client on asyncio streams ----------------------------------------
# Keep-alive connections, Content-Length or chunked bodies: all the server sends. Lighter
# than a general client, which matters with the server on the same two cores.


class TransportError(Exception):
    """No HTTP answer: refused, reset, closed, or timed out."""


class StaleConnection(Exception):
    """A kept-alive connection the server had closed before this request: nothing was answered."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: bytes) -> None:
        self.reader, self.writer, self.host = reader, writer, host
        self.used = 0
        self.idle_since = time.monotonic()

    async def request(self, method: bytes, path: str, headers: bytes, body: bytes = b"") -> tuple[int, bytes, bool]:
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n" % (
            method, path.encode(), self.host, headers, len(body))
        reused = self.used > 0
        self.used += 1
        try:
            self.writer.write(head + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
        except ConnectionError:
            if reused:
                raise StaleConnection() from None
            raise
        if not status_line:
            if reused:
                raise StaleConnection()
            raise ConnectionResetError("the server closed the connection without answering")
        status = int(status_line.split(None, 2)[1])
        length, chunked, keep = None, False, True
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                keep = False
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            payload = b"".join(parts)
        elif length is not None:
            payload = await self.reader.readexactly(length)
        else:
            payload, keep = await self.reader.read(), False
        return status, payload, keep

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Keep-alive connections, opened as needed up to `limit` (then a request waits its turn).

    uvicorn closes a connection idle for 5 s: one idle for `max_idle` is dropped rather than
    reused, and a request on a reused connection the server had already closed (no byte of
    an answer) is sent again once on a new one, as HTTP clients do; counted in `stale_retries`."""

    def __init__(self, port: int, limit: int, timeout: float, max_idle: float = 4.0) -> None:
        self.port, self.timeout, self.max_idle = port, timeout, max_idle
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(limit)
        self.opened = 0
        self.stale_retries = 0
        self.peak_in_use = 0
        self.in_use = 0

    async def _connection(self) -> Connection:
        while self.idle:
            conn = self.idle.pop()
            if time.monotonic() - conn.idle_since < self.max_idle:
                return conn
            conn.close()
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), self.timeout)
        self.opened += 1
        return Connection(reader, writer, b"127.0.0.1:%d" % self.port)

    async def request(self, method: bytes, path: str, headers: bytes, body: bytes = b"") -> tuple[float, int, bytes]:
        """(moment sent, status, body); TransportError when there is no answer."""
        async with self.slots:
            self.in_use += 1
            self.peak_in_use = max(self.peak_in_use, self.in_use)
            conn = None
            try:
                for attempt in (1, 2):
                    conn = await self._connection()
                    sent = time.monotonic()
                    try:
                        status, payload, keep = await asyncio.wait_for(
                            conn.request(method, path, headers, body), self.timeout)
                        break
                    except StaleConnection:
                        conn.close()
                        if attempt == 2:
                            raise ConnectionResetError("the server closed the connection without answering") from None
                        self.stale_retries += 1
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as exc:
                if conn is not None:
                    conn.close()
                kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                raise TransportError(kind) from exc
            finally:
                self.in_use -= 1
            if keep:
                conn.idle_since = time.monotonic()
                self.idle.append(conn)
            else:
                conn.close()
            return sent, status, payload

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# --- the workload ------------------------------------------------------------------------


@dataclass
class Population:
    """Who the requests name: the seeded customers, plus those registered (and acknowledged) during the run."""

    seeded: int
    new: list[tuple[str, str, int]] = field(default_factory=list)  # (customer_id, msisdn, registration position)
    next_event: int = 0
    next_customer: int = 0
    next_complaint: int = 0

    def event_id(self) -> str:
        self.next_event += 1
        return f"load-{self.next_event}"

    def pick(self, rng: random.Random) -> tuple[str, str, int | None]:
        """A known customer: (id, msisdn, the position to wait for when reading, or None)."""
        i = rng.randrange(self.seeded + len(self.new))
        if i < self.seeded:
            return customer_id(i), msisdn(i), None
        return self.new[i - self.seeded]


def now_text(rng: random.Random) -> str:
    """A moment in the last ten minutes, Shanghai time, as a channel would stamp it."""
    moment = datetime.now(SHANGHAI) - timedelta(seconds=rng.uniform(0, 600))
    return moment.isoformat(timespec="seconds")


def ingest_batch(pop: Population, rng: random.Random, size: int, complaint_share: float) -> tuple[str, list[dict[str, Any]]]:
    channel = rng.choice(CHANNELS)
    events = []
    for _ in range(size):
        cid, number, _ = pop.pick(rng)
        who = {"msisdn": number} if rng.random() < 1 / 3 else {"customer_id": cid}
        handler = f"{channel}-agent-{rng.randrange(500)}"
        if rng.random() < complaint_share:
            pop.next_complaint += 1
            events.append({
                "event_id": pop.event_id(), "type": "complaint.opened", "occurred_at": now_text(rng), **who,
                "complaint_id": f"LK{pop.next_complaint:07d}", "category": rng.choice(CATEGORIES),
                "severity": rng.choice(SEVERITIES), "summary": "负载测试投诉：宽带时断时续", "channel": channel,
                "handled_by": handler,
            })
        else:
            events.append({
                "event_id": pop.event_id(), "type": "contact.logged", "occurred_at": now_text(rng), **who,
                "channel": channel, "direction": "inbound" if rng.random() < 0.8 else "outbound",
                "reason": rng.choice(REASONS), "handled_by": handler, "duration_s": rng.randrange(20, 900),
                "outcome": rng.choice(OUTCOMES),
            })
    return channel, events


def register_batch(pop: Population, rng: random.Random, size: int) -> list[dict[str, Any]]:
    events = []
    for _ in range(size):
        n = pop.next_customer
        pop.next_customer += 1
        events.append({
            "event_id": pop.event_id(), "type": "customer.registered", "occurred_at": now_text(rng),
            "customer_id": f"L{n:07d}", "name": "负载测试客户", "segment": "individual", "tier": rng.choice(TIERS),
            "msisdns": [f"137{n:08d}"],
        })
    return events


@dataclass
class Outcome:
    op: str
    phase: str
    scheduled: float
    sent: float
    done: float
    status: int | str  # HTTP status, or the transport error's kind
    events: int = 0  # events newly recorded by an ingest


class Load:
    """Builds each request, sends it, records the outcome and what the server acknowledged."""

    def __init__(self, pool: Pool, keys: dict[str, Any], pop: Population, args: argparse.Namespace) -> None:
        self.pool, self.pop, self.args = pool, pop, args
        self.rng = random.Random(args.seed)
        ops, weights = zip(*args.mix.items(), strict=True)
        self.ops = list(ops)
        self.cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
        self.reader = b"Authorization: Bearer %s\r\n" % keys["reader"].encode()
        self.posters = {ch: b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n" % k.encode()
                        for ch, k in keys["channels"].items()}
        self.boss = b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n" % keys["boss"].encode()
        self.outcomes: list[Outcome] = []
        self.acknowledged: dict[str, int] = {}  # event_id -> position the server answered
        self.duplicates = 0
        self.error_samples: dict[str, list[str]] = defaultdict(list)
        self.in_flight: set[asyncio.Task[None]] = set()

    def next_op(self) -> str:
        return self.ops[bisect.bisect_right(self.cumulative, self.rng.random() * self.cumulative[-1])]

    async def send(self, op: str, phase: str, scheduled: float) -> None:
        try:
            await self._send(op, phase, scheduled)
        except Exception as exc:  # a bug here must show, not vanish inside a task
            self.outcomes.append(Outcome(op, phase, scheduled, scheduled, time.monotonic(), "client-bug"))
            self._sample(op, "client-bug", repr(exc))

    async def _send(self, op: str, phase: str, scheduled: float) -> None:
        args, rng, pop = self.args, self.rng, self.pop
        if op == "ingest":
            channel, events = ingest_batch(pop, rng, args.batch_size, args.complaint_share)
            method, path, headers, body = b"POST", "/v1/events", self.posters[channel], orjson.dumps({"events": events})
        elif op == "register":
            events = register_batch(pop, rng, args.register_batch_size)
            method, path, headers, body = b"POST", "/v1/events", self.boss, orjson.dumps({"events": events})
        else:
            cid, number, wait_for = pop.pick(rng)
            path = f"/v1/customers/{cid}" if op == "read" else f"/v1/customers?msisdn={number}"
            if wait_for is not None:
                path += ("&" if "?" in path else "?") + f"min_position={wait_for}"
            method, headers, body = b"GET", self.reader, b""
        try:
            sent, status, payload = await self.pool.request(method, path, headers, body)
        except TransportError as exc:
            self.outcomes.append(Outcome(op, phase, scheduled, scheduled, time.monotonic(), str(exc)))
            self._sample(op, str(exc), f"{method.decode()} {path}: {exc.__cause__!r}")
            return
        done = time.monotonic()
        recorded = 0
        if 200 <= status < 300 and method == b"POST":
            answer = orjson.loads(payload)
            for r in answer["results"]:
                self.acknowledged[r["event_id"]] = r["position"]
                if r["status"] == "recorded":
                    recorded += 1
                else:
                    self.duplicates += 1
            if op == "register":
                positions = {r["event_id"]: r["position"] for r in answer["results"]}
                pop.new += [(e["customer_id"], e["msisdns"][0], positions[e["event_id"]]) for e in events]
        elif not 200 <= status < 300:
            self._sample(op, str(status), f"{method.decode()} {path}: {payload[:500].decode(errors='replace')}")
        self.outcomes.append(Outcome(op, phase, scheduled, sent, done, status, recorded))

    def _sample(self, op: str, status: str, text: str) -> None:
        samples = self.error_samples[f"{op} {status}"]
        if len(samples) < 5:
            samples.append(text)

    async def closed_loop(self, concurrency: int, seconds: float, phase: str) -> None:
        """`concurrency` clients, each sending its next request as soon as the last is answered."""
        end = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < end:
                await self.send(self.next_op(), phase, time.monotonic())

        await asyncio.gather(*(client() for _ in range(concurrency)))

    async def open_loop(self, start: float, rate: float, seconds: float, phase: str, poisson: bool) -> dict[str, float]:
        """Arrivals at `rate`/s from `start` for `seconds`, on schedule whatever the answers; then wait for the last answers.

        Returns how late the client itself issued requests against the schedule (a busy
        client would show here, not as server latency alone)."""
        lateness: list[float] = []
        t = start
        arrivals = random.Random(self.args.seed + 1)
        while t < start + seconds:
            delay = t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            lateness.append(time.monotonic() - t)
            task = asyncio.create_task(self.send(self.next_op(), phase, t))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
            t += arrivals.expovariate(rate) if poisson else 1 / rate
        if self.in_flight:
            await asyncio.wait(set(self.in_flight))
        lateness.sort()
        return {"issue_lateness_p50_ms": lateness[len(lateness) // 2] * 1000,
                "issue_lateness_p99_ms": lateness[int(len(lateness) * 0.99)] * 1000,
                "issue_lateness_max_ms": lateness[-1] * 1000}


# --- the server's memory and CPU, and its read models' lag ----------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and every descendant (the server does not fork today; if it ever does, its children count)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
            children[ppid].append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def memory_and_cpu(root: int, field_name: bytes = b"VmRSS:") -> tuple[int, float]:
    """(the tree's `field_name` in KiB, its CPU seconds so far)."""
    kib, ticks = 0, 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(field_name):
                        kib += int(line.split()[1])
            with open(f"/proc/{pid}/stat", "rb") as f:
                parts = f.read().rsplit(b")", 1)[1].split()
            ticks += int(parts[11]) + int(parts[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return kib, ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat", "rb") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already in user


@dataclass
class Monitor:
    """Samples the server's RSS and CPU, the database server's private memory, and the read models' lag."""

    server_pid: int
    pool: Pool
    reader: bytes
    interval: float
    database_pid: int | None = None
    phase: str = "start"
    samples: list[dict[str, Any]] = field(default_factory=list)

    def sample(self, lag: int | None) -> dict[str, Any]:
        rss, cpu = memory_and_cpu(self.server_pid)
        me = resource.getrusage(resource.RUSAGE_SELF)
        row: dict[str, Any] = {"t": time.monotonic(), "phase": self.phase, "rss_kib": rss, "cpu_s": cpu, "lag": lag,
                               "client_cpu_s": me.ru_utime + me.ru_stime, "machine_busy_s": machine_busy_seconds()}
        if self.database_pid:
            row["database_rss_anon_kib"], row["database_cpu_s"] = memory_and_cpu(self.database_pid, b"RssAnon:")
        self.samples.append(row)
        return row

    async def status(self) -> dict[str, Any] | None:
        try:
            _, status, payload = await self.pool.request(b"GET", "/v1/status", self.reader)
        except TransportError:
            return None
        return dict(orjson.loads(payload)) if status == 200 else None

    async def run(self) -> None:
        while True:
            status = await self.status()
            self.sample(status["lag"] if status else None)
            await asyncio.sleep(self.interval)

    async def wait_caught_up(self, limit_s: float, settle_s: float = 0.0) -> float:
        """Wait until the read models have applied the whole log (at least `settle_s`); seconds waited."""
        started = time.monotonic()
        while True:
            status = await self.status()
            waited = time.monotonic() - started
            if status is not None and status["lag"] == 0 and waited >= settle_s:
                return waited
            if waited > limit_s:
                log(f"read models still {status['lag'] if status else '?'} events behind after {limit_s:.0f} s")
                return waited
            await asyncio.sleep(0.5)


# --- statistics --------------------------------------------------------------------------


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, int(len(sorted_values) * q + 0.5) - 1))]


def op_stats(outcomes: list[Outcome], seconds: float, from_schedule: bool) -> dict[str, Any]:
    latencies = sorted((o.done - (o.scheduled if from_schedule else o.sent)) * 1000 for o in outcomes)
    service = sorted((o.done - o.sent) * 1000 for o in outcomes if isinstance(o.status, int))
    errors = Counter(str(o.status) for o in outcomes if not (isinstance(o.status, int) and 200 <= o.status < 300))
    return {
        "requests": len(outcomes),
        "per_s": round(len(outcomes) / seconds, 2) if seconds else 0,
        "errors": sum(errors.values()),
        "errors_by_status": dict(errors),
        "p50_ms": round(quantile(latencies, 0.50), 2),
        "p99_ms": round(quantile(latencies, 0.99), 2),
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "service_p50_ms": round(quantile(service, 0.50), 2),
        "service_p99_ms": round(quantile(service, 0.99), 2),
        "events_recorded": sum(o.events for o in outcomes),
    }


def phase_stats(outcomes: list[Outcome], t0: float, t1: float, from_schedule: bool,
                seconds: float | None = None) -> dict[str, Any]:
    """Per operation and in all, for requests scheduled in [t0, t1); rates per `seconds` (default t1 - t0)."""
    chosen = [o for o in outcomes if t0 <= o.scheduled < t1]
    seconds = seconds or t1 - t0
    result = {"seconds": round(seconds, 1), "all": op_stats(chosen, seconds, from_schedule)}
    for op in OPERATIONS:
        mine = [o for o in chosen if o.op == op]
        if mine:
            result[op] = op_stats(mine, seconds, from_schedule)
    result["events_per_s"] = round(result["all"]["events_recorded"] / seconds, 1) if seconds else 0
    return result


def time_series(outcomes: list[Outcome], start: float, bucket_s: float = 10.0) -> list[dict[str, Any]]:
    """Requests by `bucket_s` of scheduled time: count, errors, latency from schedule (to see spikes and trends)."""
    buckets: dict[int, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        buckets[int((o.scheduled - start) // bucket_s)].append(o)
    series = []
    for i in sorted(buckets):
        lat = sorted((o.done - o.scheduled) * 1000 for o in buckets[i])
        series.append({"t_s": i * bucket_s, "requests": len(lat),
                       "errors": sum(1 for o in buckets[i] if not (isinstance(o.status, int) and o.status < 300)),
                       "p50_ms": round(quantile(lat, 0.5), 1), "p99_ms": round(quantile(lat, 0.99), 1),
                       "max_ms": round(lat[-1], 1)})
    return series


def memory_stats(samples: list[dict[str, Any]], steady_from: float, steady_to: float) -> dict[str, Any]:
    steady = [s for s in samples if steady_from <= s["t"] <= steady_to]
    if len(steady) < 2:
        return {"samples": len(steady)}
    start, end = steady[0]["rss_kib"], steady[-1]["rss_kib"]
    ts = [s["t"] - steady[0]["t"] for s in steady]
    rs = [s["rss_kib"] for s in steady]
    mean_t, mean_r = sum(ts) / len(ts), sum(rs) / len(rs)
    var = sum((t - mean_t) ** 2 for t in ts)
    slope = sum((t - mean_t) * (r - mean_r) for t, r in zip(ts, rs, strict=True)) / var if var else 0.0
    seconds = ts[-1] or 1.0

    def used(key: str) -> float:
        return round((steady[-1].get(key, 0) - steady[0].get(key, 0)) * 100 / seconds, 1)

    result = {
        "samples": len(steady),
        "rss_start_mib": round(start / 1024, 1),
        "rss_end_mib": round(end / 1024, 1),
        "rss_peak_mib": round(max(rs) / 1024, 1),
        "rss_growth_pct": round((end - start) * 100 / start, 2),
        "rss_trend_mib_per_min": round(slope * 60 / 1024, 2),
        # CPU as % of one core: the server, PostgreSQL, this client, and the whole machine (all
        # cores: whatever else runs shows as machine minus the three).
        "server_cpu_pct": used("cpu_s"),
        "database_cpu_pct": used("database_cpu_s") if "database_cpu_s" in steady[0] else None,
        "client_cpu_pct": used("client_cpu_s"),
        "machine_cpu_pct": used("machine_busy_s"),
        "machine_cores": os.cpu_count(),
        "lag_max": max((s["lag"] for s in steady if s["lag"] is not None), default=None),
    }
    if "database_rss_anon_kib" in steady[0]:
        result["database_rss_anon_start_mib"] = round(steady[0]["database_rss_anon_kib"] / 1024, 1)
        result["database_rss_anon_end_mib"] = round(steady[-1]["database_rss_anon_kib"] / 1024, 1)
    return result


# --- the check: every acknowledged event stored exactly once -----------------------------------


def _as_posted(stored_id: str) -> str:
    return stored_id.split(ID_SCOPE_SEPARATOR, 1)[-1]


def verify(url: str, after: int, acknowledged: dict[str, int]) -> dict[str, Any]:
    """Look every acknowledged event_id up in the log: stored once, at the position the server answered."""
    hub = build(Settings(database_url=url))
    try:
        event_log = hub.event_log
        position = "rowid" if event_log.dialect == "sqlite" else "notification_id"
        rows = event_log.read_store.query(
            f"SELECT {position} AS position, state FROM {event_log.events_table} WHERE {position} > ?", (after,))
        stored: dict[str, list[int]] = defaultdict(list)
        # Stored ids are scoped by the posting channel (`hotline/load-1`); the load's own ids are unique
        # across its channels, so the part after the scope is the id it was acknowledged under.
        for row in rows:
            event_id = _as_posted(orjson.loads(bytes(row["state"])).get("event_id", ""))
            if event_id.startswith("load-"):
                stored[event_id].append(int(row["position"]))
        keys = {_as_posted(r["event_id"]) for r in event_log.read_store.query(
            "SELECT event_id FROM ingest_keys WHERE event_id LIKE ?", ("%/load-%",))}
    finally:
        hub.close()
    lost = sorted(e for e in acknowledged if e not in stored)
    doubled = sorted(e for e, p in stored.items() if len(p) > 1)
    misplaced = sorted(e for e, p in acknowledged.items() if e in stored and stored[e] != [p])
    without_key = sorted(e for e in stored if e not in keys)
    unacknowledged = sorted(e for e in stored if e not in acknowledged)
    return {
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": len(lost),
        "doubled": len(doubled),
        "misplaced": len(misplaced),
        "stored_without_ingest_key": len(without_key),
        "stored_unacknowledged": len(unacknowledged),  # e.g. answered after a client timeout: not an error by itself
        "examples": {"lost": lost[:10], "doubled": doubled[:10], "misplaced": misplaced[:10],
                     "without_key": without_key[:10], "unacknowledged": unacknowledged[:10]},
    }


# --- the run ---------------------------------------------------------------------------------


def seed(url: str, args: argparse.Namespace) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """The population through the domain's ingest path, read models caught up, API keys made.

    Returns the keys, the log head after seeding, and what was seeded."""
    started = time.perf_counter()
    hub = build(Settings(database_url=url, customer_cache_size=max(200_000, args.customers)))
    try:
        head = ingest_population(hub, args.customers, args.contacts, "seed-contact")
        log(f"seeded {head:,} events in {time.perf_counter() - started:.0f} s; catching the read models up")
        hub.projector.catch_up()
        keys = dict(orjson.loads(bench_keys(hub)))
        from contacthub.adapters.store.api_keys import ApiKeys
        from contacthub.domain.roles import BOSS, Role

        keys["boss"] = ApiKeys(hub.event_log.read_store).create(Role.CHANNEL, "bench-boss", BOSS)[1]
    finally:
        hub.close()
    seconds = time.perf_counter() - started
    log(f"seeding done in {seconds:.0f} s")
    return keys, head, {"customers": args.customers, "contacts": args.contacts, "log_events": head,
                        "seconds": round(seconds, 1)}


async def drive(port: int, server_pid: int, database_pid: int | None, keys: dict[str, Any], args: argparse.Namespace,
                report: dict[str, Any]) -> Load:
    pool = Pool(port, args.max_connections, args.timeout)
    load = Load(pool, keys, Population(seeded=args.customers), args)
    monitor = Monitor(server_pid, Pool(port, 2, 30), load.reader, args.sample_interval, database_pid)
    sampling = asyncio.create_task(monitor.run())
    try:
        waited = await monitor.wait_caught_up(300, settle_s=5)
        log(f"server up, read models current after {waited:.0f} s; capacity: closed loop, "
            f"{args.capacity_concurrency} clients, {args.capacity_warmup:.0f} + {args.capacity_seconds:.0f} s")
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        monitor.phase = "capacity"
        t0 = time.monotonic() + args.capacity_warmup
        t1 = t0 + args.capacity_seconds
        await load.closed_loop(args.capacity_concurrency, args.capacity_warmup + args.capacity_seconds, "capacity")
        # Answered in the window, whenever sent: the closed loop's throughput once warm.
        measured = [o for o in load.outcomes if o.phase == "capacity" and t0 <= o.done <= t1]
        capacity = len(measured) / (t1 - t0)
        report["capacity"] = {
            "requests_per_s": round(capacity, 1), "concurrency": args.capacity_concurrency,
            "stats": phase_stats(measured, t0 - 3600, t1, from_schedule=False, seconds=t1 - t0),
            "server": memory_stats(monitor.samples, t0, t1),
        }
        log(f"capacity {capacity:.1f} requests/s ({report['capacity']['stats']['events_per_s']:.0f} events/s); "
            f"errors {report['capacity']['stats']['all']['errors']}")

        monitor.phase = "settle"
        waited = await monitor.wait_caught_up(300)
        report["capacity"]["read_models_caught_up_after_s"] = round(waited, 1)
        rate = capacity * args.load_share
        seconds = args.warmup + args.minutes * 60
        log(f"read models current after {waited:.0f} s; load: open loop at {rate:.1f} requests/s "
            f"({args.load_share:.0%} of capacity) for {args.warmup:.0f} s warm-up + {args.minutes * 60:.0f} s")
        monitor.phase = "load"
        monitor.sample(None)
        start = time.monotonic() + 0.05
        progress = asyncio.create_task(_progress(load, start, seconds))
        lateness = await load.open_loop(start, rate, seconds, "load", args.arrivals == "poisson")
        progress.cancel()
        end = start + seconds
        final = monitor.sample((await monitor.status() or {}).get("lag"))
        steady_from = start + args.warmup
        load_outcomes = [o for o in load.outcomes if o.phase == "load"]
        report["load"] = {
            "target_per_s": round(rate, 2),
            "arrivals": args.arrivals,
            "warmup_s": args.warmup,
            "steady": phase_stats(load_outcomes, steady_from, end, from_schedule=True),
            "whole_phase_errors": op_stats(load_outcomes, seconds, True)["errors_by_status"],
            "client": {**{k: round(v, 2) for k, v in lateness.items()}, "connections_opened": pool.opened,
                       "peak_connections_in_use": pool.peak_in_use, "stale_keepalive_retries": pool.stale_retries},
            "server": memory_stats(monitor.samples, steady_from, final["t"]),
            "every_10_s": time_series(load_outcomes, start),
        }
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        report["client_cpu_s"] = round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1)
        monitor.phase = "drain"
        waited = await monitor.wait_caught_up(300)
        report["load"]["read_models_caught_up_after_s"] = round(waited, 1)
        report["rss_samples"] = [
            {"t_s": round(s["t"] - monitor.samples[0]["t"], 1), "phase": s["phase"], "rss_mib": round(s["rss_kib"] / 1024, 1),
             "cpu_s": round(s["cpu_s"], 1), "lag": s["lag"],
             **({"database_rss_anon_mib": round(s["database_rss_anon_kib"] / 1024, 1)} if "database_rss_anon_kib" in s else {})}
            for s in monitor.samples
        ]
    finally:
        sampling.cancel()
        pool.close()
        monitor.pool.close()
    return load


async def _progress(load: Load, start: float, seconds: float) -> None:
    while True:
        await asyncio.sleep(30)
        elapsed = time.monotonic() - start
        recent = [o for o in load.outcomes[-5000:] if o.phase == "load" and o.scheduled >= time.monotonic() - 30]
        errors = sum(1 for o in load.outcomes if o.phase == "load" and not (isinstance(o.status, int) and o.status < 300))
        lat = sorted(o.done - o.scheduled for o in recent)
        log(f"load {elapsed:.0f}/{seconds:.0f} s: last 30 s {len(recent) / 30:.1f} answered/s, "
            f"p99 {quantile(lat, 0.99) * 1000:.1f} ms; errors so far {errors}; in flight {len(load.in_flight)}")


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    report: dict[str, Any] = {}
    pg = None
    if args.backend == "postgresql":
        pg = ThrowawayPostgres(settings=PG_SETTINGS).start()
        url = pg.create_database("load")
    else:
        url = f"sqlite:///{workdir}/load.db"
    try:
        keys, seeded_head, report["seed"] = seed(url, args)
        port = free_port()
        server_log = args.server_log or workdir / "server.log"
        deployed = Settings()  # as deployed: the fair-use limits at their defaults (serve() turns them off)
        env = {"CONTACTHUB_LOG_LEVEL": args.log_level, "CONTACTHUB_SLA_WATCH_INTERVAL_S": str(args.watch_interval),
               "CONTACTHUB_MAX_LAG_EVENTS": str(deployed.max_lag_events),
               "CONTACTHUB_INGEST_EVENTS_PER_S": str(deployed.ingest_events_per_s)}
        with server_log.open("wb") as output:
            process = serve(url, port, projector=True, env=env, output=output)
            database_pid = _postmaster_pid(pg) if pg else None
            try:
                load = _run_loop(drive(port, process.pid, database_pid, keys, args, report))
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    report["server_exit_code"] = process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    report["server_exit_code"] = "killed after 60 s"
        report["server_log_problems"] = _log_problems(server_log)
        report["verification"] = verify(url, seeded_head, load.acknowledged)
        report["verification"]["duplicate_answers"] = load.duplicates
        report["error_samples"] = dict(load.error_samples)
    finally:
        if pg is not None:
            pg.stop()
    return report


def _run_loop(coroutine: Any) -> Any:
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


def _postmaster_pid(pg: Any) -> int | None:
    try:
        return int((pg._data_dir / "postmaster.pid").read_text().split()[0])  # noqa: SLF001 (benchmark-only peek)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _log_problems(path: Path, limit: int = 30) -> dict[str, Any]:
    """The server log's warnings and errors (JSON lines; anything unparsable counts too), and whether it stopped cleanly."""
    counts: Counter[str] = Counter()
    first: list[str] = []
    stopped = False
    traceback: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            # Not the app's JSON: uvicorn's own tracebacks ("Exception in ASGI application" ...); one per block.
            if line.startswith(("Exception in", "Traceback", "ERROR", "WARNING")) and not traceback:
                counts["unstructured: " + line[:80]] += 1
            traceback.append(line)
            continue
        if traceback:
            if len(first) < limit:
                first.append("\n".join(traceback[:2] + ["..."] + traceback[-6:]))
            traceback = []
        if not isinstance(entry, dict):
            continue
        stopped = stopped or entry.get("event") == "server_stopped"
        level = str(entry.get("level", "")).lower()
        if level not in ("warning", "error", "critical", "exception"):
            continue
        counts[f"{level} {entry.get('event')}"] += 1
        if len(first) < limit:
            text = str(entry.pop("exception", ""))
            first.append(orjson.dumps(entry).decode() + (("\n..." + text[-1500:]) if text else ""))
    if traceback and len(first) < limit:
        first.append("\n".join(traceback[:2] + ["..."] + traceback[-6:]))
    return {"counts": dict(counts), "first": first, "stopped_cleanly": stopped}


def table(report: dict[str, Any]) -> str:
    cap, load = report["capacity"], report["load"]
    steady, server, ver = load["steady"], load["server"], report["verification"]
    problems = report["server_log_problems"]
    lines = [
        f"capacity (closed loop, {cap['concurrency']} clients, {cap['stats']['seconds']:.0f} s): "
        f"{cap['requests_per_s']:,.1f} requests/s, {cap['stats']['events_per_s']:,.0f} events/s stored, "
        f"p50 / p99 {cap['stats']['all']['p50_ms']:.1f} / {cap['stats']['all']['p99_ms']:.1f} ms, "
        f"errors {_errors(cap['stats']['all'])}; CPU % of one core: server "
        f"{cap['server'].get('server_cpu_pct')}, whole machine {cap['server'].get('machine_cpu_pct')}",
        f"load (open loop, {load['arrivals']} arrivals, {load['warmup_s']:.0f} s warm-up + {steady['seconds']:.0f} s): "
        f"target {load['target_per_s']:,.1f} requests/s, achieved {steady['all']['per_s']:,.1f} requests/s, "
        f"{steady['events_per_s']:,.0f} events/s stored",
        "",
        "| operation | requests | errors | p50 ms | p99 ms | max ms | service p50 / p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in (*OPERATIONS, "all"):
        s = steady.get(op)
        if not s:
            continue
        lines.append(f"| {op} | {s['requests']:,} | {_errors(s)} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['max_ms']:.1f} "
                     f"| {s['service_p50_ms']:.1f} / {s['service_p99_ms']:.1f} |")
    whole = load["whole_phase_errors"]
    lines += [
        "",
        "errors over the whole load phase (warm-up included): "
        + _errors({"errors": sum(whole.values()), "errors_by_status": whole}),
        f"server RSS: {server.get('rss_start_mib')} MiB after warm-up, {server.get('rss_end_mib')} MiB at the end "
        f"(peak {server.get('rss_peak_mib')}), growth {server.get('rss_growth_pct')}% "
        f"(trend {server.get('rss_trend_mib_per_min')} MiB/min); "
        f"read-model lag max {server.get('lag_max')} events, caught up {load['read_models_caught_up_after_s']} s after the end",
    ]
    database = f", PostgreSQL {server['database_cpu_pct']}" if server.get("database_cpu_pct") is not None else ""
    lines.append(f"CPU in the steady part, % of one core ({server.get('machine_cores')} cores): "
                 f"server {server.get('server_cpu_pct')}{database}, this client {server.get('client_cpu_pct')}, "
                 f"whole machine {server.get('machine_cpu_pct')} (the rest is other work on the machine)")
    if "database_rss_anon_start_mib" in server:
        lines.append(f"PostgreSQL private memory (RssAnon, all its processes): {server['database_rss_anon_start_mib']} → "
                     f"{server['database_rss_anon_end_mib']} MiB (information only)")
    client = load["client"]
    lines += [
        f"client: issued p50 / p99 / max {client['issue_lateness_p50_ms']} / {client['issue_lateness_p99_ms']} / "
        f"{client['issue_lateness_max_ms']} ms behind schedule; {client['peak_connections_in_use']} connections at most; "
        f"{client['stale_keepalive_retries']} stale keep-alive retries",
        f"events acknowledged / stored / lost / doubled: {ver['acknowledged']:,} / {ver['stored']:,} / {ver['lost']} / "
        f"{ver['doubled']} (misplaced {ver['misplaced']}, without ingest key {ver['stored_without_ingest_key']}, "
        f"stored but unacknowledged {ver['stored_unacknowledged']})",
        f"server log warnings and errors: {problems['counts'] or 'none'}; server exit code {report['server_exit_code']} "
        f"after SIGTERM ({'logged server_stopped' if problems['stopped_cleanly'] else 'no server_stopped in its log'})",
    ]
    return "\n".join(lines)


def _errors(stats: dict[str, Any]) -> str:
    """`3 (500: 2, timeout: 1)`, or `0`."""
    by_status = ", ".join(f"{k}: {v}" for k, v in stats["errors_by_status"].items())
    return f"{stats['errors']} ({by_status})" if stats["errors"] else "0"


def verdict(report: dict[str, Any]) -> list[str]:
    failures = []
    errors = sum(report["load"]["whole_phase_errors"].values())
    if errors:
        failures.append(f"{errors} error(s) under load: {report['load']['whole_phase_errors']}")
    growth = report["load"]["server"].get("rss_growth_pct")
    if growth is None:
        failures.append("too few RSS samples to judge memory")
    elif growth >= RSS_GROWTH_LIMIT_PCT:
        failures.append(f"server RSS grew {growth}% (limit {RSS_GROWTH_LIMIT_PCT:.0f}%)")
    v = report["verification"]
    for name in ("lost", "doubled", "misplaced", "stored_without_ingest_key"):
        if v[name]:
            failures.append(f"{v[name]} acknowledged event(s) {name.replace('_', ' ')}: {v['examples']}")
    return failures


def mix(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition(":")
        if name.strip() not in OPERATIONS or not weight:
            raise argparse.ArgumentTypeError(f"--mix takes op:weight pairs, ops {', '.join(OPERATIONS)}; not {part!r}")
        weights[name.strip()] = float(weight)
    if sum(weights.values()) <= 0:
        raise argparse.ArgumentTypeError("--mix: the weights add up to nothing")
    return {k: v for k, v in weights.items() if v > 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--minutes", type=float, default=5, help="steady load, after --warmup")
    parser.add_argument("--warmup", type=float, default=30, help="seconds of load before the steady part is measured")
    parser.add_argument("--load-share", type=float, default=0.7, help="the load's rate as a share of the measured capacity")
    parser.add_argument("--arrivals", choices=["constant", "poisson"], default="constant")
    parser.add_argument("--capacity-seconds", type=float, default=45)
    parser.add_argument("--capacity-warmup", type=float, default=10)
    parser.add_argument("--capacity-concurrency", type=int, default=32)
    parser.add_argument("--mix", type=mix, default=mix(DEFAULT_MIX),
                        help=f"operations by request count, op:weight (default {DEFAULT_MIX})")
    parser.add_argument("--batch-size", type=int, default=20, help="events per ingest request")
    parser.add_argument("--register-batch-size", type=int, default=5, help="new customers per register request")
    parser.add_argument("--complaint-share", type=float, default=0.02, help="share of ingested events that open a complaint")
    parser.add_argument("--customers", type=int, default=20_000, help="customers seeded")
    parser.add_argument("--contacts", type=int, default=None, help="contacts seeded (default 10 per customer)")
    parser.add_argument("--sample-interval", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--max-connections", type=int, default=256, help="client connections at most")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as a timeout")
    parser.add_argument("--watch-interval", type=float, default=30.0, help="the server's SLA and jeopardy watchers (0: off)")
    parser.add_argument("--log-level", default="info", help="the server's CONTACTHUB_LOG_LEVEL")
    parser.add_argument("--server-log", type=Path, default=None, help="keep the server's log here (default: discarded)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/<date>-load-<backend>.json")
    args = parser.parse_args()
    args.contacts = args.customers * 10 if args.contacts is None else args.contacts
    args.out = args.out or HERE / "results" / f"{datetime.now():%Y-%m-%d}-load-{args.backend}.json"
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory(prefix="contacthub-load-") as workdir:
        report = run(args, Path(workdir))
    failures = verdict(report)
    full = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ".venv/bin/python bench/load.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "passed": not failures,
        "failures": failures,
        **report,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(full, option=orjson.OPT_INDENT_2))
    print(table(report))
    print(f"\nJSON: {args.out}")
    if failures:
        print("\nFAILED:\n- " + "\n- ".join(failures))
        raise SystemExit(1)
    print("\npassed: no errors, RSS growth under 10%, every acknowledged event stored once")


if __name__ == "__main__":
    main()
