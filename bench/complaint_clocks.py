"""What SLA clocks in working time cost (issue 20), beside the physical reference, in the same run.

    .venv/bin/python bench/complaint_clocks.py --backend both --customers 5000 --complaints 20000

Per backend, each on a fresh database, twice: under the policy of before issue 20 (one
resolution clock in calendar hours: `cn-default-2026-11`, kept below) and under the packaged
policy (first-response and resolution clocks, some limits in working time on the cn-national
calendar, a follow-up clock):
 (1) complaint journeys (opened, some pended and resumed, most resolved, many followed up;
     September and October 2026, across the National Day holiday) stored through the ingest
     service, events/s;
 (2) catch-up of every read model from position 0 over that log, events/s;
 (3) one SLA watcher pass with the clock at 2026-12-31, when every open clock is past its
     deadline: seconds, and the events it recorded;
 (4) a work-queue page (`status=open&sort=deadline`, 20 complaints with their clocks worked
     out at read time), p50 / p99 ms over 300 reads;
 (5) the stored contact rows inserted raw with executemany (bench/run.py's physical
     reference), rows/s.
Prints a table; writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from contacthub.projections.complaint_queries import QueueFilter  # noqa: E402
from run import PG_SETTINGS, log, raw_reference, timed  # noqa: E402
from support.pgserver import ThrowawayPostgres  # noqa: E402
from workload import contacts, journeys, registrations  # noqa: E402

BEFORE_POLICY = """version = "cn-default-2026-11"
warning_share = 0.75
[allowance_hours]
diamond  = { critical = 2,  high = 4,  medium = 12, low = 24 }
gold     = { critical = 4,  high = 8,  medium = 24, low = 48 }
silver   = { critical = 6,  high = 12, medium = 36, low = 72 }
vip      = { critical = 8,  high = 24, medium = 48, low = 96 }
ordinary = { critical = 12, high = 48, medium = 72, low = 120 }
"""
WATCHED_AT = datetime(2026, 12, 31, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def run_policy(backend: str, policy: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server = None
    name = f"bench_clocks_{policy.replace('-', '_')}"
    if backend == "postgresql":
        server = ThrowawayPostgres(settings=PG_SETTINGS).start()
        url = server.create_database(name)
    else:
        url = f"sqlite:///{workdir}/{name}.db"
    policy_file = ""
    if policy == "before":
        path = workdir / "before-policy.toml"
        path.write_text(BEFORE_POLICY, encoding="utf-8")
        policy_file = str(path)
    clock = Clock()
    hub = build(Settings(database_url=url, log_format="json", log_level="warning", sla_watch_interval_s=0,
                         sla_policy=policy_file, customer_cache_size=max(200_000, args.customers)), clock=clock)
    try:
        for batch in registrations(args.customers, 1000):
            hub.ingest.ingest(batch)
        for batch in contacts("cc", args.customers, args.customers, 1000, 1):  # for the raw reference's rows
            hub.ingest.ingest(batch)
        batches = list(journeys(args.customers, 0, args.complaints, 1000, 2))
        stored = sum(len(b) for b in batches)

        def ingest() -> None:
            for batch in batches:
                hub.ingest.ingest(batch)

        results: dict[str, Any] = {"policy": hub.sla_policy.version}
        results["ingest"] = timed(f"{backend} {policy} ingest", stored, ingest)
        head = int(hub.event_log.head_position())
        hub.projector.reset()
        results["catch_up"] = timed(f"{backend} {policy} catch-up", head, hub.projector.catch_up)
        clock.now = WATCHED_AT
        started = time.perf_counter()
        outcome = hub.sla_watcher.run_once()
        results["watch_pass"] = {"seconds": round(time.perf_counter() - started, 2), "warnings": outcome.warnings,
                                 "breaches": outcome.breaches}
        log(f"{backend} {policy} watcher pass: {results['watch_pass']}")
        hub.projector.catch_up()
        wanted = QueueFilter(statuses=("open",), sort="deadline")
        times = []
        for _ in range(300):
            t0 = time.perf_counter()
            hub.complaints.queue(wanted, 1, 20)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        results["queue_page_ms"] = {"p50": round(statistics.median(times), 2), "p99": round(times[int(len(times) * 0.99) - 1], 2)}
        if policy == "packaged":
            results["raw_executemany"] = raw_reference(backend, url, hub, 1000)
        return results
    finally:
        hub.close()
        if server is not None:
            server.stop()


def table(all_results: dict[str, dict[str, Any]]) -> str:
    rows = [
        ("policy", lambda r: r["policy"]),
        ("(1) complaint journeys stored, events/s", lambda r: f"{r['ingest']['per_s']:,} ({r['ingest']['count']:,} events)"),
        ("(2) catch-up from 0, events/s", lambda r: f"{r['catch_up']['per_s']:,}"),
        ("(3) watcher pass, s (events recorded)",
         lambda r: f"{r['watch_pass']['seconds']} ({r['watch_pass']['warnings'] + r['watch_pass']['breaches']:,})"),
        ("(4) queue page p50 / p99, ms", lambda r: f"{r['queue_page_ms']['p50']} / {r['queue_page_ms']['p99']}"),
        ("(5) raw executemany, rows/s", lambda r: f"{r['raw_executemany']['per_s']:,}" if "raw_executemany" in r else "—"),
    ]
    columns = list(all_results)
    lines = ["| measure | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(get(all_results[c]) for c in columns) + " |" for name, get in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--complaints", type=int, default=20000)
    args = parser.parse_args()
    configure_logging("json", "warning")
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            for policy in ("before", "packaged"):
                results[f"{backend}, {policy}"] = run_policy(backend, policy, args, Path(workdir))
    print(table(results))
    out = HERE / "results" / f"{datetime.now():%Y-%m-%d}-complaint-clocks.json"
    out.write_bytes(orjson.dumps({"command": " ".join(sys.argv), "args": vars(args), "results": results},
                                 option=orjson.OPT_INDENT_2))
    print(f"\nJSON: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
