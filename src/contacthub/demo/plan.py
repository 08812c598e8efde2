"""What a demo is asked for (`DemoPlan`), the units of its clock, and how many events to expect."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

CHINA_TIME = timezone(timedelta(hours=8))
DEFAULT_END = datetime(2026, 11, 20, 18, 0, tzinfo=CHINA_TIME)

MINUTE = 60
HOUR = 3_600
DAY = 86_400

Event = dict[str, Any]


@dataclass(frozen=True)
class DemoPlan:
    """What to generate. The fixed default `end` keeps a demo reproducible."""

    customers: int = 3000
    months: int = 4
    seed: int = 7
    end: datetime = DEFAULT_END

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("a demo needs at least one customer")
        if not 1 <= self.months <= 36:
            raise ValueError("months must be between 1 and 36")
        if self.end.tzinfo is None or self.end.utcoffset() is None:
            raise ValueError("end must be timezone-aware")

    @property
    def window_end(self) -> datetime:
        """The end in China time: every event carries +08:00, as the operator's channels do."""
        return self.end.astimezone(CHINA_TIME)

    @property
    def window_start(self) -> datetime:
        return _months_before(self.window_end, self.months)


# Fitted to seeds 1-3 at 3000 customers over 1 to 12 months (within 4%); a progress bar needs no more.
_EVENTS_PER_CUSTOMER_MONTH = 2.81
_EVENTS_PER_CUSTOMER_ONCE = 1.87


def estimate_event_count(plan: DemoPlan) -> int:
    """About how many events `generate_events(plan)` yields, without generating them."""
    per_customer = _EVENTS_PER_CUSTOMER_ONCE + _EVENTS_PER_CUSTOMER_MONTH * plan.months
    return round(plan.customers * per_customer)


def _months_before(moment: datetime, months: int) -> datetime:
    """The same wall-clock time `months` calendar months earlier (day clamped to the month's length)."""
    years, month_index = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + years, month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
