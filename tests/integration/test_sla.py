"""SLA clocks (处理时限) on a controllable clock: pause and resume, warnings and breaches exactly once, policy versions.

The packaged policy gives a gold customer's high-severity complaint 8 hours, with the
warning at 75 % (6 hours). Both backends.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from helpers import complaint_opened, registered
from support.auth import allow_everything
from support.clock import ManualClock
from support.rivals import race

START = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
HOUR = 3600


def at(hours: float) -> str:
    return (START + timedelta(hours=hours)).isoformat()


def open_k1(hub: ContactHub, answered: bool = True, **extra: Any) -> None:
    """A gold customer's high-severity complaint, opened at START; `answered`: acknowledged at once, so only
    the resolution clock runs (the first-response clock has tests of its own)."""
    hub.ingest.ingest([registered("C1", tier="gold"), complaint_opened("K1", {"customer_id": "C1"}, severity="high",
                                                                       occurred_at=at(0), **extra)])
    if answered:
        hub.ingest.ingest([{"type": "complaint.acknowledged", "event_id": "K1-ack", "occurred_at": at(0),
                            "customer_id": "C1", "complaint_id": "K1", "by": "agent-7", "channel": "hotline"}])


def step(hub: ContactHub, action: str, **fields: Any) -> None:
    hub.complaint_actions.take("K1", {"action": action, "by": "agent-7", "channel": "hotline", **fields})


def sla_of(hub: ContactHub, complaint_id: str = "K1") -> dict[str, Any]:
    hub.projector.catch_up()
    found = hub.complaints.complaint(complaint_id)
    assert found is not None
    return dict(found["sla"])


def sla_events(hub: ContactHub, complaint_id: str = "K1", metric: str = "resolution") -> list[tuple[str, int]]:
    hub.projector.catch_up()
    found = hub.complaints.complaint(complaint_id)
    assert found is not None
    return [(h["type"], h["details"]["clock"]) for h in found["history"]
            if h["type"].startswith("complaint.sla_") and h["details"]["metric"] == metric]


def watch(hub: ContactHub) -> tuple[int, int]:
    hub.projector.catch_up()
    outcome = hub.sla_watcher.run_once()
    return outcome.warnings, outcome.breaches


def race_watchers(settings: Settings, clock: ManualClock, count: int) -> None:
    """`count` separate ContactHub instances (as separate servers would be) run a watcher pass at the same moment."""
    race(settings, clock, count, lambda hub: hub.sla_watcher.run_once())


def test_the_clock_stops_while_pending_on_the_customer_and_the_deadline_moves_by_the_pause(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_k1(clocked_hub)
    assert sla_of(clocked_hub)["deadline"] == at(8)

    clock.set(START + timedelta(hours=2))
    step(clocked_hub, "pend", reason="请客户提供账单截图")
    clock.set(START + timedelta(hours=30))  # a day later the customer sends it
    paused = sla_of(clocked_hub)
    assert (paused["state"], paused["paused"], paused["deadline"]) == ("paused", True, None)
    assert (paused["elapsed_s"], paused["time_left_s"], paused["paused_s"]) == (2 * HOUR, 6 * HOUR, 28 * HOUR)

    step(clocked_hub, "resume")
    resumed = sla_of(clocked_hub)
    assert (resumed["state"], resumed["deadline"], resumed["paused_s"]) == ("on_track", at(36), 28 * HOUR)
    assert resumed["warning_at"] == at(34)

    clock.set(START + timedelta(hours=35))
    assert sla_of(clocked_hub)["state"] == "due_soon"
    clock.set(START + timedelta(hours=37))
    assert (sla_of(clocked_hub)["state"], sla_of(clocked_hub)["overdue_s"]) == ("breached", HOUR)


def test_held_inside_the_operator_does_not_stop_the_clock(clocked_hub: ContactHub, clock: ManualClock) -> None:
    open_k1(clocked_hub)
    clock.set(START + timedelta(hours=1))
    step(clocked_hub, "hold", reason="等待网络故障单")
    clock.set(START + timedelta(hours=9))

    assert (sla_of(clocked_hub)["state"], sla_of(clocked_hub)["deadline"]) == ("breached", at(8))


def test_warning_and_breach_are_recorded_once_per_clock_across_passes_restarts_and_rival_watchers(
    clocked_hub: ContactHub, clock: ManualClock, settings: Settings
) -> None:
    open_k1(clocked_hub)
    clock.set(START + timedelta(hours=5, minutes=59))
    assert watch(clocked_hub) == (0, 0)

    clock.set(START + timedelta(hours=6))  # 75 % of 8 hours
    assert watch(clocked_hub) == (1, 0)
    assert watch(clocked_hub) == (0, 0)

    clock.set(START + timedelta(hours=8, seconds=1))
    assert watch(clocked_hub) == (0, 1)

    # A restarted process, and two watchers at once, find nothing left to record
    later = ManualClock(START + timedelta(hours=20))
    restarted = build(settings, clock=later)
    try:
        assert watch(restarted) == (0, 0)
        race_watchers(settings, later, 2)
    finally:
        restarted.close()

    assert sla_events(clocked_hub) == [("complaint.sla_warning", 1), ("complaint.sla_breached", 1)]
    warning = [h for h in clocked_hub.complaints.complaint("K1")["history"] if h["type"] == "complaint.sla_warning"][0]  # type: ignore[index]
    assert warning["at"] == at(6)
    assert warning["details"] == {
        "metric": "resolution", "clock": 1, "allowance_s": 8 * HOUR, "deadline": at(8), "observed_at": at(6)}


def test_warning_and_breach_are_dated_when_they_passed_not_when_the_watcher_saw_them(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_k1(clocked_hub)
    clock.set(START + timedelta(hours=1))
    step(clocked_hub, "pend", reason="请客户提供账单截图")
    clock.set(START + timedelta(hours=3))
    step(clocked_hub, "resume")
    clock.set(START + timedelta(hours=20))  # the watcher was down all afternoon

    assert watch(clocked_hub) == (1, 1)

    clocked_hub.projector.catch_up()
    history = clocked_hub.complaints.complaint("K1")["history"]  # type: ignore[index]
    sla = [(h["type"], h["at"], h["details"]["observed_at"]) for h in history if h["type"].startswith("complaint.sla_")]
    assert sla == [("complaint.sla_warning", at(8), at(20)), ("complaint.sla_breached", at(10), at(20))]


def test_rival_watchers_that_both_see_the_breach_due_record_it_once(
    clocked_hub: ContactHub, clock: ManualClock, settings: Settings
) -> None:
    open_k1(clocked_hub)
    clocked_hub.projector.catch_up()
    clock.set(START + timedelta(hours=9))
    race_watchers(settings, clock, 3)

    assert sla_events(clocked_hub) == [("complaint.sla_warning", 1), ("complaint.sla_breached", 1)]


def test_no_breach_while_paused_and_a_pause_after_the_deadline_is_still_a_breach(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_k1(clocked_hub)
    clock.set(START + timedelta(hours=1))
    step(clocked_hub, "pend", reason="等客户回电")
    clock.set(START + timedelta(hours=100))
    assert watch(clocked_hub) == (0, 0)

    # Resumed with 7 hours left; the customer is then asked again after the deadline
    step(clocked_hub, "resume")
    clock.set(START + timedelta(hours=109))
    step(clocked_hub, "pend", reason="再次等待客户资料")
    clock.set(START + timedelta(hours=120))

    assert watch(clocked_hub) == (1, 1)
    assert sla_of(clocked_hub)["state"] == "breached"


def test_resolving_in_time_records_nothing_and_a_late_resolution_is_missed(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_k1(clocked_hub)
    clock.set(START + timedelta(hours=3))
    step(clocked_hub, "resolve", resolution="已退费")
    clock.set(START + timedelta(hours=50))
    assert watch(clocked_hub) == (0, 0)
    assert sla_of(clocked_hub)["state"] == "met"
    assert sla_of(clocked_hub)["stopped_at"] == at(3)

    # Reopened: a new clock with the same allowance, and its own warning and breach
    step(clocked_hub, "reopen", reason="次月仍多扣费")
    clock.set(START + timedelta(hours=59))
    assert watch(clocked_hub) == (1, 1)
    step(clocked_hub, "resolve", resolution="资费已更正")
    final = sla_of(clocked_hub)
    assert (final["clock"], final["state"], final["overdue_s"]) == (2, "missed", HOUR)
    assert sla_events(clocked_hub) == [("complaint.sla_warning", 2), ("complaint.sla_breached", 2)]


def test_the_server_runs_the_watcher_by_itself(settings: Settings, clock: ManualClock) -> None:
    watching = Settings(**{**settings.__dict__, "sla_watch_interval_s": 0.05})
    hub = build(watching, clock=clock)
    try:
        open_k1(hub)
        clock.set(START + timedelta(hours=9))
        with TestClient(allow_everything(create_app(hub))):
            deadline = datetime.now().timestamp() + 10
            while len(sla_events(hub)) < 2 and datetime.now().timestamp() < deadline:
                threading.Event().wait(0.05)
        assert sla_events(hub) == [("complaint.sla_warning", 1), ("complaint.sla_breached", 1)]
    finally:
        hub.close()


def test_a_new_policy_applies_to_new_complaints_and_never_rewrites_old_ones(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    hub = build(settings, clock=clock)
    try:
        open_k1(hub)
    finally:
        hub.close()
    stricter = tmp_path / "policy.toml"
    rows = "\n".join(
        f"{tier} = {{ critical = 1, high = 2, medium = 3, low = 4 }}"
        for tier in ("diamond", "gold", "silver", "vip", "ordinary")
    )
    stricter.write_text(f'version = "strict-2027"\nwarning_share = 0.5\n[allowance_hours]\n{rows}\n', encoding="utf-8")

    hub = build(Settings(**{**settings.__dict__, "sla_policy": str(stricter)}), clock=clock)
    try:
        hub.ingest.ingest([complaint_opened("K2", {"customer_id": "C1"}, severity="high", occurred_at=at(0))])
        old, new = sla_of(hub, "K1"), sla_of(hub, "K2")
        assert (old["policy"], old["allowance_s"], old["deadline"]) == ("cn-default-2026-12", 8 * HOUR, at(8))
        assert (new["policy"], new["allowance_s"], new["deadline"], new["warning_at"]) == (
            "strict-2027", 2 * HOUR, at(2), at(1)
        )
        # Rebuilt from the log, the old complaint still carries the terms it was opened under
        hub.projector.reset()
        assert sla_of(hub, "K1")["policy"] == "cn-default-2026-12"
        assert sla_of(hub, "K1")["allowance_s"] == 8 * HOUR
    finally:
        hub.close()
