"""Where projection catch-up spends its time: seconds per read model, and a cProfile of the run.

    .venv/bin/python bench/profile_projection.py [--customers 10000] [--events 100000]

Loads the benchmark workload into a fresh SQLite file (customers, contacts, then orders,
complaints and tier changes), resets the read models, and catches up once under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from workload import ingest_population  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=25, help="profile lines to print")
    args = parser.parse_args()
    configure_logging("json", "warning")
    folder = tempfile.mkdtemp()
    hub = build(Settings(database_url=f"sqlite:///{folder}/profile.db", sla_watch_interval_s=0))
    head = ingest_population(hub, args.customers, args.events, "p")
    hub.projector.reset()
    seconds: dict[str, float] = {}
    for projection in hub.projector.projections:
        apply = projection.apply

        def timed(sql: Any, events: Any, apply: Any = apply, name: str = projection.name) -> None:
            started = time.perf_counter()
            apply(sql, events)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started

        projection.apply = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    profile = cProfile.Profile()
    profile.enable()
    hub.projector.catch_up()
    profile.disable()
    total = time.perf_counter() - started
    print(f"events {head}, catch-up {total:.1f} s (under cProfile)")
    for name, spent in seconds.items():
        print(f"  {name:<20} {spent:6.1f} s")
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    hub.close()


if __name__ == "__main__":
    main()
