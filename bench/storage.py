"""Storage per event on PostgreSQL: what one event costs on disk in the log, its keys, its chain and the read models.

    .venv/bin/python bench/storage.py                      # 100,000 customers, about 1,000,000 events
    .venv/bin/python bench/storage.py --customers 10000 --contacts 90000

Loads the benchmark's population (bench/workload.py: registrations, contacts, orders,
complaints, tier changes) through the domain into a throwaway PostgreSQL server, applies every
read model, VACUUMs, and reports each table's size (heap with TOAST, and indexes) in bytes per
event of the log. Writes a table to stdout and JSON to bench/results/<date>-storage.json.
"""

from __future__ import annotations

import argparse
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
from support.pgserver import ThrowawayPostgres  # noqa: E402
from workload import ingest_population  # noqa: E402

GROUPS = {
    "contacthub_events": "the log (events)",
    "ingest_keys": "idempotency keys",
    "customer_claims": "claims (msisdn, order, complaint)",
    "event_chain": "hash chain",
    "customer_keys": "per-customer encryption keys",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=900_000)
    args = parser.parse_args()
    configure_logging(Settings(log_format="console", log_level="warning"))
    server = ThrowawayPostgres(settings={"fsync": "on", "shared_buffers": "1GB", "max_wal_size": "4GB"}).start()
    try:
        url = server.create_database("storage")
        hub = build(Settings(database_url=url, customer_cache_size=max(200_000, args.customers)))
        started = time.monotonic()
        head = ingest_population(hub, args.customers, args.contacts, "storage")
        hub.projector.catch_up()
        loaded_s = time.monotonic() - started
        hub.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            rows = conn.execute(
                "SELECT c.relname, pg_table_size(c.oid) AS heap, pg_indexes_size(c.oid) AS indexes, "
                "c.reltuples::bigint AS rows FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC"
            ).fetchall()
            database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    finally:
        server.stop()
    tables = [{"table": name, "rows": int(n), "heap_bytes": int(heap), "index_bytes": int(indexes),
               "bytes_per_event": round((heap + indexes) / head, 1)} for name, heap, indexes, n in rows]
    groups: dict[str, float] = {}
    for t in tables:
        group = GROUPS.get(t["table"], "read models" if t["table"].startswith("rm_") else "other (keys, access log, ...)")
        groups[group] = groups.get(group, 0.0) + t["heap_bytes"] + t["index_bytes"]
    report: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python bench/storage.py " + " ".join(sys.argv[1:]),
        "customers": args.customers, "log_events": head, "load_and_project_s": round(loaded_s, 1),
        "database_bytes": int(database), "database_bytes_per_event": round(database / head, 1),
        "groups_bytes_per_event": {g: round(b / head, 1) for g, b in sorted(groups.items(), key=lambda kv: -kv[1])},
        "tables": tables,
    }
    print(f"{head:,} events over {args.customers:,} customers; database {database / 2**20:,.0f} MiB, "
          f"{database / head:,.0f} bytes per event")
    print(f"{'part':<40} {'bytes/event':>12}")
    for group, per_event in report["groups_bytes_per_event"].items():
        print(f"{group:<40} {per_event:>12,.1f}")
    print(f"\n{'table':<28} {'rows':>12} {'heap MiB':>10} {'index MiB':>10} {'bytes/event':>12}")
    for t in tables[:25]:
        print(f"{t['table']:<28} {t['rows']:>12,} {t['heap_bytes'] / 2**20:>10,.1f} {t['index_bytes'] / 2**20:>10,.1f} "
              f"{t['bytes_per_event']:>12,.1f}")
    out = HERE / "results" / f"{datetime.now(timezone.utc):%Y-%m-%d}-storage.json"
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
