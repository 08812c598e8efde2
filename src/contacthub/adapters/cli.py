"""The `contacthub` command: serve (cli_serve.py), project, rebuild, demo, migrate, watch, sla-watch, deliver, replay,
audit, forget, keys, calendar.

Errors end with one readable line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click
import structlog

from contacthub.adapters.cli_support import _Failure, _hub, _settings

log = structlog.get_logger(__name__)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ContactHub: every customer touchpoint as an immutable event, and the views built from them.

    Configure with environment variables; CONTACTHUB_DATABASE_URL selects the database
    (default sqlite:///contacthub.db).
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--projector/--no-projector", default=None, help="Run the projector in this process (default: CONTACTHUB_EMBEDDED_PROJECTOR, on).")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Server processes sharing the port (default: CONTACTHUB_WORKERS, 1); the projector and watchers run once, in this process.")
def serve(host: str, port: int, projector: bool | None, workers: int | None) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    from contacthub.adapters.cli_serve import serve as run_server

    run_server(host, port, projector, workers)


@main.command()
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Keep the read models in this many partitions by customer and run a worker process for each "
                   "(the partitions must stand at one position to be re-split; else rebuild).")
@click.option("--partition", default=None, metavar="I/N",
              help="Apply only partition I of N (one worker; run the others elsewhere).")
@click.option("--until-caught-up", is_flag=True, help="Exit once the log's end is reached instead of following it.")
def project(workers: int | None, partition: str | None, until_caught_up: bool) -> None:
    """Follow the log and keep the read models current, until stopped (SIGINT/SIGTERM).

    Without options, applies every partition the read models are stored in, in this process.
    """
    from contacthub.adapters.cli_project import parse_partition, run_partition, settle, supervise

    settings = _settings()
    if partition is not None and workers is not None:
        raise _Failure("--partition and --workers: give one or the other")
    if partition is not None:
        index, partitions = parse_partition(partition)
        run_partition(settings, index, partitions, _stop_on_signals(), until_caught_up=until_caught_up)
    elif workers is not None and workers > 1:
        settle(settings, workers)
        if not supervise(workers, _stop_on_signals(), until_caught_up=until_caught_up):
            raise _Failure("a projector worker kept failing: see its log")
    else:
        with _hub(settings, partitions=workers) as hub:
            if until_caught_up:
                hub.projector.catch_up()
            else:
                hub.projector.run(_stop_on_signals())


@main.command()
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Rebuild into this many partitions by customer, one worker process each.")
def rebuild(workers: int) -> None:
    """Rebuild every read model from the event log, with a progress bar."""
    from tqdm import tqdm

    from contacthub.adapters.cli_project import settle, supervise

    settings = _settings()
    if workers > 1:
        head = settle(settings, workers, reset=True)
        with _hub(settings, only_partitions=()) as hub, tqdm(total=head, unit="ev", desc="rebuild", file=sys.stderr) as bar:
            def progress() -> None:
                bar.n = min(hub.projector.caught_up_to(), head)
                bar.refresh()

            if not supervise(workers, _stop_on_signals(), until_caught_up=True, on_tick=progress):
                raise _Failure("a rebuild worker kept failing: see its log")
            progress()
            click.echo(f"rebuilt {len(hub.projector.projections)} read model(s) in {workers} partitions; "
                       f"position {hub.projector.caught_up_to()}")
        return
    with _hub(settings) as hub:
        head = hub.event_log.head_position()
        hub.projector.reset(partitions=1)
        with tqdm(total=head, unit="ev", desc="rebuild", file=sys.stderr) as bar:
            applied = hub.projector.catch_up(on_progress=bar.update)
        click.echo(f"rebuilt {len(hub.projector.projections)} read model(s) from {applied} events; position {hub.projector.caught_up_to()}")


@main.command()
@click.option("--once", is_flag=True, help="One pass of each watcher, then exit (for cron); default: watch until stopped.")
@click.option("--interval", default=None, type=click.FloatRange(0.1, 3600), help="Seconds between passes (default: CONTACTHUB_SLA_WATCH_INTERVAL_S, or 30).")
def watch(once: bool, interval: float | None) -> None:
    """Record complaint SLA warnings and breaches, and orders in jeopardy, as events (each once)."""
    from contacthub.services.watchers import run_watchers

    settings = _settings()
    with _hub(settings) as hub:
        if once:
            hub.projector.catch_up()  # each pass decides on current read models
            sla = hub.sla_watcher.run_once()
            hub.projector.catch_up()
            jeopardy = hub.jeopardy_watcher.run_once()
            hub.projector.catch_up()
            hub.risk_watcher.run_once()  # the at-risk snapshot, counted again
            click.echo(
                f"watch: {sla.warnings} warning(s), {sla.breaches} breach(es), "
                f"{jeopardy.flagged} order(s) in jeopardy recorded"
            )
            return
        run_watchers(
            (hub.sla_watcher, hub.jeopardy_watcher, hub.risk_watcher), _stop_on_signals(),
            interval or settings.sla_watch_interval_s or 30.0,
        )


@main.command()
def deliver() -> None:
    """Deliver webhook subscriptions until stopped (a server already does, unless CONTACTHUB_DELIVER_WEBHOOKS=false)."""
    settings = _settings()
    with _hub(settings) as hub:
        hub.hub_delivery.run(_stop_on_signals())


@main.command("sla-watch")
@click.option("--once", is_flag=True, help="One pass, then exit (for cron); default: watch until stopped.")
@click.option("--interval", default=None, type=click.FloatRange(0.1, 3600), help="Seconds between passes (default: CONTACTHUB_SLA_WATCH_INTERVAL_S, or 30).")
def sla_watch(once: bool, interval: float | None) -> None:
    """Record complaint SLA warnings and breaches as events, once per complaint and clock."""
    settings = _settings()
    with _hub(settings) as hub:
        if once:
            hub.projector.catch_up()  # decide on current read models
            outcome = hub.sla_watcher.run_once()
            click.echo(f"sla watch: {outcome.warnings} warning(s), {outcome.breaches} breach(es) recorded")
            return
        hub.sla_watcher.run(_stop_on_signals(), interval or settings.sla_watch_interval_s or 30.0)


@main.command()
def migrate() -> None:
    """Apply pending read-model migrations (also done on every start)."""
    from contacthub.adapters.store.migrations import migrate as apply_migrations

    settings = _settings()
    with _hub(settings) as hub:
        applied = apply_migrations(hub.event_log.read_store)
        click.echo(f"schema is current ({hub.event_log.dialect})" + (f"; applied earlier in this run: {applied}" if applied else ""))


@main.command()
@click.option("--customers", default=3000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--months", default=4, show_default=True, type=click.IntRange(1, 36))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 1000))
@click.option("--end", default=None,
              help="The history's last moment, e.g. 2026-11-20T18:00:00+08:00 (default: now, to the hour). "
                   "Without it, a database that already holds the demo is left as it is.")
def demo(customers: int, months: int, seed: int, batch_size: int, end: str | None) -> None:
    """Load a realistic operator population through the ingest path, its history ending now (the same --end
    twice: stored once)."""
    from datetime import datetime

    from tqdm import tqdm

    from contacthub.demo import CHINA_TIME, SHOWCASE_CUSTOMER, DemoPlan, estimate_event_count, generate_batches
    from contacthub.services.ingest import IngestRejected

    settings = _settings()
    last = _moment("--end", end) or datetime.now(CHINA_TIME).replace(minute=0, second=0, microsecond=0)
    plan = DemoPlan(customers=customers, months=months, seed=seed, end=last)
    with _hub(settings) as hub:
        hub.projector.catch_up()
        if end is None and hub.customers.customer_exists(SHOWCASE_CUSTOMER):
            click.echo("demo already loaded in this database: nothing recorded (start from an empty database for a "
                       "history ending now, or give the first load's --end to load it again)")
            from contacthub.adapters.cli_keys import print_demo_keys

            print_demo_keys(hub)
            return
        recorded = duplicates = 0
        with tqdm(total=estimate_event_count(plan), unit="ev", desc="ingest", file=sys.stderr) as bar:
            for batch in generate_batches(plan, batch_size):
                try:
                    outcome = hub.ingest.ingest(batch)
                except IngestRejected as rejected:
                    first = rejected.errors[0]
                    raise _Failure(f"demo batch refused ({rejected.status_code}): {first.field}: {first.message}") from None
                new = sum(1 for r in outcome.results if r.status == "recorded")
                recorded += new
                duplicates += len(batch) - new
                bar.update(len(batch))
        _catch_up(hub, "project")
        click.echo(f"demo loaded: {recorded} events recorded, {duplicates} already stored; log position {hub.event_log.head_position()}")
        click.echo(f"demo history ends {last.isoformat()} (to load it again: --end {last.isoformat()})")
        from contacthub.adapters.cli_keys import print_demo_keys

        print_demo_keys(hub)


def _moment(option: str, value: str | None) -> Any:
    """An RFC 3339 moment with its offset, or one readable line saying what is wrong."""
    from datetime import datetime

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Failure(f"{option}: {value!r} is not a moment like 2026-05-03T14:03:00+08:00") from None
    if moment.tzinfo is None:
        raise _Failure(f"{option}: {value!r} needs a time zone offset, e.g. +08:00") from None
    return moment


def _summary(payload: dict[str, Any]) -> str:
    """The few fields that say what an event was about, for the replay timeline."""
    keys = ("channel", "direction", "reason", "outcome", "order_id", "service", "complaint_id", "status", "tier",
            "by", "handled_by", "satisfaction", "resolution")
    return " ".join(f"{k}={payload[k]}" for k in keys if payload.get(k) not in (None, "", []))


@main.command()
@click.argument("customer_id")
@click.option("--as-of", help="As ContactHub knew it at this moment (recorded time), e.g. 2026-05-03T14:03:00+08:00.")
@click.option("--as-of-position", type=click.IntRange(0), help="As ContactHub knew it at this log position.")
@click.option("--occurred-before", help="What had happened by this moment, as known today.")
@click.option("--json", "as_json", is_flag=True, help="Print the replayed state as JSON instead of a timeline.")
def replay(customer_id: str, as_of: str | None, as_of_position: int | None, occurred_before: str | None,
           as_json: bool) -> None:
    """A customer's history and state as of a moment, rebuilt from the event log alone."""
    import orjson

    from contacthub.projections.replay import Moment
    from contacthub.services.audit import UnknownCustomer, history_item

    try:
        moment = Moment(as_of=_moment("--as-of", as_of), as_of_position=as_of_position,
                        occurred_before=_moment("--occurred-before", occurred_before))
    except ValueError as problem:
        raise _Failure(str(problem)) from None
    with _hub(_settings()) as hub:
        try:
            state = hub.audit.state_as_of(customer_id, moment)
        except UnknownCustomer:
            raise _Failure(f"no customer {customer_id}") from None
        if state is None:
            raise _Failure(f"customer {customer_id} was not yet registered at that moment")
        events = state.pop("events")
        if as_json:
            click.echo(orjson.dumps(state, option=orjson.OPT_INDENT_2).decode())
            return
        zone = hub.settings.zone
        view = state["customer"]
        basis = {"recorded": "as ContactHub knew it at", "occurred": "as it had happened by", "now": "now,"}[state["basis"]]
        click.echo(f"{customer_id} {view.get('name', '')} — {basis} {state['moment']} "
                   f"({state['events_applied']} events, last log position {state['last_position']})")
        click.echo(f"{'position':>9}  {'recorded':<25}  {'occurred':<25}  event")
        for position, event in events:
            item = history_item(position, event, zone)
            click.echo(f"{position:>9}  {item['recorded_at']:<25}  {item['occurred_at']:<25}  "
                       f"{item['type']} {item['event_id']}  {_summary(item['payload'])}")
        click.echo(f"tier: {view.get('tier')}  msisdns: {', '.join(view.get('msisdns', []))}")
        for order in view.get("open_orders", []):
            click.echo(f"open order {order['order_id']}: {order['status']}, pending {', '.join(order['pending']) or '-'}")
        for complaint in state["complaints"]:
            sla = complaint.get("sla") or {}
            click.echo(f"complaint {complaint['complaint_id']}: {complaint['status']}, owner {complaint['owner']}, "
                       f"SLA {sla.get('state', '-')}")


