"""Serving capacity of the 360-degree read: GET /v1/customers/{id} with a clerk's key, 1 and 2 server processes.

    .venv/bin/python bench/read_capacity.py                       # a fresh demo database; --workers 1 2
    .venv/bin/python bench/read_capacity.py --workers 1 2 --seconds 20 --connections 32
    .venv/bin/python bench/read_capacity.py --database-url sqlite:///contacthub.db

Not part of CI. Per run:

1. The database: a fresh demo population (`contacthub demo --customers 3000`, as `./dev run`
   loads it) in a temporary folder, unless --database-url names one. A clerk's key made for
   the run (`bench-capacity-clerk`; every read it makes is recorded in the access log).
2. For each --workers count: `contacthub serve --workers N` as its own process (embedded
   projector on, watchers off, JSON logs at warning into a file in the temporary folder).
3. A closed loop from this process: --connections keep-alive connections (asyncio, uvloop),
   each sending its next request as soon as the previous answer is read, for --warmup +
   --seconds, reading random customers of the database. Capacity is the answers per second
   in the last --seconds; latency p50/p99 over them. Then `/health` the same way for
   --health-seconds: what the HTTP stack alone answers.
4. CPU over the measured seconds: the server's processes, this client (it shares the
   machine: wrk would use less), and the rest of the machine (other work on it).
5. Checks: every read answered 200; with N > 1, answers came from N distinct worker processes
   (`X-ContactHub-Worker`); and the access log holds one entry per answered read.

Prints a table; writes JSON to bench/results/<date>-read-capacity-<backend>.json. Exit code 1
when a check fails. The numbers move with whatever else the machine is doing: compare runs
made one after another, and look at the `others` CPU column.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from contacthub.adapters.store.api_keys import ApiKeys  # noqa: E402
from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.domain.roles import Role  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from load import _run_loop, machine_busy_seconds, memory_and_cpu  # noqa: E402
from run import free_port, log, serve  # noqa: E402

KEY_NAME = "bench-capacity-clerk"
WORKER_HEADER = b"x-contacthub-worker:"


class _Connection(asyncio.Protocol):
    """One keep-alive connection of the closed loop: the next request as soon as an answer is whole."""

    def __init__(self, loop: ClosedLoop) -> None:
        self.loop = loop
        self.buffer = b""
        self.need: int | None = None
        self.status = 0
        self.worker = b""
        self.sent = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent = time.perf_counter()
        self.loop.in_flight += 1
        self.transport.write(self.loop.next_request())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].lower()
                self.status = int(head[9:12])
                at = head.find(b"content-length:")
                stop = head.find(b"\r\n", at)
                self.need = end + 4 + int(head[at + 15 : stop if stop > 0 else None])
                at = head.find(WORKER_HEADER)
                stop = head.find(b"\r\n", at)
                self.worker = head[at + len(WORKER_HEADER) : stop if stop > 0 else None].strip() if at >= 0 else b""
            if len(self.buffer) < self.need:
                return
            self.buffer, self.need = self.buffer[self.need :], None
            self.loop.in_flight -= 1
            self.loop.answered(time.perf_counter(), self.sent, self.status, self.worker)
            if self.loop.running:
                self._send()
            elif self.loop.in_flight == 0:
                self.loop.done.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.loop.running:
            self.loop.failures += 1


class ClosedLoop:
    def __init__(self, port: int, paths: list[str], headers: bytes, start: float, warmup: float, seconds: float) -> None:
        self.port = port
        self.requests = [b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (p.encode(), headers) for p in paths]
        self.rng = random.Random(7)
        self.window = (start + warmup, start + warmup + seconds)
        self.running = True
        self.in_flight = 0
        self.failures = 0
        self.done = asyncio.Event()
        self.statuses: Counter[int] = Counter()
        self.workers: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.total = 0

    def next_request(self) -> bytes:
        return self.requests[self.rng.randrange(len(self.requests))]

    def answered(self, now: float, sent: float, status: int, worker: bytes) -> None:
        self.total += 1
        self.statuses[status] += 1
        if self.window[0] <= sent and now <= self.window[1]:
            self.latencies.append(now - sent)
        if worker:
            self.workers[worker.decode()] += 1


async def closed_loop(port: int, paths: list[str], headers: bytes, connections: int, warmup: float, seconds: float,
                      server_pid: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    bench = ClosedLoop(port, paths, headers, start, warmup, seconds)
    transports = []
    for _ in range(connections):
        transport, _ = await loop.create_connection(lambda: _Connection(bench), "127.0.0.1", port)
        transports.append(transport)
    await asyncio.sleep(max(0.0, bench.window[0] - time.perf_counter()))
    cpu0, client0, busy0 = memory_and_cpu(server_pid)[1], _client_cpu(), machine_busy_seconds()
    await asyncio.sleep(max(0.0, bench.window[1] - time.perf_counter()))
    cpu1, client1, busy1 = memory_and_cpu(server_pid)[1], _client_cpu(), machine_busy_seconds()
    bench.running = False
    if bench.in_flight:
        await asyncio.wait_for(bench.done.wait(), 60)
    for transport in transports:
        transport.close()
    latencies = sorted(bench.latencies)
    server_cpu, client_cpu = cpu1 - cpu0, client1 - client0
    return {
        "per_s": round(len(latencies) / seconds),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 2) if latencies else None,
        "answers": bench.total,
        "statuses": {str(k): v for k, v in sorted(bench.statuses.items())},
        "workers_seen": len(bench.workers),
        "connection_failures": bench.failures,
        "cpu_cores": {  # CPU seconds per second over the measured window (2.0 = both cores)
            "server": round(server_cpu / seconds, 2),
            "client": round(client_cpu / seconds, 2),
            "others": round(max(0.0, (busy1 - busy0) - server_cpu - client_cpu) / seconds, 2),
        },
        "server_cpu_us_per_answer": round(server_cpu / max(1, len(latencies)) * 1e6),
    }


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def demo_database(workdir: Path, customers: int) -> str:
    url = f"sqlite:///{workdir / 'demo.db'}"
    log(f"demo database: {customers} customers ({url})")
    env = {**os.environ, "CONTACTHUB_DATABASE_URL": url, "CONTACTHUB_LOG_LEVEL": "warning"}
    subprocess.run([sys.executable, "-m", "contacthub.adapters.cli", "demo", "--customers", str(customers)],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return url


def prepare(url: str) -> tuple[str, list[str]]:
    """A fresh clerk key for the run, and every customer id."""
    hub = build(Settings(database_url=url, sla_watch_interval_s=0))
    try:
        store = ApiKeys(hub.event_log.read_store)
        for key in store.list_keys(include_revoked=False):
            if key.name == KEY_NAME:
                store.revoke(key.key_id)
        plaintext = store.create(Role.CLERK, KEY_NAME)[1]
        ids = [r["customer_id"] for r in hub.event_log.read_store.query("SELECT customer_id FROM rm_customer")]
    finally:
        hub.close()
    return plaintext, ids


def recorded_reads(url: str, key: str) -> int:
    hub = build(Settings(database_url=url, sla_watch_interval_s=0))
    try:
        row = hub.event_log.read_store.query_one(
            "SELECT COUNT(*) AS n FROM access_log WHERE key_id = ?", (key.split("_")[1],))
        return int(row["n"]) if row else 0
    finally:
        hub.close()


def wait_for_workers(port: int, workers: int, timeout: float = 60.0) -> None:
    """Until every worker answers (new connections go to any listening worker; one still starting gets none)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            seen.add(response.getheader("X-ContactHub-Worker") or "")
        except OSError:
            pass
        finally:
            connection.close()
        if len(seen - {""}) >= workers or (workers == 1 and seen):
            return
        time.sleep(0.02)
    raise SystemExit(f"only {len(seen)} of {workers} workers answered within {timeout} s")


