"""ContactHub benchmark: one command, a table on stdout, JSON in bench/results/.

    ./dev bench                      # PostgreSQL and SQLite, 1,000,000 contacts over 100,000 customers
    ./dev bench --backend postgresql --events 200000 --customers 20000

Measures, per backend:
 (1) ingest through the domain (IngestService, the path every channel batch takes), events/s
 (2) ingest through POST /v1/events, batches of 500, from a separate client process, events/s
 (3) projection catch-up from zero over the whole log, events/s
 (4) 360-degree read latency over HTTP, p50/p99
 (5) the same stored rows inserted raw with executemany (the physical reference), rows/s,
     and the ratio of (1) to it.
 (6) every metrics endpoint over HTTP, p50/p99, after orders, complaints and tier changes
     are added to the contacts (so the log holds more than --events events).
 (7) `contacthub rebuild --workers N` as its own process, for each N in --rebuild-workers
     (default 1 and 2), events/s and the speed-up over the first N: the read models kept
     in N partitions by customer, one worker process each.
PostgreSQL runs as a throwaway local server with fsync on (durable commits).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway PostgreSQL server helper
sys.path.insert(0, str(HERE))

from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from phases import timed_phases  # noqa: E402
from support.pgserver import ThrowawayPostgres  # noqa: E402
from workload import contacts, journeys, registrations  # noqa: E402

TARGETS = {
    "domain_ingest_events_per_s": ">= 15000 (PostgreSQL), and >= 1/4 of raw",
    "http_ingest_events_per_s": ">= 8000 (PostgreSQL)",
    "projection_catch_up_events_per_s": ">= 15000 (PostgreSQL)",
    "read_360_p99_ms": "< 20 (PostgreSQL)",
    "metrics_p99_ms": "< 200 (each endpoint, 1,000,000 events)",
    "rebuild_speedup_2_workers": ">= 1.6 (2 workers over 1, on 2 cores)",
}
# Durable and production-like: fsync on; memory and WAL sized for a bulk workload.
PG_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "1GB",
    "max_wal_size": "4GB",
}


def log(message: str) -> None:
    sys.stderr.write(f"[bench {datetime.now():%H:%M:%S}] {message}\n")
    sys.stderr.flush()


def stolen_seconds() -> float | None:
    """CPU time the hypervisor gave to others while this machine wanted it (all CPUs, since
    boot; /proc/stat's steal column), or None where there is no /proc/stat. On a shared
    virtual machine it is what makes two runs of one benchmark differ: every measure records it."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" and len(fields) > 8 else None


def timed(label: str, count: int, action: Any) -> dict[str, float]:
    stolen = stolen_seconds()
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    result = {"count": count, "seconds": round(seconds, 2), "per_s": round(count / seconds)}
    after = stolen_seconds()
    if stolen is not None and after is not None:
        result["cpu_stolen_s"] = round(after - stolen, 2)
    log(f"{label}: {count} in {seconds:.1f} s = {count / seconds:,.0f}/s (CPU stolen: {result.get('cpu_stolen_s')} s)")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raw_reference(backend: str, url: str, hub: Any, batch_size: int) -> dict[str, float]:
    """The same stored contact rows, inserted with plain executemany into a same-shaped table."""
    if backend == "postgresql":
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {hub.event_log.events_table} "
                "WHERE topic = 'contact.logged' ORDER BY notification_id"
            ).fetchall()
            conn.execute(
                "CREATE TABLE raw_reference (originator_id text NOT NULL, originator_version bigint NOT NULL, "
                "topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
            )
            conn.execute("CREATE UNIQUE INDEX ON raw_reference (notification_id)")

            def insert() -> None:
                for i in range(0, len(rows), batch_size):
                    with conn.transaction(), conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO raw_reference (originator_id, originator_version, topic, state) "
                            "VALUES (%s, %s, %s, %s)",
                            rows[i : i + batch_size],
                        )

            return timed("raw executemany", len(rows), insert)
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    rows = conn.execute(
        "SELECT originator_id, originator_version, topic, state FROM stored_events "
        "WHERE topic = 'contact.logged' ORDER BY rowid"
    ).fetchall()
    conn.execute(
        "CREATE TABLE raw_reference (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
        "PRIMARY KEY (originator_id, originator_version))"
    )

    def insert_sqlite() -> None:
        for i in range(0, len(rows), batch_size):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO raw_reference VALUES (?, ?, ?, ?)", rows[i : i + batch_size])
            conn.execute("COMMIT")

    result = timed("raw executemany", len(rows), insert_sqlite)
    conn.close()
    return result


