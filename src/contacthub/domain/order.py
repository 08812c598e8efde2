"""An order's progress and the jeopardy rule: in progress past a limit of days or of hotline calls.

The order's state lives inside its customer (domain/customer.py): every rule about an order
concerns one customer. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class OrderState:
    services: tuple[str, ...]
    placed_at: datetime
    activated: set[str] = field(default_factory=set)
    cancelled: bool = False
    last_activated_at: datetime | None = None  # the latest activation's occurred_at, whatever order they came in
    cancelled_at: datetime | None = None
    jeopardy_at: datetime | None = None  # set once the order was flagged in jeopardy (order.jeopardy)

    @property
    def finished(self) -> bool:
        return self.cancelled or self.activated.issuperset(self.services)

    @property
    def finished_at(self) -> datetime | None:
        """Where the order's window ends on event time: its cancellation, or its last activation; None while open."""
        if self.cancelled:
            return self.cancelled_at
        return self.last_activated_at if self.finished else None


# --- order jeopardy: in progress past a limit (TMF622's jeopardy alert) ---------------

JEOPARDY_REASONS = ("days", "calls")


@dataclass(frozen=True)
class JeopardyLimits:
    """An order is in jeopardy once it has been in progress `days` days, or at its customer's `calls`-th inbound hotline call."""

    days: float
    calls: int

    @property
    def duration(self) -> timedelta:
        return timedelta(days=self.days)


@dataclass(frozen=True)
class Jeopardy:
    reasons: tuple[str, ...]  # the limits passed while the order was in progress, in JEOPARDY_REASONS order
    passed_at: datetime  # when the first of them passed
    calls: int  # inbound hotline calls of the window up to the moment seen (or the window's end)


def order_jeopardy(
    placed_at: datetime,
    finished_at: datetime | None,
    call_times: Sequence[datetime],
    limits: JeopardyLimits,
    now: datetime,
) -> Jeopardy | None:
    """Whether an order was in progress past a limit, on event time, as known at `now`.

    The days limit passes at `placed_at + days`; the calls limit at the `calls`-th inbound
    hotline call of the order's window (`call_times`: the customer's inbound hotline calls).
    A limit counts if it passed no later than `now` and while the order was still in
    progress: at or before `finished_at`, the window being inclusive at both ends like the
    counts. So an order activated after a limit passed was in jeopardy, even when nobody
    looked before its activation; one activated within the limits never was.
    """
    end = now if finished_at is None else min(now, finished_at)
    calls = sorted(t for t in call_times if placed_at <= t <= end)
    passed: dict[str, datetime] = {}
    if placed_at + limits.duration <= end:
        passed["days"] = placed_at + limits.duration
    if len(calls) >= limits.calls:
        passed["calls"] = calls[limits.calls - 1]
    if not passed:
        return None
    return Jeopardy(tuple(r for r in JEOPARDY_REASONS if r in passed), min(passed.values()), len(calls))
