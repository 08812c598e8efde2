"""Where domain ingest (IngestService.ingest) spends its time: events/s, seconds per phase, and a cProfile.

    .venv/bin/python bench/profile_ingest.py [--backend sqlite|postgresql|both] [--customers 20000]
        [--events 100000] [--phase-events 50000] [--profile-events 20000] [--top 30] [--unknown-events 0]

Per backend (PostgreSQL is a throwaway local server with bench/run.py's settings, fsync on;
SQLite a file in a temp dir), through `hub.ingest.ingest` in batches of 1,000 as bench/run.py's
(1), with bench/workload.py's events:

1. registers `--customers` customers;
2. posts `--events` contact.logged events, plain: the events/s to compare; then, unless
   --no-raw, inserts the same stored rows with plain executemany (bench/run.py's (5)) for
   the ratio the target names; then `--unknown-events` more, 1 in 20 from a number nobody
   holds (unknown callers: those batches are decided on the careful path);
3. posts `--profile-events` more under cProfile and prints its top list by own time
   (cProfile slows Python code down about twofold, the database not at all: read it for
   proportions within Python, not against the database);
4. posts `--phase-events` more with timers around each step of the write path, and prints
   the phase table: wall seconds inside each step (indented rows are inside the row above
   them; "self" is the time outside the rows below). The timers add about a microsecond per
   timed call (several per event), so this run is a little slower than (2).

Other processes share the CPU: run twice and expect about +-10% between runs.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the throwaway PostgreSQL server helper
sys.path.insert(0, str(HERE))

from eventsourcing.sqlite import SQLiteApplicationRecorder  # noqa: E402

from contacthub.adapters.store import chain, keyring  # noqa: E402
from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from contacthub.services import ingest  # noqa: E402
from run import PG_SETTINGS, raw_reference  # noqa: E402
from support.pgserver import ThrowawayPostgres  # noqa: E402
from workload import contacts, registrations  # noqa: E402


class GcTimer:
    """Seconds spent in the cyclic garbage collector, per generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.runs[info["generation"]] += 1

    def reset(self) -> None:
        self.seconds, self.runs = [0.0, 0.0, 0.0], [0, 0, 0]

    def line(self, events: int) -> str:
        per_event = sum(self.seconds) / events * 1e6
        runs = ", ".join(f"gen{g} {n} runs {s:.2f} s" for g, (n, s) in enumerate(zip(self.runs, self.seconds, strict=True)))
        return f"garbage collector: {per_event:.1f} us/event ({runs})"


