"""The composition root: builds ContactHub the same way for the server, the CLI, the projector and the tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from contacthub.adapters.store.database import parse_database_url
from contacthub.adapters.store.eventlog import CustomerLog
from contacthub.adapters.store.migrations import migrate
from contacthub.config import Settings
from contacthub.ingest import IngestService
from contacthub.projections.customer_queries import CustomerQueries
from contacthub.projections.customer_view import CustomerView
from contacthub.projections.runner import Projector


@dataclass
class ContactHub:
    settings: Settings
    event_log: CustomerLog
    ingest: IngestService
    projector: Projector
    customers: CustomerQueries

    def close(self) -> None:
        self.event_log.close()


def read_models() -> list[CustomerView]:
    return [CustomerView()]


def build(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> ContactHub:
    settings = settings or Settings.from_env()
    event_log = CustomerLog(parse_database_url(settings.database_url))
    migrate(event_log.read_store)
    projector = Projector(event_log, read_models(), batch_size=settings.projector_batch_size)
    ingest = IngestService(
        event_log,
        cache_size=settings.customer_cache_size,
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
        clock=clock,
        on_recorded=lambda _position: projector.wake.set(),
    )
    return ContactHub(
        settings=settings,
        event_log=event_log,
        ingest=ingest,
        projector=projector,
        customers=CustomerQueries(event_log.read_store, settings.zone, clock),
    )
