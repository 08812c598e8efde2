"""Working-time calendars (domain/calendar.py) and the SLA policy's clocks, units and follow-up rule."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contacthub.config import ConfigurationError, load_calendar
from contacthub.domain.calendar import (
    CALENDAR_TIME,
    CalendarError,
    UnknownCalendar,
    WorkingCalendar,
    known_calendar,
    register_calendar,
    use_calendar_source,
)
from contacthub.domain.complaint import (
    FIRST_RESPONSE,
    RESOLUTION,
    ClockTerms,
    ComplaintCase,
    SlaPolicy,
    SlaTerms,
)
from contacthub.domain.errors import RuleViolation
from contacthub.domain.vocabulary import ComplaintStatus as S
from contacthub.domain.vocabulary import Severity, Tier

SHANGHAI = ZoneInfo("Asia/Shanghai")
CN = load_calendar("cn-national")
H = 3600


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


# --- the packaged calendar -------------------------------------------------------------------


def test_the_2026_national_calendar_has_the_state_councils_holidays_and_adjusted_working_days() -> None:
    holidays = {(1, 1), (1, 3), (2, 15), (2, 23), (4, 4), (4, 6), (5, 1), (5, 5), (6, 19), (9, 25), (10, 1), (10, 7)}
    for month, day in holidays:
        assert not CN.is_working_day(date(2026, month, day)), (month, day)
    for month, day in ((1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)):  # 调休: weekend days worked
        assert date(2026, month, day).weekday() >= 5
        assert CN.hours_on(date(2026, month, day)) == CN.week[0], (month, day)
    assert CN.is_working_day(date(2026, 2, 24)) and not CN.is_working_day(date(2026, 3, 1))  # a Tuesday; a Sunday
    assert (len(CN.holidays), len(CN.working_days), CN.years) == (33, 6, (2026,))
    assert CN.covers(date(2026, 12, 31)) and not CN.covers(date(2027, 1, 1))


def test_a_24_working_hour_limit_opened_on_friday_evening_is_not_breached_on_saturday_night() -> None:
    friday = datetime(2026, 11, 6, 17, 30, tzinfo=SHANGHAI)
    deadline = CN.moment_after(friday, 24 * H)
    assert deadline == datetime(2026, 11, 11, 17, 30, tzinfo=SHANGHAI)  # the Wednesday after: 0.5 + 8 + 8 + 7.5 h
    assert CN.seconds_between(friday, datetime(2026, 11, 7, 23, 0, tzinfo=SHANGHAI)) == 0.5 * H


def test_the_day_before_national_day_runs_into_the_adjusted_saturday_after_the_holiday() -> None:
    eve = local(9, 30, 17)
    assert CN.moment_after(eve, 24 * H) == local(10, 10, 17)  # 1 h, Oct 1-7 off, Thu 8 + Fri 9, Sat 10 (调休) 7 h
    assert CN.seconds_between(local(10, 1), local(10, 8)) == 0


def test_lunch_breaks_and_evenings_do_not_count_and_a_deadline_may_end_a_working_day() -> None:
    assert CN.moment_after(local(11, 2, 11), 1 * H) == local(11, 2, 12)
    assert CN.moment_after(local(11, 2, 11), 2 * H) == local(11, 2, 14)
    assert CN.moment_after(local(11, 2, 12, 30), 0) == local(11, 2, 12, 30)
    assert CN.moment_after(local(11, 2, 20), 1 * H) == local(11, 3, 10)
    assert CN.moment_after(local(11, 2, 9), 8 * H) == local(11, 2, 18)


moments = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1),
                       timezones=st.just(timezone.utc))


@settings(max_examples=200, deadline=None)
@given(start=moments, seconds=st.integers(min_value=0, max_value=40 * 8 * H))
def test_moment_after_and_seconds_between_are_inverse(start: datetime, seconds: int) -> None:
    deadline = CN.moment_after(start, seconds)
    assert deadline >= start
    assert CN.seconds_between(start, deadline) == pytest.approx(seconds, abs=1e-3)
    if seconds > 0:  # nothing earlier would do: the last second before it is working time
        assert CN.seconds_between(start, deadline - timedelta(seconds=1)) < seconds


@settings(max_examples=200, deadline=None)
@given(points=st.lists(moments, min_size=3, max_size=3))
def test_working_seconds_add_up_and_never_exceed_wall_clock_seconds(points: list[datetime]) -> None:
    a, b, c = sorted(points)
    assert CN.seconds_between(a, c) == pytest.approx(CN.seconds_between(a, b) + CN.seconds_between(b, c))
    assert CN.seconds_between(a, c) <= (c - a).total_seconds()
    assert CALENDAR_TIME.seconds_between(a, c) == (c - a).total_seconds()
    assert CALENDAR_TIME.moment_after(a, 90) == a + timedelta(seconds=90)


# --- identity and the registry ---------------------------------------------------------------


def packaged_document() -> dict[str, Any]:
    return tomllib.loads(resources.files("contacthub").joinpath("calendars/cn-national.toml").read_text("utf-8"))


def test_a_calendars_id_is_its_content_so_a_new_year_is_a_new_id() -> None:
    assert WorkingCalendar.from_mapping(CN.document()).id == CN.id
    document = packaged_document()
    document["years"]["2027"] = {"holidays": ["2027-01-01"], "working_days": []}
    assert WorkingCalendar.from_mapping(document).id != CN.id
    assert WorkingCalendar.from_mapping(document).id.startswith("cn-national@")


def test_a_calendar_pinned_elsewhere_is_found_through_the_source_and_an_unknown_one_is_an_error() -> None:
    document = packaged_document()
    document["name"] = "guangdong"
    other = WorkingCalendar.from_mapping(document)
    use_calendar_source(None)  # whatever an earlier test's ContactHub installed
    with pytest.raises(UnknownCalendar, match="not known here"):
        known_calendar(other.id)
    use_calendar_source(lambda wanted: other if wanted == other.id else None)
    try:
        assert known_calendar(other.id) is other
    finally:
        use_calendar_source(None)
    register_calendar(CN)
    assert known_calendar(CN.id) is CN and known_calendar("calendar-time") is CALENDAR_TIME


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(name="华南"), "name: must be 1-40 letters"),
        (lambda d: d.update(time_zone="Asia/Shangai"), "time_zone: 'Asia/Shangai' is not a time zone"),
        (lambda d: d.update(day_hours=0), "day_hours: must be the hours of one working day"),
        (lambda d: d.update(holidays=[]), "holidays: unknown setting"),
        (lambda d: d["working_hours"].update(funday=[]), "working_hours.funday: not a weekday"),
        (lambda d: d["working_hours"].update(monday=["9:00-12:00"]), "working_hours.monday: '9:00-12:00' is not a span"),
        (lambda d: d["working_hours"].update(monday=["13:00-12:00"]), "working_hours.monday: '13:00-12:00' ends before it starts"),
        (lambda d: d["working_hours"].update(monday=["25:00-26:00"]), "working_hours.monday: '25:00-26:00' is not a time of day"),
        (lambda d: d["working_hours"].update(monday=["09:00-12:00", "11:00-18:00"]), "09:00-12:00 and 11:00-18:00 overlap"),
        (lambda d: d["working_hours"].update({day: [] for day in d["working_hours"]}), "working_hours: no weekday has working hours"),
        (lambda d: d["years"].update({"26": {}}), "years.26: not a year"),
        (lambda d: d["years"]["2026"]["holidays"].append("2026-02-30"), "'2026-02-30' is not a date"),
        (lambda d: d["years"]["2026"]["holidays"].append("2027-01-01"), "'2027-01-01' is not in 2026"),
        (lambda d: d["years"]["2026"]["holidays"].append("2026-12-31..2026-12-30"), "ends before it starts"),
        (lambda d: d["years"]["2026"]["holidays"].append("2026-10-03"), "2026-10-03 is listed twice"),
        (lambda d: d["years"]["2026"]["working_days"].append("2026-10-02"), "2026-10-02 is both a holiday and a working day"),
        (lambda d: d["years"]["2026"]["working_days"].append("2026-10-12"), "2026-10-12 is a monday, already a working day"),
        (lambda d: d["years"]["2026"].update(makeup=[]), "years.2026.makeup: unknown setting"),
    ],
)
def test_a_bad_calendar_names_each_problem(change: Any, problem: str) -> None:
    document = packaged_document()
    change(document)
    with pytest.raises(CalendarError) as refused:
        WorkingCalendar.from_mapping(document)
    assert any(problem in line for line in refused.value.problems), refused.value.problems


def test_every_problem_of_a_calendar_file_is_its_own_line(tmp_path: Any) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ntime_zone = "Mars/Olympus"\n[working_hours]\nmonday = ["18:00-09:00"]\n'
                   '[years.2026]\nholidays = ["2026-13-01"]\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load_calendar(str(bad))
    lines = str(refused.value).splitlines()
    assert len(lines) == 4 and all(line.startswith(f"calendar {bad}: ") for line in lines)


# --- the policy's clocks ---------------------------------------------------------------------


def policy(**overrides: Any) -> dict[str, Any]:
    rows = {t.value: {s.value: "2wd" for s in Severity} for t in Tier}
    return {"version": "p", "warning_share": 0.5, "resolution": rows,
            "first_response": {t.value: {s.value: "30m" for s in Severity} for t in Tier}, **overrides}


def test_limits_in_minutes_hours_working_hours_and_working_days() -> None:
    document = policy()
    document["resolution"]["gold"].update(critical=4, high="90m", medium="16wh", low="1.5wd")
    read = SlaPolicy.from_mapping(document, CN)
    assert [read.terms("gold", s).allowance_s for s in ("critical", "high", "medium", "low")] == [4 * H, 90 * 60, 16 * H, 12 * H]
    assert [read.terms("gold", s).calendar for s in ("critical", "high", "medium", "low")] == [
        "calendar-time", "calendar-time", CN.id, CN.id]
    assert read.terms("gold", "high").first_response == ClockTerms(1800, 900, "calendar-time")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["resolution"]["gold"].update(high="3 days"), "resolution.gold.high: must be hours (8), or a number with a unit"),
        (lambda p: p["first_response"]["vip"].update(low="0m"), "first_response.vip.low: must be above 0"),
        (lambda p: p["first_response"]["vip"].pop("low"), "first_response.vip.low: missing"),
        (lambda p: p.update(allowance_hours={}), "resolution: give the resolution limits"),
        (lambda p: p.update(follow_up={"within": "2wd", "after": 1}), "follow_up: must be a table"),
        (lambda p: p.update(follow_up={"within": "2wd", "required_to_close": "yes"}), "follow_up.required_to_close"),
        (lambda p: p.update(breach_actions=[{"clock": "reply", "escalate": True}]), "breach_actions[0].clock"),
        (lambda p: p.update(breach_actions=[{"clock": "resolution", "tiers": ["platinum"], "escalate": True}]), "breach_actions[0].tiers"),
        (lambda p: p.update(breach_actions=[{"clock": "resolution"}]), "breach_actions[0]: does nothing"),
    ],
)
def test_a_bad_policy_clock_names_the_entry_at_fault(change: Any, message: str) -> None:
    document = policy()
    change(document)
    with pytest.raises(ValueError) as refused:
        SlaPolicy.from_mapping(document, CN)
    assert message in str(refused.value)


def test_working_time_needs_a_calendar() -> None:
    with pytest.raises(ValueError, match="calendar: the policy counts working time"):
        SlaPolicy.from_mapping(policy())


# --- a complaint's first response and follow-up ----------------------------------------------


def case(**terms: Any) -> ComplaintCase:
    register_calendar(CN)
    return ComplaintCase.opened(
        complaint_id="K1", at=local(11, 2, 9), owner="agent-7", tier="gold", severity="high", category="billing",
        channel="hotline",
        terms=SlaTerms("p", 8 * H, 6 * H, CN.id, first_response=ClockTerms(2 * H, H, CN.id), followup_s=8 * H,
                       followup_calendar=CN.id, **terms),
    )


def test_the_first_answer_stops_the_first_response_clock_and_internal_work_does_not() -> None:
    k = case()
    assert k.response is not None
    for internal in ("note", "hold"):
        k.step(internal, local(11, 2, 9, 30))
    assert k.response.stopped_at is None
    assert k.sla_due("warning", local(11, 2, 10), FIRST_RESPONSE) and not k.sla_due("breached", local(11, 2, 11), FIRST_RESPONSE)
    assert k.sla_due("breached", local(11, 2, 11, 1), FIRST_RESPONSE)
    k.step("resume", local(11, 2, 11, 30))  # resuming from held is not an answer either
    assert k.response.stopped_at is None
    k.step("pend", local(11, 2, 11, 45))
    assert k.response.stopped_at == local(11, 2, 11, 45)
    assert not k.sla_due("breached", local(11, 3, 9), FIRST_RESPONSE)
    assert k.clock_of(RESOLUTION) is k.clock


def test_a_follow_up_falls_due_after_each_resolution_and_may_be_required_before_closing() -> None:
    k = case(followup_required=True)
    assert k.followup_state(local(11, 2, 10)) is None
    k.step("resolve", local(11, 2, 16))
    assert k.followup_due_at == local(11, 3, 16)  # 2 h on Monday, 6 h on Tuesday
    assert k.followup_state(local(11, 3, 16)) == "due" and k.followup_state(local(11, 3, 16, 1)) == "overdue"
    with pytest.raises(RuleViolation, match="follow-up call"):
        k.check("close", local(11, 3, 17))
    k.step("follow_up", local(11, 4, 10))
    assert (k.followup_state(local(11, 9)), k.check("close", local(11, 4, 11))) == (None, S.CLOSED)
    k.step("reopen", local(11, 5, 9))  # a reopening needs a new resolution and a new follow-up
    assert k.followed_up_at is None and k.followup_due_at is None
    k.step("resolve", local(11, 5, 10))
    with pytest.raises(RuleViolation, match="follow-up call"):
        k.check("close", local(11, 5, 11))


def test_a_working_time_limit_must_end_within_a_year() -> None:
    document = policy()
    document["resolution"]["gold"]["low"] = "800wd"
    with pytest.raises(ValueError, match="resolution.gold.low: at most 2000 working hours"):
        SlaPolicy.from_mapping(document, CN)
    document["resolution"]["gold"]["low"] = "250wd"
    limit = SlaPolicy.from_mapping(document, CN).terms("gold", "low")
    deadline = CN.moment_after(local(12, 31, 17), limit.allowance_s)  # computable, whatever the start
    assert deadline == datetime(2027, 12, 16, 17, 0, tzinfo=SHANGHAI)  # 2027 undeclared: weekdays alone


def test_the_years_a_calendar_misses_are_this_one_and_from_november_the_next() -> None:
    assert CN.years_missing(date(2026, 10, 31)) == []
    assert CN.years_missing(date(2026, 11, 1)) == [2027]
    assert CN.years_missing(date(2027, 3, 1)) == [2027]


def test_working_hours_are_wall_clock_hours_and_counted_in_real_seconds_across_a_clock_change() -> None:
    document = packaged_document()
    document.update(name="berlin", time_zone="Europe/Berlin", years={})
    document["working_hours"] = {day: ["00:00-24:00"] for day in
                                 ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
    berlin = WorkingCalendar.from_mapping(document)
    zone = ZoneInfo("Europe/Berlin")
    saturday, monday = datetime(2026, 3, 28, tzinfo=zone), datetime(2026, 3, 30, tzinfo=zone)  # clocks go forward on the 29th
    assert berlin.seconds_between(saturday, monday) == 47 * H  # 47 real hours
    assert berlin.moment_after(saturday, 47 * H) == monday
