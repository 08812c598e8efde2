"""What synchronous replication costs a writer: ingest on a local pg_auto_failover cluster with
`synchronous_commit` at `local`, `on` (pg_auto_failover's synchronous standby) and `remote_apply`.

    .venv/bin/python bench/cluster_commit.py                 # 3 rounds of 100,000 events per setting
    .venv/bin/python bench/cluster_commit.py --events 20000 --rounds 2

A writer picks the setting with its URL: `...?target_session_attrs=read-write&options=-c%20synchronous_commit%3Dremote_apply`.
With `remote_apply` a commit returns once a standby has applied it, so a read on that standby
never waits for `min_position`; with `on` it returns once a standby has flushed it.

The cluster is the tests' (tests/support/pgcluster.py: a monitor, a primary and two standbys on
this machine, `fsync=off`): every node shares the same 2 cores and there is no network, so the
figures show the protocol's extra round trip and the standby's apply, not a real network's
latency. Each round runs every setting once, in turn (alternating against CPU steal), first
through the domain (IngestService, 1,000-event batches) and then as raw `executemany` of the
same number of rows in 1,000-row transactions (the physical reference). Writes a table and
bench/results/<date>-cluster-commit.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))

from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from support.pgcluster import ThrowawayCluster  # noqa: E402
from workload import contacts, registrations  # noqa: E402

MODES = ("local", "on", "remote_apply")
CUSTOMERS = 20_000


def with_commit_mode(url: str, mode: str) -> str:
    return f"{url}&options=-c%20synchronous_commit%3D{mode}"


def domain_round(url: str, mode: str, events: int, round_no: int) -> float:
    hub = build(Settings(database_url=with_commit_mode(url, mode), sla_watch_interval_s=0))
    try:
        batches = list(contacts(f"r{round_no}-{mode}", events, CUSTOMERS, 1000, round_no))
        started = time.perf_counter()
        for batch in batches:
            hub.ingest.ingest(batch)
        return events / (time.perf_counter() - started)
    finally:
        hub.close()


def raw_round(node_url: str, mode: str, events: int) -> float:
    rows = [(f"raw-{i}", i, "contact.logged", b"x" * 400) for i in range(events)]
    with psycopg.connect(node_url, autocommit=True) as conn:
        conn.execute(f"SET synchronous_commit = {mode}")
        conn.execute("CREATE TABLE IF NOT EXISTS raw_reference (id text, version bigint, topic text, state bytea)")
        conn.execute("TRUNCATE raw_reference")
        started = time.perf_counter()
        for start in range(0, events, 1000):
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany("INSERT INTO raw_reference VALUES (%s, %s, %s, %s)", rows[start:start + 1000])
        return events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per round and setting")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_logging(Settings(log_format="console", log_level="warning"))
    cluster = ThrowawayCluster(standbys=2).start()
    results: dict[str, dict[str, list[float]]] = {mode: {"domain": [], "raw": []} for mode in MODES}
    try:
        url = cluster.create_database("bench")
        hub = build(Settings(database_url=url, sla_watch_interval_s=0))
        for batch in registrations(CUSTOMERS, 1000):
            hub.ingest.ingest(batch)
        hub.close()
        primary = cluster.primary().url("bench")
        for round_no in range(1, args.rounds + 1):
            for mode in MODES:
                results[mode]["domain"].append(domain_round(url, mode, args.events, round_no))
                results[mode]["raw"].append(raw_round(primary, mode, args.events))
                print(f"round {round_no} {mode:<13} domain {results[mode]['domain'][-1]:>9,.0f}/s  "
                      f"raw {results[mode]['raw'][-1]:>9,.0f}/s", flush=True)
        standby_states = cluster.states()
    finally:
        cluster.stop()
    report: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python bench/cluster_commit.py " + " ".join(sys.argv[1:]),
        "events_per_round": args.events, "rounds": args.rounds, "cluster": standby_states,
        "per_mode": {mode: {kind: {"median_per_s": round(statistics.median(v)), "runs_per_s": [round(x) for x in v]}
                            for kind, v in kinds.items()} for mode, kinds in results.items()},
    }
    base = report["per_mode"]["local"]["domain"]["median_per_s"]
    print(f"\n{'synchronous_commit':<20} {'domain events/s':>16} {'vs local':>9} {'raw rows/s':>12}")
    for mode in MODES:
        d = report["per_mode"][mode]["domain"]["median_per_s"]
        r = report["per_mode"][mode]["raw"]["median_per_s"]
        print(f"{mode:<20} {d:>16,} {d / base:>9.2f} {r:>12,}")
    out = HERE / "results" / f"{datetime.now(timezone.utc):%Y-%m-%d}-cluster-commit.json"
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
