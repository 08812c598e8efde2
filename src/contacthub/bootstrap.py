"""The composition root: builds ContactHub the same way for the server, the CLI, the projector and the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

import structlog

from contacthub.adapters.integration.callbacks import HttpCallbacks
from contacthub.adapters.integration.notifications import READ_MODEL_WAIT_S, NotificationBodies
from contacthub.adapters.store.calendars import CalendarTable
from contacthub.adapters.store.chain import EventChain
from contacthub.adapters.store.database import compact_sqlite, parse_database_url
from contacthub.adapters.store.eventlog import CustomerLog
from contacthub.adapters.store.migrations import migrate
from contacthub.adapters.store.scratch import scratch_area, scratch_read_store
from contacthub.adapters.store.standby import ReadSide, open_standby
from contacthub.adapters.store.subscriptions import SubscriptionTable
from contacthub.config import Settings
from contacthub.domain.calendar import WorkingCalendar, use_calendar_source
from contacthub.domain.complaint import SlaPolicy
from contacthub.domain.order import JeopardyLimits
from contacthub.domain.sites import StaffDirectory
from contacthub.domain.subscriptions import parse_allowed_hosts
from contacthub.projections.base import Projection
from contacthub.projections.complaint_queries import ComplaintQueries
from contacthub.projections.complaint_view import ComplaintView
from contacthub.projections.customer_queries import CustomerQueries
from contacthub.projections.customer_view import CustomerView
from contacthub.projections.journey_queries import JourneyQueries
from contacthub.projections.journey_view import JourneyView
from contacthub.projections.metrics_queries import MetricsQueries
from contacthub.projections.metrics_view import MetricsView
from contacthub.projections.risk_queries import SnapshotUse
from contacthub.projections.runner import Projector
from contacthub.projections.sql import SQLITE
from contacthub.services.audit import Audit
from contacthub.services.complaint_actions import ComplaintActions
from contacthub.services.counter_work import CounterWork
from contacthub.services.erasure import Erasure
from contacthub.services.hub_delivery import HubDelivery, lease_for
from contacthub.services.ingest import IngestService
from contacthub.services.jeopardy_watch import JeopardyWatcher
from contacthub.services.risk_watch import RiskWatcher
from contacthub.services.sla_watch import SlaWatcher

log = structlog.get_logger(__name__)

SLA_WATCH_WAIT_S = 5.0
"""How long an SLA watcher pass waits for the read models to reach the log's end before skipping."""


@dataclass
class ContactHub:
    settings: Settings
    event_log: CustomerLog
    ingest: IngestService
    projector: Projector
    customers: CustomerQueries
    complaints: ComplaintQueries
    journeys: JourneyQueries
    metrics: MetricsQueries
    reads: ReadSide
    """Where the API's and the pages' reads come from (the primary, or a standby) and how far they have got."""
    sla_policy: SlaPolicy
    sites: StaffDirectory
    counter_work: CounterWork
    sla_watcher: SlaWatcher
    jeopardy_watcher: JeopardyWatcher
    risk_watcher: RiskWatcher
    complaint_actions: ComplaintActions
    chains: EventChain
    audit: Audit
    erasure: Erasure
    subscriptions: SubscriptionTable
    """Webhook subscriptions (`/v1/hub`, the TMF APIs' `/hub`) and their delivery positions."""
    hub_delivery: HubDelivery
    """Delivers them (services/hub_delivery.py), started with the projector (adapters/http/app.py)."""
    clock: Callable[[], datetime]

    def close(self) -> None:
        self.hub_delivery.callbacks.close()  # type: ignore[attr-defined]
        self.reads.close()
        self.event_log.close()


def read_models(zone: tzinfo | None = None) -> list[Projection]:
    # The journey view reads the customer view's timeline and the metrics view's tier history
    # (it waits for both: `reads_from`), so it comes last.
    # The metrics view dates contacts by local day in the operator's time zone.
    zone = zone or Settings().zone
    return [CustomerView(), ComplaintView(), MetricsView(zone), JourneyView()]


def build(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    partitions: int | None = None,
    only_partitions: Iterable[int] | None = None,
) -> ContactHub:
    """ContactHub on the configured database. `partitions` / `only_partitions`: how many
    partitions the read models are kept in (None: as stored) and which this process applies
    (None: all), for `contacthub project --workers` (projections/runner.py)."""
    settings = settings or Settings.from_env()
    sla_policy = settings.load_sla_policy()
    event_log = CustomerLog(parse_database_url(settings.database_url))
    try:
        return _assemble(settings, sla_policy, event_log, clock, partitions, only_partitions)
    except BaseException:
        # A database that cannot be opened (or a standby that cannot): its connection pool's
        # threads must not keep trying in a process that goes on (the CLI's error, a test).
        event_log.close()
        raise


