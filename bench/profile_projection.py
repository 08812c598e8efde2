"""Where projection catch-up spends its time: seconds per phase (read, decode, each read model, commit).

    .venv/bin/python bench/profile_projection.py [--backend sqlite|postgresql] [--customers 10000]
        [--events 100000] [--cprofile]

Loads the benchmark workload (customers, contacts, then orders, complaints and tier changes)
into a fresh database (SQLite file, or a throwaway PostgreSQL server as `./dev bench` starts),
resets the read models and catches up once, timing each phase; `--cprofile` adds a profile
(which slows the run, so its total is not a throughput figure).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from phases import timed_phases  # noqa: E402
from run import PG_SETTINGS  # noqa: E402
from support.pgserver import ThrowawayPostgres  # noqa: E402
from workload import ingest_population  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=None, help="the projector's batch size (default: its own)")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=30, help="profile lines to print")
    args = parser.parse_args()
    configure_logging("json", "warning")
    server = None
    if args.backend == "postgresql":
        server = ThrowawayPostgres(settings=PG_SETTINGS).start()
        url = server.create_database("profile")
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/profile.db"
    try:
        hub = build(Settings(database_url=url, sla_watch_interval_s=0, customer_cache_size=max(200_000, args.customers)))
        head = ingest_population(hub, args.customers, args.events, "p")
        projector = hub.projector
        if args.batch_size:
            projector.batch_size = args.batch_size
        projector.reset()
        seconds = timed_phases(projector)
        profile = cProfile.Profile() if args.cprofile else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        projector.catch_up()
        if profile:
            profile.disable()
        total = time.perf_counter() - started
        print(f"{args.backend}: {head} events, catch-up {total:.2f} s = {head / total:,.0f} events/s"
              + (" (under cProfile)" if profile else ""))
        for name, spent in seconds.items():
            print(f"  {name:<20} {spent:7.2f} s  {spent / total:6.1%}")
        rest = total - sum(seconds.values())
        print(f"  {'locks, tracking, commit':<20} {rest:7.2f} s  {rest / total:6.1%}")
        if profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
        hub.close()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
