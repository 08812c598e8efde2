"""What every watcher shares (SLA, jeopardy): recording its events in batches, and the loop that runs them.

A watcher reads a read model for what is due, then records ContactHub's own events through
the ingest service (`IngestService.record_internal`), where the customer's rules decide
again on the stored history.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog

from contacthub.contract import EventSchema, InternalEvent
from contacthub.services.ingest import IngestRejected, IngestService

log = structlog.get_logger(__name__)

BATCH = 200


class Watcher(Protocol):
    name: str

    def run_once(self) -> Any:
        """One pass: record what is due now."""


MAX_SKIPPED_PASSES = 3
"""A watcher skips a pass while the read models are catching up, but not more than this many in a row
(issue 16, F6: under a steady flood they skipped every pass): the next pass runs on them as they are."""


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


def record_in_groups(ingest: IngestService, groups: Sequence[Sequence[EventSchema]]) -> tuple[Counter[str], int]:
    """Record groups of events that belong together (an SLA breach and the policy's actions on it) in
    batches of about BATCH events, a group never split across two batches, so a crash cannot keep a
    breach and lose its actions. A refused batch is decided again group by group, and a refused group
    event by event: an action the rules refuse now (the complaint resolved meanwhile) does not take the
    breach down with it."""
    recorded: Counter[str] = Counter()
    refused = 0
    batch: list[Sequence[EventSchema]] = []

    def flush() -> None:
        nonlocal refused
        if not batch:
            return
        flat = [e for group in batch for e in group]
        try:
            _count(recorded, flat, ingest.record_internal(flat))
        except IngestRejected:
            for group in batch:
                try:
                    _count(recorded, group, ingest.record_internal(group))
                except IngestRejected:
                    more, worse = record_in_batches(ingest, group)  # type: ignore[arg-type]
                    recorded.update(more)
                    refused += worse
        batch.clear()

    size = 0
    for group in groups:
        if size + len(group) > BATCH:
            flush()
            size = 0
        batch.append(group)
        size += len(group)
    flush()
    return recorded, refused


def _count(recorded: Counter[str], sent: Sequence[EventSchema], outcome: Any) -> None:
    for event, result in zip(sent, outcome.results, strict=True):
        if result.status == "recorded":
            recorded[event.type] += 1  # type: ignore[attr-defined]


def run_watchers(watchers: Sequence[Watcher], stop: threading.Event, interval_s: float,
                 on_pass: Callable[[str, bool], None] | None = None) -> None:
    """Run each watcher's pass every `interval_s` until `stop` is set; a failing pass is logged and tried again next time.

    `on_pass(watcher name, succeeded)` after each pass (the operators' metrics)."""
    names = [w.name for w in watchers]
    log.info("watchers_started", watchers=names, interval_s=interval_s)
    while not stop.is_set():
        for watcher in watchers:
            try:
                watcher.run_once()
                ok = True
            except Exception:
                ok = False
                log.exception("watch_failed", watcher=watcher.name)
            if on_pass is not None:
                on_pass(watcher.name, ok)
        stop.wait(interval_s)
    log.info("watchers_stopped", watchers=names)