def _assemble(
    settings: Settings,
    sla_policy: SlaPolicy,
    event_log: CustomerLog,
    clock: Callable[[], datetime],
    partitions: int | None,
    only_partitions: Iterable[int] | None,
) -> ContactHub:
    migrate(event_log.read_store)
    sites = settings.load_sites()
    calendars = CalendarTable(event_log.read_store)
    if isinstance(sla_policy.calendar, WorkingCalendar):
        calendars.keep(sla_policy.calendar)  # before any complaint pins it
        missing = sla_policy.calendar.years_missing(clock().astimezone(settings.zone).date())
        if missing:  # those years' holidays would count as working days, pinned on every complaint opened now
            log.warning("sla_calendar_year_missing", calendar=sla_policy.calendar.id, years=missing,
                        hint="add the State Council's holiday schedule for these years to the calendar file")
    use_calendar_source(calendars.find)
    projector = Projector(
        event_log, read_models(settings.zone), batch_size=settings.projector_batch_size, partitions=partitions,
        only=only_partitions,
    )
    deliverers: list[HubDelivery] = []  # the webhook deliverers, made below

    def recorded(_position: int) -> None:
        projector.wake.set()  # looked up on each call: `serve --workers` replaces it with a signal to the parent
        for deliverer in deliverers:
            deliverer.wake.set()

    ingest = IngestService(
        event_log,
        cache_size=settings.customer_cache_size,
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
        clock=clock,
        on_recorded=recorded,
        sla_policy=sla_policy,
        unidentified_look_back=timedelta(days=settings.unidentified_look_back_days),
    )
    # The API's and the pages' reads: from a standby when CONTACTHUB_READ_DATABASE_URL names one
    # (adapters/store/standby.py); the watchers decide from the primary's read models.
    standby = open_standby(settings.read_database_url, event_log.read_store) if settings.read_database_url else None
    serving = standby or event_log.read_store
    customers = CustomerQueries(serving, settings.zone, clock)
    watched = CustomerQueries(event_log.read_store, settings.zone, clock) if standby else customers
    risk_refresh = timedelta(seconds=settings.risk_refresh_s)
    if settings.risk_refresh_s > 0:  # the at-risk list "now" from the risk watcher's snapshot (services/risk_watch.py)
        for queries in (customers,) if watched is customers else (customers, watched):
            queries.risk.snapshot_use = SnapshotUse(
                max_age=2 * max(risk_refresh, timedelta(seconds=settings.sla_watch_interval_s)),
                read_models_position=projector.caught_up_to,
            )
    chains = EventChain(event_log.read_store)
    database_url = settings.database_url
    subscriptions = SubscriptionTable(event_log.read_store)
    allowed_hosts = parse_allowed_hosts(settings.callback_hosts)
    hub_delivery = HubDelivery(
        event_log, subscriptions, HttpCallbacks(settings.webhook_timeout_s),
        NotificationBodies(watched, watched.complaints, settings.zone, projector.wait_for, projector.caught_up_to),
        lambda: allowed_hosts, first_retry_s=settings.webhook_first_retry_s,
        lease_s=lease_for(settings.webhook_timeout_s, READ_MODEL_WAIT_S),
    )
    deliverers.append(hub_delivery)
    return ContactHub(
        settings=settings,
        event_log=event_log,
        ingest=ingest,
        projector=projector,
        customers=customers,
        complaints=customers.complaints,
        journeys=JourneyQueries(serving, settings.zone, clock),
        metrics=MetricsQueries(serving, settings.zone, clock),
        reads=ReadSide(projector, standby),
        sla_policy=sla_policy,
        sites=sites,
        sla_watcher=SlaWatcher(
            ingest,
            watched.complaints,
            clock,
            read_models_current=lambda: projector.wait_for(event_log.head_position(), SLA_WATCH_WAIT_S),
            breach_actions=sla_policy.breach_actions,
            sites=sites,
        ),
        jeopardy_watcher=JeopardyWatcher(
            ingest,
            JourneyQueries(event_log.read_store, settings.zone, clock),
            JeopardyLimits(days=settings.jeopardy_days, calls=settings.jeopardy_calls),
            clock,
            read_models_current=lambda: projector.wait_for(event_log.head_position(), SLA_WATCH_WAIT_S),
        ),
        risk_watcher=RiskWatcher(
            watched.risk,
            clock,
            risk_refresh,
            read_models_position=projector.caught_up_to,
            read_models_current=lambda: projector.wait_for(event_log.head_position(), SLA_WATCH_WAIT_S),
        ),
        complaint_actions=ComplaintActions(ingest, event_log, clock),
        counter_work=CounterWork(ingest, sites, clock),
        chains=chains,
        audit=Audit(
            event_log,
            chains,
            projector,
            read_models=lambda: read_models(settings.zone),
            private_store=scratch_read_store,
            scratch_area=lambda: scratch_area(event_log.read_store),
            zone=settings.zone,
            clock=clock,
        ),
        erasure=Erasure(
            ingest,
            projector,
            compact=(lambda: compact_sqlite(database_url)) if event_log.dialect == SQLITE else None,
        ),
        subscriptions=subscriptions,
        hub_delivery=hub_delivery,
        clock=clock,
    )