def serve(
    url: str, port: int, *, projector: bool = False, env: dict[str, str] | None = None, output: Any = None,
    workers: int = 1,
) -> subprocess.Popen[bytes]:
    """`contacthub serve` as its own process, once it accepts connections.

    By default as (4) and (6) want it: no projector, and no watchers (the reads are measured
    alone, not beside the SLA and jeopardy events they would record). `env` overrides the
    settings (bench/load.py runs the server as deployed); `output` takes its stdout and stderr;
    `workers`: `--workers` (bench/read_capacity.py). Without a projector the read models'
    lag grows with every event posted, and (4) measures how fast one client can ingest: the
    fair-use limits (adapters/http/fair_use.py: a rate per key, the lag bound) are off unless
    `env` sets them.
    """
    env = {
        **os.environ, "CONTACTHUB_DATABASE_URL": url, "CONTACTHUB_LOG_LEVEL": "warning", "CONTACTHUB_LOG_FORMAT": "json",
        "CONTACTHUB_SLA_WATCH_INTERVAL_S": "0", "CONTACTHUB_MAX_LAG_EVENTS": "0", "CONTACTHUB_INGEST_EVENTS_PER_S": "0",
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from contacthub.adapters.cli import main; main()",
         "serve", "--port", str(port), "--projector" if projector else "--no-projector",
         *(["--workers", str(workers)] if workers != 1 else [])], env=env,
        stdout=output, stderr=output,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before it accepted connections")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def parallel_rebuilds(backend: str, url: str, head: int, worker_counts: list[int]) -> list[dict[str, Any]]:
    """(7): `contacthub rebuild --workers N` for each N, wall-clock time of the whole command."""
    env = {**os.environ, "CONTACTHUB_DATABASE_URL": url, "CONTACTHUB_LOG_LEVEL": "warning", "CONTACTHUB_LOG_FORMAT": "json"}
    results: list[dict[str, Any]] = []
    for workers in worker_counts:
        command = [sys.executable, "-c", "from contacthub.adapters.cli import main; main()", "rebuild", "--workers", str(workers)]
        result = timed(f"{backend} (7) rebuild --workers {workers}", head,
                       lambda command=command: subprocess.run(command, env=env, check=True, capture_output=True))
        result["workers"] = workers
        result["speedup"] = round(result["per_s"] / results[0]["per_s"], 2) if results else 1.0
        results.append(result)
    return results


def bench_keys(hub: Any) -> str:
    """API keys for the HTTP client (JSON for CONTACTHUB_BENCH_KEYS): a clerk's for reads, one per channel for posting."""
    from contacthub.adapters.store.api_keys import ApiKeys
    from contacthub.domain.roles import Role
    from contacthub.domain.vocabulary import Channel

    store = ApiKeys(hub.event_log.read_store)
    for key in store.list_keys(include_revoked=False):
        if key.name.startswith("bench-"):
            store.revoke(key.key_id)
    reader = store.create(Role.CLERK, "bench-clerk")[1]
    channels = {c.value: store.create(Role.CHANNEL, f"bench-{c.value}", c.value)[1] for c in Channel}
    return orjson.dumps({"reader": reader, "channels": channels}).decode()


def client(mode: str, port: int, keys: str, **options: Any) -> dict[str, float]:
    args = [sys.executable, str(HERE / "http_client.py"), mode, "--port", str(port)]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "CONTACTHUB_BENCH_KEYS": keys}
    output = subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout
    return dict(orjson.loads(output.strip().splitlines()[-1]))


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server = None
    if backend == "postgresql":
        server = ThrowawayPostgres(settings=PG_SETTINGS).start()
        url = server.create_database("bench")
    else:
        url = f"sqlite:///{workdir}/bench.db"
    results: dict[str, Any] = {"database_url": url.split("@")[-1]}
    try:
        hub = build(Settings(database_url=url, customer_cache_size=max(200_000, args.customers)))
        results["registration"] = timed(
            f"{backend} registration", args.customers,
            lambda: [hub.ingest.ingest(b) for b in registrations(args.customers, args.batch_size)],
        )
        results["domain_ingest"] = timed(
            f"{backend} (1) domain ingest", args.events,
            lambda: [hub.ingest.ingest(b) for b in contacts("bench-domain", args.events, args.customers, args.batch_size, 1)],
        )
        results["raw_executemany"] = raw_reference(backend, url, hub, args.batch_size)
        orders, complaints = args.customers * 3 // 10, args.customers // 5
        extra = list(journeys(args.customers, orders, complaints, args.batch_size, 2))
        results["journeys_ingest"] = timed(
            f"{backend} orders, complaints and tier changes", sum(len(b) for b in extra),
            lambda: [hub.ingest.ingest(b) for b in extra],
        )
        results["domain_to_raw_ratio"] = round(results["domain_ingest"]["per_s"] / results["raw_executemany"]["per_s"], 3)

        head = hub.event_log.head_position()
        hub.projector.reset()
        results["log_events"] = head
        phases = timed_phases(hub.projector)
        results["projection_catch_up"] = timed(f"{backend} (3) projection catch-up", head, hub.projector.catch_up)
        spent = results["projection_catch_up"]["seconds"]
        phases["locks, tracking, commit"] = spent - sum(phases.values())
        results["projection_catch_up"]["phases_s"] = {name: round(s, 2) for name, s in phases.items()}
        log(f"{backend} (3) catch-up phases: " + ", ".join(f"{n} {s:.1f} s" for n, s in phases.items()))
        keys = bench_keys(hub)
        hub.close()
        if args.rebuild_workers:
            results["parallel_rebuild"] = parallel_rebuilds(backend, url, head, args.rebuild_workers)

        port = free_port()
        process = serve(url, port)
        try:
            client("read", port, keys, requests=200, customers=args.customers, seed=3)  # warm the connection pool
            results["read_360"] = client("read", port, keys, requests=args.reads, customers=args.customers, seed=5)
            log(f"{backend} (4) 360 read: p50 {results['read_360']['p50_ms']:.2f} ms, p99 {results['read_360']['p99_ms']:.2f} ms")
            client("metrics", port, keys, requests=5, customers=args.customers)  # warm
            results["metrics"] = client("metrics", port, keys, requests=args.metrics_reads, customers=args.customers)
            for path, r in results["metrics"].items():
                log(f"{backend} (6) {path}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")
            results["http_ingest"] = client(
                "ingest", port, keys, events=args.http_events, customers=args.customers, batch_size=500,
                threads=args.http_threads, seed=7,
            )
            log(f"{backend} (2) HTTP ingest: {results['http_ingest']['events_per_s']:,.0f}/s")
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        if server is not None:
            server.stop()
    return results


