"""The risk watcher: keeps the at-risk list "now" counted, so `GET /v1/customers/at-risk` need not count it per request.

Counting the 30-day window for every customer takes about a second once it holds a million
contacts; the list changes slowly (a flag needs several contacts or complaints). So at a
watcher pass, once the stored snapshot is `every` old, the watcher counts it again with the
very SQL the live list uses, for "now" (its clock), and replaces the snapshot in one
transaction (`RiskQueries.refresh_snapshot`). The list without `as_of` is answered from it
while it is fresh (`RiskQueries.snapshot_use`, set by bootstrap), saying its own `as_of`.

Records no events: the snapshot is derived data, like a read model's rows, and safe to
count again at any time, from any number of watchers. What keeps it honest:

* it records the position the read models had applied before the count; a snapshot ahead of
  the read models (they were reset for a rebuild) is dropped at the next pass, and never
  served meanwhile (RiskQueries);
* a pass over read models still catching up is skipped, as for the SLA watcher;
* the first pass of a process counts again whatever the snapshot's age: a process starting
  after `contacthub rebuild` (or on new code) does not go on serving one counted before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from contacthub.projections.risk_queries import SnapshotHead

log = structlog.get_logger(__name__)


class RiskSnapshots(Protocol):
    """What the watcher needs of projections/risk_queries.py's RiskQueries."""

    def snapshot_head(self) -> SnapshotHead | None: ...

    def refresh_snapshot(self, as_of: datetime, position: int) -> int | None: ...

    def clear_snapshot(self) -> None: ...


@dataclass(frozen=True)
class RiskRefresh:
    """One pass: `refreshed` when it counted (then `at_risk` customers, counted for `as_of` at `position`)."""

    refreshed: bool
    at_risk: int = 0
    as_of: datetime | None = None
    position: int = 0
    reason: str = ""


class RiskWatcher:
    name = "risk"

    def __init__(
        self,
        risk: RiskSnapshots,
        clock: Callable[[], datetime],
        every: timedelta,
        read_models_position: Callable[[], int],
        read_models_current: Callable[[], bool] = lambda: True,
    ) -> None:
        self.risk = risk
        self.clock = clock
        self.every = every
        """Count again once the snapshot is this old (CONTACTHUB_RISK_REFRESH_S); 0: never (no snapshot)."""
        self.read_models_position = read_models_position
        self.read_models_current = read_models_current
        self._counted = False  # by this process: its first pass counts whatever the age

    def run_once(self) -> RiskRefresh:
        """Count the at-risk list again if the snapshot is missing, old, or from before this process."""
        if self.every <= timedelta(0):
            return RiskRefresh(False, reason="off")
        head = self.risk.snapshot_head()
        if head is not None and head.position > self.read_models_position():
            self.risk.clear_snapshot()
            log.info("risk_snapshot_dropped", reason="the read models were reset since it was counted",
                     snapshot_position=head.position)
            head = None
        if head is not None and self._counted and self.clock() - head.as_of < self.every:
            return RiskRefresh(False, reason="fresh")
        if not self.read_models_current():
            log.info("risk_watch_skipped", reason="read models are catching up")
            return RiskRefresh(False, reason="catching up")
        position = self.read_models_position()
        now = self.clock()
        started = time.monotonic()
        at_risk = self.risk.refresh_snapshot(now, position)
        self._counted = True
        if at_risk is None:
            return RiskRefresh(False, reason="a later snapshot is stored")
        log.info("risk_snapshot_refreshed", at_risk=at_risk, position=position,
                 took_ms=round((time.monotonic() - started) * 1000, 1))
        return RiskRefresh(True, at_risk, now, position)
