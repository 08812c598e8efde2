"""Working-time calendars for SLA clocks (工作时间): working hours per weekday, public holidays
and the adjusted working days (调休) that Chinese holiday schedules move, in one time zone.

Pure: no I/O and no clock. A calendar is read from a document (`calendars/cn-national.toml`
is the packaged one) by `WorkingCalendar.from_mapping`, which names every problem it finds,
one line each. Its id is its name plus a digest of its content (`cn-national@3f09c1d2a4b7`),
so the id a complaint pins on opening always means the same hours, holidays and working days:
a calendar given a new year gets a new id, and complaints opened under the old one keep it.

Two ways of counting time share one interface (`TimeBasis`):
- `CALENDAR_TIME`: every second counts (an allowance in plain hours);
- a `WorkingCalendar`: only seconds inside working hours count (working hours, working days).

`known_calendar(id)` finds a calendar by id among those registered in this process; the
composition root registers the policy's calendars and installs a source for the others (the
database keeps every calendar a complaint has pinned: adapters/store/calendars.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_S = 86_400
MAX_SEARCH_DAYS = 3 * 366
"""How far ahead a deadline is looked for in working time before the calendar is judged to have none."""

Interval = tuple[int, int]  # seconds from local midnight: [start, end)


class TimeBasis(Protocol):
    """How an SLA clock counts time."""

    @property
    def id(self) -> str: ...

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Counted seconds from `start` to `end` (0 when end is not after start)."""

    def moment_after(self, start: datetime, seconds: float) -> datetime:
        """The first moment by which `seconds` counted seconds have passed since `start`."""


@dataclass(frozen=True)
class CalendarTime:
    """Every second counts: allowances in plain hours, as SLA clocks counted before calendars."""

    @property
    def id(self) -> str:
        return "calendar-time"

    def seconds_between(self, start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())

    def moment_after(self, start: datetime, seconds: float) -> datetime:
        return start + timedelta(seconds=max(0.0, seconds))


CALENDAR_TIME = CalendarTime()