def table(all_results: dict[str, dict[str, Any]]) -> str:
    backends = list(all_results)
    rebuild_workers = [r["workers"] for r in next(iter(all_results.values())).get("parallel_rebuild", [])]
    rows = [
        ("(1) ingest through the domain, events/s", lambda r: f"{r['domain_ingest']['per_s']:,}", TARGETS["domain_ingest_events_per_s"]),
        ("(2) ingest through POST /v1/events, events/s", lambda r: f"{r['http_ingest']['events_per_s']:,.0f}", TARGETS["http_ingest_events_per_s"]),
        ("(3) projection catch-up from zero, events/s", lambda r: f"{r['projection_catch_up']['per_s']:,}", TARGETS["projection_catch_up_events_per_s"]),
        ("(4) 360 read over HTTP, p50 ms", lambda r: f"{r['read_360']['p50_ms']:.2f}", ""),
        ("(4) 360 read over HTTP, p99 ms", lambda r: f"{r['read_360']['p99_ms']:.2f}", TARGETS["read_360_p99_ms"]),
        *[
            (f"(6) GET {path}, p50 / p99 ms",
             lambda r, path=path: f"{r['metrics'][path]['p50_ms']:.1f} / {r['metrics'][path]['p99_ms']:.1f}",
             TARGETS["metrics_p99_ms"] if i == 0 else "")
            for i, path in enumerate(next(iter(all_results.values()))["metrics"])
        ],
        *[
            (f"(7) rebuild --workers {w}, events/s (speed-up)",
             lambda r, i=i: (f"{r['parallel_rebuild'][i]['per_s']:,} ({r['parallel_rebuild'][i]['speedup']:.2f}x)"
                             if len(r.get("parallel_rebuild", [])) > i else "-"),
             TARGETS["rebuild_speedup_2_workers"] if w == 2 else "")
            for i, w in enumerate(rebuild_workers)
        ],
        ("(5) raw executemany, rows/s", lambda r: f"{r['raw_executemany']['per_s']:,}", ""),
        ("(1) / (5)", lambda r: f"{r['domain_to_raw_ratio']:.2f}", ">= 0.25"),
        ("registration, customers/s", lambda r: f"{r['registration']['per_s']:,}", ""),
        ("CPU time stolen by the hypervisor / run time, s", lambda r: f"{r.get('cpu_stolen_s', '-')} / {r['run_s']}", ""),
    ]
    lines = ["| measure | " + " | ".join(backends) + " | target |", "|---|" + "---|" * len(backends) + "---|"]
    for label, value, target in rows:
        lines.append(f"| {label} | " + " | ".join(value(all_results[b]) for b in backends) + f" | {target} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="contact events for (1)")
    parser.add_argument("--http-events", type=int, default=None, help="contact events for (2); default: --events")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000, help="batch size for (1) and (5)")
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--metrics-reads", type=int, default=200, help="requests per metrics endpoint for (6)")
    parser.add_argument("--http-threads", type=int, default=2, help="concurrent client connections for (2)")
    parser.add_argument("--rebuild-workers", type=lambda text: [int(n) for n in text.split(",") if n], default=[1, 2],
                        help="worker counts for (7), comma-separated (default 1,2; empty: skip (7))")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    args.http_events = args.http_events or args.events
    configure_logging("json", "warning")
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    all_results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="contacthub-bench-") as workdir:
        for backend in backends:
            stolen, started = stolen_seconds(), time.perf_counter()
            all_results[backend] = run_backend(backend, args, Path(workdir))
            after = stolen_seconds()
            all_results[backend]["run_s"] = round(time.perf_counter() - started)
            if stolen is not None and after is not None:
                all_results[backend]["cpu_stolen_s"] = round(after - stolen, 1)
    report = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "./dev bench " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": TARGETS,
        "results": all_results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(table(all_results))
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
