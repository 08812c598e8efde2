"""The SLA watcher: records complaint.sla_warning and complaint.sla_breached, once per complaint and clock.

It asks the complaint read model which clocks have passed their warning share or their
deadline, then records the events through the ingest service, where the customer's own
rules decide again on the stored history (`Customer.record_sla_warning`): a complaint
resolved meanwhile, or a warning already recorded, is refused there. Each event's id is
derived from (complaint, clock, kind), so a second watcher, a restart, or a pass made
while the read model lags behind can only produce a duplicate, never a second event.

What every watcher shares (the jeopardy watcher too) is here as well: recording its events
in batches (`record_in_batches`) and the loop that runs the watchers (`run_watchers`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from contacthub.contract import SLA_EVENT_ID_PREFIX, InternalEvent, SlaBreach, SlaWarning
from contacthub.ingest import IngestRejected, IngestService
from contacthub.projections.complaint_queries import ComplaintQueries

log = structlog.get_logger(__name__)

BATCH = 200


@dataclass(frozen=True)
class WatchOutcome:
    warnings: int
    breaches: int
    refused: int


def sla_event_id(complaint_id: str, clock: int, kind: str) -> str:
    return f"{SLA_EVENT_ID_PREFIX}{kind}:{complaint_id}:{clock}"


class Watcher(Protocol):
    name: str

    def run_once(self) -> Any:
        """One pass: record what is due now."""


def record_in_batches(ingest: IngestService, events: Sequence[InternalEvent]) -> tuple[Counter[str], int]:
    """Record a watcher's events, BATCH at a time; how many were recorded, by type (duplicates not counted), and refused.

    A refused batch is decided again event by event: something changed since the read
    model was read (a complaint resolved, an order activated, the same event recorded by
    another watcher), and only the events it concerns are refused.
    """
    recorded: Counter[str] = Counter()
    refused = 0
    for start in range(0, len(events), BATCH):
        batch = events[start : start + BATCH]
        try:
            outcomes = [(batch, ingest.record_internal(batch))]
        except IngestRejected:
            outcomes = []
            for event in batch:
                try:
                    outcomes.append(([event], ingest.record_internal([event])))
                except IngestRejected as exc:
                    refused += 1
                    log.info("watched_event_refused", event_id=event.event_id, reason=exc.errors[0].message)
        for sent, outcome in outcomes:
            for event, result in zip(sent, outcome.results, strict=True):
                if result.status == "recorded":
                    recorded[event.type] += 1  # type: ignore[attr-defined]
    return recorded, refused


def run_watchers(watchers: Sequence[Watcher], stop: threading.Event, interval_s: float) -> None:
    """Run each watcher's pass every `interval_s` until `stop` is set; a failing pass is logged and tried again next time."""
    names = [w.name for w in watchers]
    log.info("watchers_started", watchers=names, interval_s=interval_s)
    while not stop.is_set():
        for watcher in watchers:
            try:
                watcher.run_once()
            except Exception:
                log.exception("watch_failed", watcher=watcher.name)
        stop.wait(interval_s)
    log.info("watchers_stopped", watchers=names)


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

    def run_once(self) -> WatchOutcome:
        """One pass over every complaint due now; the events recorded (duplicates not counted)."""
        if not self.read_models_current():
            log.info("sla_watch_skipped", reason="read models are catching up")
            return WatchOutcome(0, 0, 0)
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
