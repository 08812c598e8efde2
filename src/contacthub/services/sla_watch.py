"""The SLA watcher: records complaint.sla_warning and complaint.sla_breached, once per complaint and clock.

It asks the complaint read model which clocks have passed their warning share or their
deadline, then records the events through the ingest service, where the customer's own
rules decide again on the stored history (`Customer.record_sla_warning`): a complaint
resolved meanwhile, or a warning already recorded, is refused there. Each event's id is
derived from (complaint, clock, kind), so a second watcher, a restart, or a pass made
while the read model lags behind can only produce a duplicate, never a second event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from contacthub.contract import SLA_EVENT_ID_PREFIX, InternalEvent, SlaBreach, SlaWarning
from contacthub.projections.complaint_queries import ComplaintQueries
from contacthub.services.ingest import IngestService
from contacthub.services.watchers import MAX_SKIPPED_PASSES, record_in_batches, run_watchers

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WatchOutcome:
    warnings: int
    breaches: int
    refused: int


def sla_event_id(complaint_id: str, clock: int, kind: str) -> str:
    return f"{SLA_EVENT_ID_PREFIX}{kind}:{complaint_id}:{clock}"


class SlaWatcher:
    name = "sla"

    def __init__(
        self,
        ingest: IngestService,
        complaints: ComplaintQueries,
        clock: Callable[[], datetime],
        read_models_current: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ingest = ingest
        self.complaints = complaints
        self.clock = clock
        # Deciding on a read model far behind the log (a rebuild, a stopped projector) would
        # propose events the rules then refuse one by one: such a pass is skipped.
        self.read_models_current = read_models_current
        self._skipped = 0  # passes skipped in a row: after MAX_SKIPPED_PASSES a pass runs on the read models as they are

    def run_once(self) -> WatchOutcome:
        """One pass over every complaint due now; the events recorded (duplicates not counted)."""
        if not self.read_models_current():
            if self._skipped < MAX_SKIPPED_PASSES:
                self._skipped += 1
                log.info("sla_watch_skipped", reason="read models are catching up", skipped_in_a_row=self._skipped)
                return WatchOutcome(0, 0, 0)
            # Under a steady flood the read models may never be current: run on them as they are; the
            # customer's rules decide each proposal on the stored history, refusing what is out of date.
            log.warning("sla_watch_lagging_pass", skipped_in_a_row=self._skipped)
        self._skipped = 0
        now = self.clock()
        events: list[InternalEvent] = []
        for candidate in self.complaints.sla_candidates(now, limit=10_000):
            for kind in candidate.kinds:
                model = SlaWarning if kind == "warning" else SlaBreach
                events.append(
                    model(
                        type=f"complaint.sla_{kind}",
                        event_id=sla_event_id(candidate.complaint_id, candidate.clock, kind),
                        occurred_at=now.isoformat(),
                        customer_id=candidate.customer_id,
                        complaint_id=candidate.complaint_id,
                        clock=candidate.clock,
                    )
                )
        recorded, refused = record_in_batches(self.ingest, events)
        outcome = WatchOutcome(recorded["complaint.sla_warning"], recorded["complaint.sla_breached"], refused)
        if outcome.warnings or outcome.breaches or refused:
            log.info("sla_watch_pass", warnings=outcome.warnings, breaches=outcome.breaches, refused=refused)
        return outcome

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Watch until `stop` is set. A failing pass is logged and tried again at the next interval."""
        run_watchers((self,), stop, interval_s)
