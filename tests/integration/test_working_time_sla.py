"""SLA clocks in working time (issue 20): the packaged calendar's Chinese holidays and adjusted working days
(调休), the first-response and resolution clocks, on a controllable clock. Both backends.

An ordinary customer's low-severity complaint has, in the packaged policy, 2 working days (16 working
hours) for a first response and 10 working days (80 working hours) for the resolution, with warnings at
75 %. It is opened on Friday 2026-02-13 at 17:00, the last Friday before the Spring Festival:

    Fri 13  17:00-18:00                  1 h
    Sat 14  adjusted working day (调休)   8 h   ->  9
    Sun 15 .. Mon 23  Spring Festival    0 h
    Tue 24                               8 h   -> 17   first response: warning 12 h at 12:00, deadline 16 h at 17:00
    Wed 25, Thu 26, Fri 27              24 h   -> 41
    Sat 28  adjusted working day (调休)   8 h   -> 49
    Mon 2 Mar, Tue 3, Wed 4             24 h   -> 73   resolution: warning 60 h on Tue 3 Mar at 12:00
    Thu 5 Mar  09:00-12:00, 13:00-17:00  7 h   -> 80   resolution deadline: Thu 5 Mar 17:00
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import contacthub.domain.calendar as calendar_module
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from helpers import complaint_opened, registered
from support.clock import ManualClock
from support.rivals import race

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPENED = datetime(2026, 2, 13, 17, 0, tzinfo=SHANGHAI)
HOUR = 3600


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


def open_k1(hub: ContactHub, clock: ManualClock) -> None:
    clock.set(OPENED)
    hub.ingest.ingest([registered("C1", tier="ordinary", occurred_at=(OPENED - timedelta(days=30)).isoformat()),
                       complaint_opened("K1", {"customer_id": "C1"}, severity="low", occurred_at=OPENED.isoformat())])
    hub.projector.catch_up()


def complaint(hub: ContactHub) -> dict[str, Any]:
    hub.projector.catch_up()
    found = hub.complaints.complaint("K1")
    assert found is not None
    return found


def sla_history(hub: ContactHub) -> list[tuple[str, str, str]]:
    """(type, metric, when it passed) of every SLA event, in log order."""
    return [(h["type"], h["details"]["metric"], h["at"]) for h in complaint(hub)["history"]
            if h["type"].startswith("complaint.sla_")]


def watch_at(hub: ContactHub, clock: ManualClock, moment: datetime) -> tuple[int, int]:
    clock.set(moment)
    hub.projector.catch_up()
    outcome = hub.sla_watcher.run_once()
    return outcome.warnings, outcome.breaches


def test_deadlines_fall_at_the_working_time_moments_the_calendar_gives(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_k1(clocked_hub, clock)
    seen = complaint(clocked_hub)
    calendar = seen["sla"]["calendar"]
    assert calendar.startswith("cn-national@")
    assert (seen["first_response"]["allowance_s"], seen["first_response"]["calendar"]) == (16 * HOUR, calendar)
    assert (seen["first_response"]["warning_at"], seen["first_response"]["deadline"]) == (
        local(2, 24, 12).isoformat(), local(2, 24, 17).isoformat())
    assert (seen["sla"]["allowance_s"], seen["sla"]["warning_at"], seen["sla"]["deadline"]) == (
        80 * HOUR, local(3, 3, 12).isoformat(), local(3, 5, 17).isoformat())

    # On the first holiday morning only the Friday hour and the adjusted Saturday have counted
    clock.set(local(2, 16, 10))
    first = complaint(clocked_hub)["first_response"]
    assert (first["state"], first["elapsed_s"], first["time_left_s"]) == ("on_track", 9 * HOUR, 7 * HOUR)


def test_each_clock_warns_and_breaches_once_at_its_working_time_moment(
    clocked_hub: ContactHub, clock: ManualClock, settings: Settings
) -> None:
    open_k1(clocked_hub, clock)
    # Calendar time would have breached both clocks long before: nothing is due over the holiday
    assert watch_at(clocked_hub, clock, local(2, 23, 23)) == (0, 0)
    assert watch_at(clocked_hub, clock, local(2, 24, 11, 59, 59)) == (0, 0)
    assert watch_at(clocked_hub, clock, local(2, 24, 12)) == (1, 0)
    assert watch_at(clocked_hub, clock, local(2, 24, 17)) == (0, 0)  # the deadline itself is still in time
    assert complaint(clocked_hub)["first_response"]["state"] == "due_soon"
    assert watch_at(clocked_hub, clock, local(2, 24, 17, 0, 1)) == (0, 1)
    assert complaint(clocked_hub)["first_response"]["state"] == "breached"

    assert watch_at(clocked_hub, clock, local(3, 3, 11, 59)) == (0, 0)
    # Rival watchers (separate servers) seeing the resolution warning due at once record it once
    race(settings, clock, 3, lambda hub: (hub.projector.catch_up(), hub.sla_watcher.run_once()))
    clock.set(local(3, 3, 12))
    race(settings, clock, 3, lambda hub: (hub.projector.catch_up(), hub.sla_watcher.run_once()))
    assert watch_at(clocked_hub, clock, local(3, 5, 17)) == (0, 0)
    clock.set(local(3, 5, 17, 0, 1))
    race(settings, clock, 3, lambda hub: (hub.projector.catch_up(), hub.sla_watcher.run_once()))
    assert watch_at(clocked_hub, clock, local(3, 20, 9)) == (0, 0)

    assert sla_history(clocked_hub) == [
        ("complaint.sla_warning", "first_response", local(2, 24, 12).isoformat()),
        ("complaint.sla_breached", "first_response", local(2, 24, 17).isoformat()),
        ("complaint.sla_warning", "resolution", local(3, 3, 12).isoformat()),
        ("complaint.sla_breached", "resolution", local(3, 5, 17).isoformat()),
    ]
    resolution = complaint(clocked_hub)["sla"]
    assert (resolution["state"], resolution["overdue_s"]) == ("breached", (local(3, 20, 9) - local(3, 5, 17)).total_seconds())


def test_a_late_watcher_dates_each_event_at_its_working_time_moment(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_k1(clocked_hub, clock)
    assert watch_at(clocked_hub, clock, local(3, 9, 9)) == (2, 2)  # the watcher was down for three weeks
    assert [at for _, _, at in sla_history(clocked_hub)] == [
        local(2, 24, 12).isoformat(), local(2, 24, 17).isoformat(), local(3, 3, 12).isoformat(), local(3, 5, 17).isoformat()]


def test_a_first_answer_stops_the_first_response_clock_and_a_pause_moves_the_resolution_by_working_time(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_k1(clocked_hub, clock)
    clock.set(local(2, 24, 10))  # 10 working hours in
    clocked_hub.complaint_actions.take("K1", {"action": "pend", "reason": "请客户提供账单", "by": "agent-7", "channel": "hotline"})
    clock.set(local(2, 25, 10))  # the customer answers a working day later
    clocked_hub.complaint_actions.take("K1", {"action": "resume", "by": "agent-7", "channel": "hotline"})

    seen = complaint(clocked_hub)
    assert (seen["first_response"]["state"], seen["first_response"]["responded_at"]) == ("met", local(2, 24, 10).isoformat())
    assert (seen["sla"]["paused_s"], seen["sla"]["deadline"]) == (8 * HOUR, local(3, 6, 17).isoformat())
    assert watch_at(clocked_hub, clock, local(3, 5, 17, 0, 1)) == (1, 0)  # the old deadline: only the warning
    assert watch_at(clocked_hub, clock, local(3, 6, 17, 0, 1)) == (0, 1)

    clock.set(local(3, 6, 18))
    clocked_hub.complaint_actions.take("K1", {"action": "resolve", "resolution": "已退费", "by": "agent-7", "channel": "hotline"})
    # Resolved an hour after a 17:00 deadline, with no working time between: missed, by a wall-clock hour
    final = complaint(clocked_hub)["sla"]
    assert (final["state"], final["overdue_s"], final["time_left_s"]) == ("missed", HOUR, 0)


def test_a_resolution_after_hours_on_the_deadline_day_is_late(clocked_hub: ContactHub, clock: ManualClock) -> None:
    open_k1(clocked_hub, clock)
    clock.set(local(3, 5, 19))  # two hours after the 17:00 deadline, no working time since
    clocked_hub.complaint_actions.take("K1", {"action": "resolve", "resolution": "已处理", "by": "agent-7", "channel": "store"})
    clocked_hub.projector.catch_up()
    metrics_row = clocked_hub.event_log.read_store.query_one(
        "SELECT first_sla_met FROM rm_complaint WHERE complaint_id = 'K1'")
    assert metrics_row is not None and metrics_row["first_sla_met"] == 0
    assert complaint(clocked_hub)["sla"]["state"] == "missed"


def test_a_process_started_without_the_calendar_finds_the_pinned_one_in_the_database(
    clocked_hub: ContactHub, clock: ManualClock, settings: Settings, tmp_path: Any
) -> None:
    open_k1(clocked_hub, clock)
    pinned = complaint(clocked_hub)["sla"]["calendar"]
    calendar_module._known.pop(pinned)  # as in a process that never read the packaged calendar
    plain = tmp_path / "plain.toml"
    plain.write_text('version = "plain"\nwarning_share = 0.5\n[allowance_hours]\n' + "\n".join(
        f"{t} = {{ critical = 1, high = 2, medium = 3, low = 4 }}" for t in ("diamond", "gold", "silver", "vip", "ordinary")),
        encoding="utf-8")
    other = build(Settings(**{**settings.__dict__, "sla_policy": str(plain)}), clock=clock)
    try:
        other.projector.reset(partitions=1)
        other.projector.catch_up()  # the rebuild reads the calendar from the database
        seen = other.complaints.complaint("K1")
        assert seen is not None and (seen["sla"]["calendar"], seen["sla"]["deadline"]) == (
            pinned, local(3, 5, 17).isoformat())
        clock.set(local(3, 5, 17, 0, 1))
        assert other.sla_watcher.run_once().breaches == 2  # the aggregate, loaded there, decides by it too
    finally:
        other.close()