class PhaseTimer:
    """Inclusive and self seconds per named phase, nesting by call stack."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.inner: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.parent: dict[str, str | None] = {}
        self.order: list[str] = []
        self._stack: list[str] = []
        self.enabled = False

    def _enter(self, name: str) -> None:
        if name not in self.total:
            self.total[name] = self.inner[name] = 0.0
            self.calls[name] = 0
            self.parent[name] = self._stack[-1] if self._stack else None
            self.order.append(name)
        self._stack.append(name)

    def _leave(self, name: str, spent: float) -> None:
        self._stack.pop()
        self.total[name] += spent
        self.calls[name] += 1
        if self._stack:
            self.inner[self._stack[-1]] += spent

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled:
                return original(*args, **kwargs)
            self._enter(name)
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                self._leave(name, clock() - started)

        setattr(owner, attribute, timed)

    def wrap_cm(self, owner: Any, attribute: str, name: str) -> None:
        """A context-manager method: time its entry and its exit, not the block."""
        original = getattr(owner, attribute)
        timer = self

        @contextmanager
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            manager = original(*args, **kwargs)
            with timer.phase(name):
                value = manager.__enter__()
            try:
                yield value
            except BaseException:
                with timer.phase(name):
                    if not manager.__exit__(*sys.exc_info()):
                        raise
            else:
                with timer.phase(name):
                    manager.__exit__(None, None, None)

        setattr(owner, attribute, timed)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self._enter(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self._leave(name, time.perf_counter() - started)

    def table(self, wall: float, events: int) -> str:
        lines = [f"{'phase':<46} {'calls':>7} {'seconds':>8} {'self s':>7} {'us/event':>9} {'self us':>8} {'% wall':>7}"]

        def depth(name: str) -> int:
            d, p = 0, self.parent[name]
            while p is not None:
                d, p = d + 1, self.parent[p]
            return d

        def emit(parent: str | None) -> None:
            for name in self.order:
                if self.parent[name] == parent:
                    t = self.total[name]
                    own = t - self.inner[name]
                    label = "  " * depth(name) + name
                    lines.append(f"{label:<46} {self.calls[name]:>7} {t:>8.2f} {own:>7.2f} "
                                 f"{t / events * 1e6:>9.1f} {own / events * 1e6:>8.1f} {t / wall * 100:>6.1f}%")
                    emit(name)

        emit(None)
        return "\n".join(lines)


def instrument(hub: Any, timer: PhaseTimer) -> None:
    """Timers around each step of the write path (on this hub's objects and on the modules they call).

    A step the code in hand does not have is left out (this script also profiles older trees)."""
    service = hub.ingest
    event_log = hub.event_log
    recorder = event_log.recorder
    recorder_module = sys.modules[type(recorder).__module__]

    def w(owner: Any, attribute: str, name: str) -> None:
        if hasattr(owner, attribute):
            timer.wrap(owner, attribute, name)

    w(service, "ingest", "ingest")
    w(service, "_validate", "validate (pydantic)")
    w(ingest, "content_digest", "digest of posted JSON")
    w(service, "_store", "store (under the process lock)")
    timer.wrap_cm(event_log, "deciding", "writers' lock (take + release)")
    w(service, "_decide_and_store", "decide and store")
    w(service, "_resolve_customers", "resolve msisdns")
    w(event_log, "lookup_claims", "claims lookup (query)")
    w(service, "_load", "load customers")
    w(event_log, "load_customers", "load from log (query + replay)")
    w(service, "_apply", "decide (domain command)")
    w(service, "_check_claims", "check claims")
    w(event_log, "record", "record")
    w(event_log.keys, "fetch", "customer keys lookup (query)")
    w(event_log.mapper, "to_stored_event", "encode + encrypt (mapper)")
    w(keyring, "seal", "encrypt a field (AES-GCM)")
    w(recorder, "insert_events", "recorder: one transaction, committed")
    if hasattr(recorder, "_write_batch"):  # PostgreSQL, pipelined
        w(recorder, "_write_batch", "lock, positions (waited for), rows sent")
        w(recorder_module, "_insert", "bulk insert statements (sent)")
        w(recorder_module, "new_links", "hash chain")
    else:
        w(recorder, "_insert_events", "keys, claims, customer keys (+ table lock)")
        w(recorder, "_lock_table", "table lock")
        if hasattr(recorder, "_insert_stored_events"):
            w(recorder, "_insert_stored_events", "events insert")
        else:  # SQLite, older trees: the library's insert, reached through super() from ours
            w(SQLiteApplicationRecorder, "_insert_events", "events insert")
        w(recorder, "_fetch_ids_after_insert_events", "positions")
        w(recorder_module, "link_new_events", "hash chain")
        w(chain, "new_links", "links computed")
    w(chain, "previous_links", "previous links (query)")
    w(chain, "chain_hashes", "hashing (sha256)")
    w(chain, "extend_chain", "hashing (sha256)")


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    server = None
    if backend == "postgresql":
        server = ThrowawayPostgres(settings=PG_SETTINGS).start()
        url = server.create_database("profile")
    else:
        url = f"sqlite:///{workdir}/profile.db"
    try:
        gc_timer = GcTimer()
        hub = build(Settings(database_url=url, sla_watch_interval_s=0, customer_cache_size=max(200_000, args.customers)))
        started = time.perf_counter()
        for batch in registrations(args.customers, 1000):
            hub.ingest.ingest(batch)
        registration = time.perf_counter() - started
        print(f"\n=== {backend}: registration {args.customers} customers in {registration:.2f} s "
              f"= {args.customers / registration:,.0f}/s")

        batches = list(contacts("plain", args.events, args.customers, 1000, 1))
        gc_timer.reset()
        started, cpu_started = time.perf_counter(), time.process_time()
        for batch in batches:
            hub.ingest.ingest(batch)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        rate = args.events / wall
        print(f"=== {backend}: domain ingest {args.events} contact events in {wall:.2f} s = {rate:,.0f} events/s "
              f"({wall / args.events * 1e6:.1f} us/event; this process's CPU {cpu / args.events * 1e6:.1f} us/event, "
              "the rest is waiting for the database and for the CPU)")
        print(f"    {gc_timer.line(args.events)}")
        raw = raw_reference(backend, url, hub, 1000)["per_s"] if args.raw else 0.0
        if raw:
            print(f"    raw executemany of the same stored rows (bench/run.py's (5)): {raw:,.0f} rows/s; "
                  f"ingest / raw = {rate / raw:.2f}")

        unknown_rate = 0.0
        if args.unknown_events:
            # Every 20th contact from a number nobody holds (an unknown caller, docs/events.md §3.13):
            # such a batch is decided on the careful path (the writers' lock held alone, its
            # customers loaded fresh), so nearly every batch of this run is.
            batches = list(contacts("unknown", args.unknown_events, args.customers, 1000, 4))
            for b, batch in enumerate(batches):
                for i in range(0, len(batch), 20):
                    batch[i] = {**{k: v for k, v in batch[i].items() if k not in ("customer_id", "msisdn")},
                                "msisdn": f"170{b * 1000 + i:08d}"}
            started = time.perf_counter()
            for batch in batches:
                hub.ingest.ingest(batch)
            unknown_wall = time.perf_counter() - started
            unknown_rate = args.unknown_events / unknown_wall
            print(f"=== {backend}: {args.unknown_events} contact events, 1 in 20 from a number nobody holds, in "
                  f"{unknown_wall:.2f} s = {unknown_rate:,.0f} events/s")

        if args.profile_events:
            profile = cProfile.Profile()
            batches = list(contacts("profiled", args.profile_events, args.customers, 1000, 3))
            profile.enable()
            for batch in batches:
                hub.ingest.ingest(batch)
            profile.disable()
            print(f"\n=== {backend}: cProfile of {args.profile_events} more contact events, by tottime")
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
        if args.phase_events:
            timer = PhaseTimer()
            instrument(hub, timer)  # only now: the plain run above has no wrappers at all
            timer.enabled = True
            started = time.perf_counter()
            for batch in contacts("phased", args.phase_events, args.customers, 1000, 2):
                hub.ingest.ingest(batch)
            wall = time.perf_counter() - started
            timer.enabled = False
            print(f"\n=== {backend}: phases of {args.phase_events} more contact events, {wall:.2f} s with the timers "
                  f"= {args.phase_events / wall:,.0f} events/s")
            print(timer.table(wall, args.phase_events))

        hub.close()
        gc.callbacks.remove(gc_timer._callback)
        return {"registration_per_s": args.customers / registration, "ingest_per_s": rate,
                "cpu_us": cpu / args.events * 1e6, "raw_per_s": raw, "unknown_callers_per_s": unknown_rate}
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--phase-events", type=int, default=50_000, help="contact events with phase timers (0: none)")
    parser.add_argument("--profile-events", type=int, default=20_000, help="contact events under cProfile (0: none)")
    parser.add_argument("--top", type=int, default=30, help="profile lines to print")
    parser.add_argument("--unknown-events", type=int, default=0,
                        help="contact events of which 1 in 20 come from a number nobody holds (0: none)")
    parser.add_argument("--no-raw", dest="raw", action="store_false", help="skip the raw executemany reference")
    args = parser.parse_args()
    configure_logging("json", "warning")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    summary: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="contacthub-profile-") as workdir:
        for backend in backends:
            summary[backend] = run_backend(backend, args, Path(workdir))
    print("\n=== summary (events/s; other processes share the CPU: expect +-10% between runs)")
    for backend, result in summary.items():
        print(f"  {backend:<11} registration {result['registration_per_s']:>8,.0f}/s   "
              f"domain ingest {result['ingest_per_s']:>8,.0f} events/s (CPU {result['cpu_us']:.1f} us/event)"
              + (f"   raw executemany {result['raw_per_s']:>8,.0f} rows/s   ratio {result['ingest_per_s'] / result['raw_per_s']:.2f}"
                 if result["raw_per_s"] else ""))


if __name__ == "__main__":
    main()
