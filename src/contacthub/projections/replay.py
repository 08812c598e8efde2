"""What ContactHub knew about one customer at a moment, rebuilt from the log alone (and, for complaints whose
clocks count working time, the calendars they pinned, kept by content id in `sla_calendar`).

The auditor's question has two time axes, and each is a filter on the customer's stored
events before they are replayed:

* **as known then** (`as_of`, a recorded time, or `as_of_position`, a log position): the
  events ContactHub had recorded by then, in log order. This is exactly what the live read
  models had applied once they had caught up with that moment.
* **as happened by then** (`occurred_before`): the events that had *occurred* (at the
  channel) before that moment, however late they were delivered, as known today.

The state is rebuilt by running the read models' own projection code over the filtered
events into a private, in-memory database and asking it the same questions the live API
asks (the 360° view, every complaint with its status history). Nothing is read from the
live read models, so a drifted or tampered read model cannot colour the answer; and the
answer is the same code path as the live one, so "replayed" and "live at the time" can be
compared like for like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contacthub.domain.customer import Customer
from contacthub.projections.base import PositionedEvent, Projection
from contacthub.projections.customer_queries import CustomerQueries
from contacthub.projections.sql import ReadStore


@dataclass(frozen=True)
class Moment:
    """Which of the customer's events count: at most one of the three is set (none: all of them)."""

    as_of: datetime | None = None
    as_of_position: int | None = None
    occurred_before: datetime | None = None

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.as_of, self.as_of_position, self.occurred_before)) > 1:
            raise ValueError("give at most one of as_of, as_of_position and occurred_before")

    @property
    def bounded(self) -> bool:
        return any(v is not None for v in (self.as_of, self.as_of_position, self.occurred_before))

    def admits(self, position: int, event: Customer.Event) -> bool:
        if self.as_of is not None:
            return event.timestamp <= self.as_of
        if self.as_of_position is not None:
            return position <= self.as_of_position
        if self.occurred_before is not None:
            return event.occurred_at < self.occurred_before
        return True

    def clock(self, events: Sequence[PositionedEvent]) -> datetime | None:
        """"Now" for the rebuilt state (ages, SLA clocks, churn windows): the moment asked about;
        for a log position, when the last admitted event was recorded."""
        if self.as_of is not None:
            return self.as_of
        if self.occurred_before is not None:
            return self.occurred_before
        if self.as_of_position is not None and events:
            return events[-1][1].timestamp
        return None


def events_known(history: Sequence[PositionedEvent], moment: Moment) -> list[PositionedEvent]:
    """The customer's events that count at `moment`, in log order."""
    return [(p, e) for p, e in sorted(history, key=lambda pe: pe[0]) if moment.admits(p, e)]


def replay_state(
    customer_id: str,
    events: Sequence[PositionedEvent],
    projections: Sequence[Projection],
    zone: ZoneInfo,
    now: datetime,
    store: ReadStore,
) -> dict[str, Any] | None:
    """The 360° view and every complaint (with its history) after applying `events` to the empty
    read models in `store` (a private one); None when the events do not include the customer's registration."""
    if events:
        with store.transaction(commit=True) as sql:
            for projection in projections:
                projection.apply(sql, list(events))
    queries = CustomerQueries(store, zone, clock=lambda: now)
    view = queries.customer_360(customer_id)
    if view is None:
        return None
    complaints = [
        queries.complaints.complaint(c["complaint_id"]) for c in queries.complaints.for_customer(customer_id, False)
    ]
    return {"customer": view, "complaints": complaints}