class CalendarError(ValueError):
    """A calendar document with problems; `problems` has one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class WorkingCalendar:
    """Working hours per weekday, holidays and adjusted working days, in a time zone."""

    name: str
    zone: str
    week: tuple[tuple[Interval, ...], ...]  # Monday .. Sunday
    adjusted_day: tuple[Interval, ...]  # the hours of an adjusted working day (调休 上班)
    holidays: frozenset[date]
    working_days: frozenset[date]  # adjusted working days: worked although the weekday is not
    years: tuple[int, ...]  # the years whose holidays the calendar declares
    day_hours: float  # one working day, for allowances in working days
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False)
    """Each local date's working spans in UTC, worked out once (a deadline looks at the same days again and again)."""
    _totals: dict[date, float] = field(default_factory=dict, init=False, compare=False, hash=False, repr=False)

    # --- identity -----------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        """The calendar as data: what its id's digest is taken over, and what the database keeps."""
        return {
            "name": self.name,
            "time_zone": self.zone,
            "day_hours": self.day_hours,
            "working_hours": {
                **{day: [_span_text(i) for i in self.week[n]] for n, day in enumerate(WEEKDAYS)},
                "adjusted_working_day": [_span_text(i) for i in self.adjusted_day],
            },
            "years": {
                str(year): {
                    "holidays": sorted(d.isoformat() for d in self.holidays if d.year == year),
                    "working_days": sorted(d.isoformat() for d in self.working_days if d.year == year),
                }
                for year in self.years
            },
        }

    @cached_property
    def id(self) -> str:  # worked out once: every complaint opened names it
        canonical = json.dumps(self.document(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        return f"{self.name}@{digest[:12]}"

    # --- what a day is ------------------------------------------------------------------

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The working hours of a local date: none on a holiday, the adjusted day's on an adjusted working day."""
        if day in self.holidays:
            return ()
        if day in self.working_days:
            return self.adjusted_day
        return self.week[day.weekday()]

    def is_working_day(self, day: date) -> bool:
        return bool(self.hours_on(day))

    def covers(self, day: date) -> bool:
        """Whether the calendar declares the holidays of `day`'s year (outside them, weekdays alone decide)."""
        return day.year in self.years

    def years_missing(self, today: date) -> list[int]:
        """The years a clock started today may run into that the calendar does not declare: this year, and
        from November on (when the State Council has published it) the next one too."""
        wanted = [today.year] + ([today.year + 1] if today.month >= 11 else [])
        return [year for year in wanted if year not in self.years]

    # --- counting -----------------------------------------------------------------------

    def _spans(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's working spans in UTC. Built as local wall-clock times (09:00 stays 09:00 on a day a
        zone changes its offset), then compared and subtracted in UTC, where every second is a second."""
        found = self._days.get(day)
        if found is None:
            midnight = datetime.combine(day, time(), tzinfo=ZoneInfo(self.zone))
            found = self._days[day] = tuple(
                ((midnight + timedelta(seconds=a)).astimezone(timezone.utc),
                 (midnight + timedelta(seconds=b)).astimezone(timezone.utc)) for a, b in self.hours_on(day))
        return found

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.zone)).date()

    def _day_total(self, day: date) -> float:
        """The working seconds of a whole local date."""
        found = self._totals.get(day)
        if found is None:
            found = self._totals[day] = sum((b - a).total_seconds() for a, b in self._spans(day))
        return found

    def _within(self, day: date, start: datetime, end: datetime) -> float:
        total = 0.0
        for a, b in self._spans(day):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def seconds_between(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
        first, last = self._local_day(start), self._local_day(end)
        if first == last:
            return self._within(first, start, end)
        total = self._within(first, start, end) + self._within(last, start, end)
        day = first + timedelta(days=1)
        while day < last:  # whole days between: their totals, worked out once
            total += self._day_total(day)
            day += timedelta(days=1)
        return total

    def moment_after(self, start: datetime, seconds: float) -> datetime:
        if seconds <= 0:
            return start
        shown_in = start.tzinfo or timezone.utc
        start = start.astimezone(timezone.utc)
        left = seconds
        day = self._local_day(start)
        for _ in range(MAX_SEARCH_DAYS):
            spans = self._spans(day)
            if spans and spans[0][0] >= start and left > self._day_total(day):  # the whole day counts, and is not enough
                left -= self._day_total(day)
                day += timedelta(days=1)
                continue
            for a, b in spans:
                lo = max(a, start)
                if b <= lo:
                    continue
                length = (b - lo).total_seconds()
                if left <= length:
                    return (lo + timedelta(seconds=left)).astimezone(shown_in)
                left -= length
            day += timedelta(days=1)
        raise ValueError(f"calendar {self.name} has no working time left within {MAX_SEARCH_DAYS} days of {start.isoformat()}")

    # --- reading a document ---------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WorkingCalendar:
        """Read a calendar document; a CalendarError lists every problem, one line each."""
        problems: list[str] = []
        unknown = sorted(set(data) - {"name", "time_zone", "day_hours", "working_hours", "years"})
        problems += [f"{key}: unknown setting" for key in unknown]

        name = data.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append("name: must be 1-40 letters, digits, '-' or '_' (e.g. cn-national)")
            name = "?"
        zone = data.get("time_zone")
        if not isinstance(zone, str):
            problems.append("time_zone: must be an IANA time zone name (e.g. Asia/Shanghai)")
            zone = "UTC"
        else:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"time_zone: {zone!r} is not a time zone this machine knows")
                zone = "UTC"

        week: list[tuple[Interval, ...]] = [() for _ in WEEKDAYS]
        adjusted: tuple[Interval, ...] | None = None
        hours = data.get("working_hours")
        if not isinstance(hours, Mapping):
            problems.append("working_hours: must be a table of weekday -> list of \"HH:MM-HH:MM\"")
            hours = {}
        for key in sorted(set(hours) - set(WEEKDAYS) - {"adjusted_working_day"}):
            problems.append(f"working_hours.{key}: not a weekday (monday ... sunday, or adjusted_working_day)")
        for n, day_name in enumerate(WEEKDAYS):
            week[n] = _spans(hours.get(day_name, []), f"working_hours.{day_name}", problems)
        if "adjusted_working_day" in hours:
            adjusted = _spans(hours["adjusted_working_day"], "working_hours.adjusted_working_day", problems)
        if hours and not any(week):
            problems.append("working_hours: no weekday has working hours")
        if adjusted is None:
            adjusted = week[0]
        if not adjusted and any(week):
            problems.append("working_hours.adjusted_working_day: an adjusted working day needs working hours "
                            "(it takes Monday's unless given)")

        standard = sum(b - a for a, b in week[0]) / 3600 if week[0] else 8.0
        day_hours = data.get("day_hours", standard)
        if isinstance(day_hours, bool) or not isinstance(day_hours, (int, float)) or not 0 < day_hours <= 24:
            problems.append("day_hours: must be the hours of one working day, above 0 and at most 24")
            day_hours = 8.0

        holidays: set[date] = set()
        working_days: set[date] = set()
        years_table = data.get("years", {})
        if not isinstance(years_table, Mapping):
            problems.append("years: must be a table of year -> {holidays, working_days}")
            years_table = {}
        years: list[int] = []
        for year_key in sorted(years_table, key=str):
            where = f"years.{year_key}"
            try:
                year = int(year_key)
            except ValueError:
                year = 0
            if not 2000 <= year <= 2100 or str(year) != str(year_key):
                problems.append(f"{where}: not a year (2000-2100)")
                continue
            years.append(year)
            entry = years_table[year_key]
            if not isinstance(entry, Mapping):
                problems.append(f"{where}: must be a table with holidays and working_days")
                continue
            for key in sorted(set(entry) - {"holidays", "working_days"}):
                problems.append(f"{where}.{key}: unknown setting (holidays, working_days)")
            off = _dates(entry.get("holidays", []), year, f"{where}.holidays", problems)
            on = _dates(entry.get("working_days", []), year, f"{where}.working_days", problems)
            for d in sorted(off & on):
                problems.append(f"{where}: {d.isoformat()} is both a holiday and a working day")
            for d in sorted(on - off):
                if week[d.weekday()]:
                    problems.append(
                        f"{where}.working_days: {d.isoformat()} is a {WEEKDAYS[d.weekday()]}, already a working day"
                    )
            holidays |= off
            working_days |= on
        if problems:
            raise CalendarError(problems)
        return cls(
            name=str(name),
            zone=str(zone),
            week=tuple(week),
            adjusted_day=adjusted,
            holidays=frozenset(holidays),
            working_days=frozenset(working_days),
            years=tuple(years),
            day_hours=float(day_hours),
        )

    def summary(self) -> str:
        """One line: what the calendar declares (the CLI's `calendar check`)."""
        per_year = ", ".join(
            f"{y}: {sum(1 for d in self.holidays if d.year == y)} holidays, "
            f"{sum(1 for d in self.working_days if d.year == y)} adjusted working days"
            for y in self.years
        )
        return f"{self.id} ({self.zone}; {self.day_hours:g} h a working day; {per_year or 'no years'})"


_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
_SPAN = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _span_text(interval: Interval) -> str:
    a, b = interval
    return f"{a // 3600:02d}:{a % 3600 // 60:02d}-{b // 3600:02d}:{b % 3600 // 60:02d}"


def _spans(value: Any, where: str, problems: list[str]) -> tuple[Interval, ...]:
    if not isinstance(value, list):
        problems.append(f"{where}: must be a list of \"HH:MM-HH:MM\" (an empty list: not a working day)")
        return ()
    spans: list[Interval] = []
    for item in value:
        match = _SPAN.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            problems.append(f"{where}: {item!r} is not a span \"HH:MM-HH:MM\"")
            continue
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
            problems.append(f"{where}: {item!r} is not a time of day")
            continue
        a, b = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if b <= a:
            problems.append(f"{where}: {item!r} ends before it starts")
            continue
        spans.append((a, b))
    spans.sort()
    for (a1, b1), (a2, b2) in zip(spans, spans[1:]):
        if a2 < b1:
            problems.append(f"{where}: {_span_text((a1, b1))} and {_span_text((a2, b2))} overlap")
    return tuple(spans)


def _dates(value: Any, year: int, where: str, problems: list[str]) -> set[date]:
    if not isinstance(value, list):
        problems.append(f"{where}: must be a list of dates (\"2026-10-01\" or a range \"2026-10-01..2026-10-07\")")
        return set()
    found: set[date] = set()
    for item in value:
        if not isinstance(item, str):
            problems.append(f"{where}: {item!r} is not a date")
            continue
        ranged = _RANGE.fullmatch(item)
        ends = (ranged.group(1), ranged.group(2)) if ranged else (item, item)
        try:
            if not all(_DATE.fullmatch(end) for end in ends):
                raise ValueError(item)
            first, last = date.fromisoformat(ends[0]), date.fromisoformat(ends[1])
        except ValueError:
            problems.append(f"{where}: {item!r} is not a date (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD)")
            continue
        if last < first:
            problems.append(f"{where}: {item!r} ends before it starts")
            continue
        if first.year != year or last.year != year:
            problems.append(f"{where}: {item!r} is not in {year}")
            continue
        day = first
        while day <= last:
            if day in found:
                problems.append(f"{where}: {day.isoformat()} is listed twice")
            found.add(day)
            day += timedelta(days=1)
    return found


# --- the calendars this process knows -------------------------------------------------------


class UnknownCalendar(LookupError):
    """A complaint pinned a calendar this process cannot find."""


_known: dict[str, TimeBasis] = {CALENDAR_TIME.id: CALENDAR_TIME}
_source: Callable[[str], WorkingCalendar | None] | None = None
_lock = threading.Lock()


def register_calendar(calendar: TimeBasis) -> None:
    with _lock:
        _known[calendar.id] = calendar


def use_calendar_source(source: Callable[[str], WorkingCalendar | None] | None) -> None:
    """Where calendars not registered yet are looked up (the database's copies); None: nowhere."""
    global _source
    _source = source


def known_calendar(calendar_id: str) -> TimeBasis:
    """The calendar with this id: registered, or found by the installed source (then kept)."""
    found = _known.get(calendar_id)
    if found is not None:
        return found
    source = _source
    fetched = source(calendar_id) if source is not None else None
    if fetched is None or fetched.id != calendar_id:
        raise UnknownCalendar(
            f"SLA calendar {calendar_id} is not known here: its document is not in this database"
        )
    register_calendar(fetched)
    return fetched
