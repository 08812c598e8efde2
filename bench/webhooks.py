"""What telling other systems costs: the change feed and webhook delivery, beside the physical reference.

    .venv/bin/python bench/webhooks.py --backend postgresql --customers 2000 --events 20000

Per backend, over a log of registrations, contacts, orders and complaints stored through the
ingest service:
 (1) the change feed read from position 0 to the head, 1,000 events a page (`feed_page`, as
     `GET /v1/feed` answers it, without HTTP), events/s;
 (2) webhook delivery of every event to one subscription (the native API) on a local receiver
     that answers 204 at once, from position 0 until the subscription's position is the head,
     events/s (one request per event, each signed and its position stored);
 (3) the same with four subscriptions at once, events/s summed over them;
 (4) a TMF621 subscription over the same log (only complaint events give notifications; every
     other event is passed over), log events/s;
 (5) the stored contact rows inserted raw with executemany (bench/run.py's physical reference), rows/s.
Prints a table; writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from contacthub.adapters.api.feed import feed_page  # noqa: E402
from contacthub.adapters.store.api_keys import ApiKeys  # noqa: E402
from contacthub.bootstrap import build  # noqa: E402
from contacthub.config import Settings  # noqa: E402
from contacthub.domain.roles import Principal, Role  # noqa: E402
from contacthub.logs import configure_logging  # noqa: E402
from run import PG_SETTINGS, log, raw_reference, timed  # noqa: E402
from support.pgserver import ThrowawayPostgres  # noqa: E402
from workload import ingest_population  # noqa: E402


class Receiver:
    """A local HTTP server that answers every POST with 204 and counts them."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection per subscription, as a real receiver would

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.count += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def deliver_all(hub: Any, receiver: Receiver, api: str, subscriptions: int) -> dict[str, Any]:
    """Subscriptions from position 0; the deliverer runs until each one's position is the head."""
    head = hub.event_log.head_position()
    made = [hub.subscriptions.create(api, f"http://127.0.0.1:{receiver.port}/{api}/{i}", "", "s" * 32, "bench",
                                     "bench", 0, hub.clock()).subscription_id for i in range(subscriptions)]
    before = receiver.count
    stop = threading.Event()
    runner = threading.Thread(target=hub.hub_delivery.run, args=(stop, 0.05), daemon=True)

    def until_delivered() -> None:
        runner.start()
        while True:
            states = [hub.subscriptions.get(s) for s in made]
            if all(s is not None and s.position >= head for s in states):
                return
            time.sleep(0.05)

    result = timed(f"deliver {api} x{subscriptions}", head * subscriptions, until_delivered)
    stop.set()
    runner.join(10)
    for subscription in made:
        hub.subscriptions.delete(subscription, None, "bench", "bench", hub.clock())
    result["requests"] = receiver.count - before
    return result


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server = None
    if backend == "postgresql":
        server = ThrowawayPostgres(settings=PG_SETTINGS).start()
        url = server.create_database("bench_webhooks")
    else:
        url = f"sqlite:///{workdir}/bench_webhooks.db"
    receiver = Receiver()
    hub = build(Settings(database_url=url, log_format="json", log_level="warning", sla_watch_interval_s=0,
                         callback_hosts=f"127.0.0.1:{receiver.port}"))
    try:
        head = ingest_population(hub, args.customers, args.events, "wh")
        log(f"{backend}: {head} events stored")
        hub.projector.catch_up()  # the TMF621 notifications read the complaint read model
        ApiKeys(hub.event_log.read_store).create(Role.INTEGRATION, "bench", None)
        reader = Principal(key_id="bench", name="bench", role=Role.INTEGRATION)

        def read_feed() -> None:
            after = 0
            while after < head:
                after = feed_page(hub, reader, after, 1000, frozenset())["next_after"]

        results: dict[str, Any] = {"events": head}
        results["feed"] = timed("feed", head, read_feed)
        results["deliver_1"] = deliver_all(hub, receiver, "contacthub", 1)
        results["deliver_4"] = deliver_all(hub, receiver, "contacthub", 4)
        results["deliver_tmf621"] = deliver_all(hub, receiver, "troubleTicket", 1)
        results["raw_executemany"] = raw_reference(backend, url, hub, 1000)
        return results
    finally:
        hub.close()
        if server is not None:
            server.stop()


def table(all_results: dict[str, dict[str, Any]]) -> str:
    rows = [
        ("log events", lambda r: f"{r['events']:,}"),
        ("(1) change feed, events/s", lambda r: f"{r['feed']['per_s']:,}"),
        ("(2) webhooks, 1 subscription, events/s", lambda r: f"{r['deliver_1']['per_s']:,}"),
        ("(3) webhooks, 4 subscriptions, events/s (sum)", lambda r: f"{r['deliver_4']['per_s']:,}"),
        ("(4) TMF621 subscription, log events/s", lambda r: f"{r['deliver_tmf621']['per_s']:,} "
                                                          f"({r['deliver_tmf621']['requests']:,} requests)"),
        ("(5) raw executemany, rows/s", lambda r: f"{r['raw_executemany']['per_s']:,}"),
    ]
    backends = list(all_results)
    lines = ["| measure | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
    lines += [f"| {name} | " + " | ".join(get(all_results[b]) for b in backends) + " |" for name, get in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000, help="contact events (orders and complaints are added)")
    args = parser.parse_args()
    configure_logging("json", "warning")
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            results[backend] = run_backend(backend, args, Path(workdir))
    print(table(results))
    out = HERE / "results" / f"{datetime.now():%Y-%m-%d}-webhooks.json"
    out.write_bytes(orjson.dumps({"command": " ".join(sys.argv), "args": vars(args), "results": results},
                                 option=orjson.OPT_INDENT_2))
    print(f"\nJSON: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