def measure(url: str, workers: int, key: str, ids: list[str], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    port = free_port()
    server_log = workdir / f"serve-{workers}.log"
    env = {"CONTACTHUB_LOG_LEVEL": "warning"}
    if args.watchers:
        env["CONTACTHUB_SLA_WATCH_INTERVAL_S"] = "30"
    before = recorded_reads(url, key)
    with server_log.open("ab") as output:
        process = serve(url, port, projector=True, env=env, output=output, workers=workers)
    try:
        wait_for_workers(port, workers)
        auth = b"Authorization: Bearer %s\r\n" % key.encode()
        reads = _run_loop(closed_loop(port, [f"/v1/customers/{i}" for i in ids], auth, args.connections, args.warmup,
                                 args.seconds, process.pid))
        health = _run_loop(closed_loop(port, ["/health"], b"", args.connections, 1.0, args.health_seconds, process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    recorded = recorded_reads(url, key) - before
    checks = {
        "every read answered 200": reads["statuses"] == {"200": reads["answers"]},
        "one access-log entry per answered read": recorded == reads["answers"],
        "answers from every worker": workers == 1 or reads["workers_seen"] == workers,
    }
    log(f"workers={workers}: {reads['per_s']} reads/s (p50 {reads['p50_ms']} ms, p99 {reads['p99_ms']} ms), "
        f"/health {health['per_s']}/s; cpu {reads['cpu_cores']}; recorded {recorded} of {reads['answers']}")
    return {"workers": workers, "read": reads, "health": health, "recorded": recorded, "checks": checks,
            "server_exit_code": process.returncode}


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'workers':>7}  {'reads/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'/health/s':>9}  "
        f"{'cpu server':>10}  {'client':>6}  {'others':>6}  {'us/read':>7}  checks",
    ]
    for r in results:
        cpu = r["read"]["cpu_cores"]
        failed = [name for name, ok in r["checks"].items() if not ok]
        lines.append(
            f"{r['workers']:>7}  {r['read']['per_s']:>8}  {r['read']['p50_ms']:>7}  {r['read']['p99_ms']:>7}  "
            f"{r['health']['per_s']:>9}  {cpu['server']:>10}  {cpu['client']:>6}  {cpu['others']:>6}  "
            f"{r['read']['server_cpu_us_per_answer']:>7}  {'ok' if not failed else 'FAILED: ' + ', '.join(failed)}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="an existing database (default: a fresh demo database in a temp folder)")
    parser.add_argument("--customers", type=int, default=3000, help="demo population when making one")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--health-seconds", type=float, default=4.0)
    parser.add_argument("--watchers", action="store_true", help="run the SLA and jeopardy watchers too (every 30 s)")
    parser.add_argument("--output", help="JSON path (default: bench/results/<date>-read-capacity-<backend>.json)")
    args = parser.parse_args()
    configure_logging("console", "warning")
    workdir = Path(tempfile.mkdtemp(prefix="contacthub-capacity-"))
    try:
        url = args.database_url or demo_database(workdir, args.customers)
        key, ids = prepare(url)
        results = [measure(url, n, key, ids, args, workdir) for n in args.workers]
    finally:
        if args.database_url is None:
            shutil.rmtree(workdir, ignore_errors=True)
    backend = "postgresql" if url.startswith("postgres") else "sqlite"
    report = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "parameters": {k: v for k, v in vars(args).items() if k != "database_url"},
        "backend": backend,
        "results": results,
    }
    output = Path(args.output) if args.output else HERE / "results" / f"{datetime.now():%Y-%m-%d}-read-capacity-{backend}.json"
    output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    sys.stdout.write(table(results) + "\n")
    log(f"written {output}")
    if any(not ok for r in results for ok in r["checks"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
