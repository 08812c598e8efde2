"""The jeopardy watcher: records order.jeopardy once per order in progress past a limit (TMF622's jeopardy alert).

It asks the journey read model which orders, not yet flagged, were in progress past
`jeopardy_days` days or reached `jeopardy_calls` inbound hotline calls, on event time
(`JourneyQueries.jeopardy_candidates`), then records the events through the ingest
service, where the customer's own rules decide again on the stored history
(`Customer.record_order_jeopardy`): an order already flagged, or activated before the
limit passed, is refused there. The event id is derived from the order alone, and only
the order makes its content, so a second watcher, a restart, or a pass made while the
read model lags behind can only produce a duplicate, never a second event.

The event is dated when the first limit passed (the placing + the days limit, or the call
that reached the calls limit), not when the watcher saw it: an order activated after a
limit passed is flagged even if nobody looked before its activation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from contacthub.contract import JEOPARDY_EVENT_ID_PREFIX, InternalEvent, OrderJeopardy
from contacthub.domain.order import JeopardyLimits
from contacthub.projections.journey_queries import JourneyQueries
from contacthub.services.ingest import IngestService
from contacthub.services.watchers import MAX_SKIPPED_PASSES, record_in_batches, run_watchers

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class JeopardyOutcome:
    flagged: int
    refused: int


def jeopardy_event_id(order_id: str) -> str:
    return f"{JEOPARDY_EVENT_ID_PREFIX}order:{order_id}"


class JeopardyWatcher:
    name = "jeopardy"

    def __init__(
        self,
        ingest: IngestService,
        journeys: JourneyQueries,
        limits: JeopardyLimits,
        clock: Callable[[], datetime],
        read_models_current: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ingest = ingest
        self.journeys = journeys
        self.limits = limits
        self.clock = clock
        # As for the SLA watcher: a pass over a read model far behind the log is skipped.
        self.read_models_current = read_models_current
        self._skipped = 0  # as the SLA watcher's

    def run_once(self) -> JeopardyOutcome:
        """One pass over every order in jeopardy now and not yet flagged; the events recorded (duplicates not counted)."""
        if not self.read_models_current():
            if self._skipped < MAX_SKIPPED_PASSES:
                self._skipped += 1
                log.info("jeopardy_watch_skipped", reason="read models are catching up", skipped_in_a_row=self._skipped)
                return JeopardyOutcome(0, 0)
            log.warning("jeopardy_watch_lagging_pass", skipped_in_a_row=self._skipped)  # as the SLA watcher
        self._skipped = 0
        now = self.clock()
        events: list[InternalEvent] = [
            OrderJeopardy(
                type="order.jeopardy",
                event_id=jeopardy_event_id(candidate.order_id),
                occurred_at=now.isoformat(),
                customer_id=candidate.customer_id,
                order_id=candidate.order_id,
                reasons=list(candidate.jeopardy.reasons),
                limit_days=self.limits.days,
                limit_calls=self.limits.calls,
                calls=candidate.jeopardy.calls,
                passed_at=candidate.jeopardy.passed_at.isoformat(),
            )
            for candidate in self.journeys.jeopardy_candidates(now, self.limits, limit=10_000)
        ]
        recorded, refused = record_in_batches(self.ingest, events)
        outcome = JeopardyOutcome(recorded["order.jeopardy"], refused)
        if outcome.flagged or refused:
            log.info("jeopardy_watch_pass", flagged=outcome.flagged, refused=refused)
        return outcome

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Watch until `stop` is set. A failing pass is logged and tried again at the next interval."""
        run_watchers((self,), stop, interval_s)