def _catch_up(hub: Any, desc: str) -> None:
    from tqdm import tqdm

    behind = hub.event_log.head_position() - hub.projector.caught_up_to()
    with tqdm(total=max(behind, 0), unit="ev", desc=desc, file=sys.stderr) as bar:
        update: Callable[[int], Any] = bar.update
        hub.projector.catch_up(on_progress=update)


@main.group()
def calendar() -> None:
    """SLA working calendars: working hours, public holidays and adjusted working days (调休)."""


@calendar.command("check")
@click.argument("source")
def calendar_check(source: str) -> None:
    """Check a calendar file (or a packaged calendar by name, e.g. cn-national): one line per problem."""
    from contacthub.config import ConfigurationError, load_calendar

    try:
        found = load_calendar(source)
    except ConfigurationError as problems:
        for line in str(problems).splitlines():
            click.echo(f"contacthub: {line}", err=True)
        raise SystemExit(1) from None
    click.echo(f"calendar {source}: {found.summary()}")
    from datetime import date

    missing = found.years_missing(date.today())
    if missing:
        click.echo(f"calendar {source}: does not declare {', '.join(map(str, missing))}: those years' holidays "
                   "count as working days until they are added")


from contacthub.adapters.cli_audit import audit, forget  # noqa: E402

main.add_command(audit)
main.add_command(forget)

from contacthub.adapters.cli_keys import keys  # noqa: E402  (the `keys` group; it imports this module lazily)

main.add_command(keys)

if __name__ == "__main__":
    main()
