"""SLA clocks (处理时限) as the customer keeps them, through the services over an in-memory log: pause and
resume, warnings and breaches once per clock and dated when they passed, policy versions.

The SLA watcher proposes complaint.sla_warning / complaint.sla_breached from the complaint read model;
here the same events are recorded directly (`IngestService.record_internal`, as the watcher does), so
what is checked is what the customer accepts and refuses. The watcher itself, the read model's SLA
fields, restarts and rival watchers, on both backends: tests/integration/test_sla.py.

The packaged policy gives a gold customer's high-severity complaint 8 hours, with the warning at
75 % (6 hours). Times are hours after the clock's start, Monday 2026-11-02 09:00 in Shanghai.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contacthub.config import Settings
from contacthub.contract import SlaBreach, SlaWarning
from contacthub.domain.customer import Customer
from contacthub.domain.vocabulary import SlaState
from contacthub.services.ingest import IngestRejected, IngestService
from contacthub.services.sla_watch import sla_event_id
from helpers import complaint_opened, registered
from support.services import Services

START = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
HOUR = 3600


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


@pytest.fixture
def k1(services: Services) -> Services:
    """Gold customer C1's high-severity complaint K1, opened at START: 8 hours, warned at 6."""
    services.given(registered("C1", tier="gold"),
                   complaint_opened("K1", {"customer_id": "C1"}, severity="high", occurred_at=START.isoformat()))
    return services


def step(services: Services, at: float, action: str, **body: Any) -> None:
    services.clock.set(hours(at))
    services.act("K1", action=action, by="agent-7", channel="hotline", **body)


def record(services: Services, kind: str, seen_at: float, clock: int = 1, event_id: str | None = None) -> str:
    """The watcher's event for K1's `clock`, seen at `seen_at` hours: "recorded" or "duplicate" (or IngestRejected)."""
    services.clock.set(hours(seen_at))
    model = SlaWarning if kind == "warning" else SlaBreach
    sla_event = model(
        type=f"complaint.sla_{kind}", event_id=event_id or sla_event_id("K1", clock, kind),
        occurred_at=services.clock().isoformat(), customer_id="C1", complaint_id="K1", clock=clock,
    )
    return services.ingest.record_internal([sla_event]).results[0].status


def refused(services: Services, kind: str, seen_at: float, clock: int = 1, event_id: str | None = None) -> str:
    head = services.log.head_position()
    with pytest.raises(IngestRejected) as caught:
        record(services, kind, seen_at, clock, event_id)
    assert services.log.head_position() == head
    [error] = caught.value.errors
    assert (caught.value.status_code, error.field) == (409, "complaint_id")
    return error.message


def recorded_sla(services: Services) -> list[tuple[str, int, datetime, datetime]]:
    """(type, clock, when it passed, when it was seen) of K1's SLA events, in log order."""
    return [
        (e.TOPIC, e.clock, e.occurred_at, e.observed_at)
        for _, e in services.log.customer_history("C1")
        if isinstance(e, Customer.SlaWarningRecorded)
    ]


def test_the_clock_stops_while_pending_on_the_customer_and_the_deadline_moves_by_the_pause(k1: Services) -> None:
    assert k1.complaint().clock.deadline == hours(8)

    step(k1, 2, "pend", reason="请客户提供账单截图")
    clock = k1.complaint().clock
    assert (clock.state(hours(30)), clock.deadline, clock.elapsed_s(hours(30))) == (SlaState.PAUSED, None, 2 * HOUR)
    assert (clock.remaining_s(hours(30)), clock.paused_total_s(hours(30))) == (6 * HOUR, 28 * HOUR)

    step(k1, 30, "resume")  # a day later the customer sends it
    clock = k1.complaint().clock
    assert (clock.deadline, clock.warning_at, clock.paused_s) == (hours(36), hours(34), 28 * HOUR)
    assert clock.state(hours(30)) == SlaState.ON_TRACK
    assert clock.state(hours(35)) == SlaState.DUE_SOON
    assert (clock.state(hours(37)), clock.remaining_s(hours(37))) == (SlaState.BREACHED, -HOUR)


def test_held_inside_the_operator_does_not_stop_the_clock(k1: Services) -> None:
    step(k1, 1, "hold", reason="等待网络故障单")

    clock = k1.complaint().clock
    assert (clock.state(hours(9)), clock.deadline) == (SlaState.BREACHED, hours(8))


def test_warning_and_breach_are_recorded_once_per_clock_and_only_when_due(k1: Services) -> None:
    assert "no SLA warning due for clock 1" in refused(k1, "warning", 5 + 59 / 60)

    assert record(k1, "warning", 6) == "recorded"  # 75 % of 8 hours
    assert record(k1, "warning", 7) == "duplicate"  # the same warning noticed again (a restart, a second watcher)
    assert "no SLA warning due" in refused(k1, "warning", 7, event_id="sla-warning:K1:1-again")
    assert "no SLA breached due" in refused(k1, "breached", 8)  # the deadline moment itself is still in time

    assert record(k1, "breached", 8 + 1 / 3600) == "recorded"
    assert record(k1, "breached", 20) == "duplicate"

    assert recorded_sla(k1) == [
        ("complaint.sla_warning", 1, hours(6), hours(6)),
        ("complaint.sla_breached", 1, hours(8), hours(8 + 1 / 3600)),
    ]
    warning = next(e for _, e in k1.log.customer_history("C1") if isinstance(e, Customer.SlaWarningRecorded))
    assert (warning.allowance_s, warning.deadline) == (8 * HOUR, hours(8))


def test_warning_and_breach_are_dated_when_they_passed_not_when_the_watcher_saw_them(k1: Services) -> None:
    step(k1, 1, "pend", reason="请客户提供账单截图")
    step(k1, 3, "resume")

    assert record(k1, "warning", 20) == "recorded"  # the watcher was down all afternoon
    assert record(k1, "breached", 20) == "recorded"

    assert recorded_sla(k1) == [
        ("complaint.sla_warning", 1, hours(8), hours(20)),
        ("complaint.sla_breached", 1, hours(10), hours(20)),
    ]


def test_no_breach_while_paused_and_a_pause_after_the_deadline_is_still_a_breach(k1: Services) -> None:
    step(k1, 1, "pend", reason="等客户回电")
    refused(k1, "warning", 100)
    refused(k1, "breached", 100)

    step(k1, 100, "resume")  # resumed with 7 hours left
    step(k1, 109, "pend", reason="再次等待客户资料")  # asked again after the deadline

    assert (record(k1, "warning", 120), record(k1, "breached", 120)) == ("recorded", "recorded")
    assert k1.complaint().clock.state(hours(120)) == SlaState.BREACHED


def test_resolving_in_time_is_met_and_a_reopening_runs_a_new_clock_with_its_own_warning_and_breach(k1: Services) -> None:
    step(k1, 3, "resolve", resolution="已退费")
    refused(k1, "warning", 50)
    refused(k1, "breached", 50)
    clock = k1.complaint().clock
    assert (clock.state(hours(50)), clock.stopped_at) == (SlaState.MET, hours(3))

    step(k1, 50, "reopen", reason="次月仍多扣费")
    assert "for clock 1" in refused(k1, "warning", 59, clock=1)  # a late event for the old clock
    assert (record(k1, "warning", 59, clock=2), record(k1, "breached", 59, clock=2)) == ("recorded", "recorded")
    step(k1, 59, "resolve", resolution="资费已更正")

    k = k1.complaint()
    assert (k.clock.number, k.clock.state(hours(59)), k.clock.remaining_s(hours(59))) == (2, SlaState.MISSED, -HOUR)
    assert (k.first_resolution_s, k.first_sla_met) == (3 * HOUR, True)  # the first resolution was in time
    assert [(kind, n) for kind, n, *_ in recorded_sla(k1)] == [("complaint.sla_warning", 2), ("complaint.sla_breached", 2)]


def test_a_new_policy_applies_to_new_complaints_and_never_rewrites_old_ones(k1: Services, tmp_path: Path) -> None:
    stricter = tmp_path / "policy.toml"
    rows = "\n".join(
        f"{tier} = {{ critical = 1, high = 2, medium = 3, low = 4 }}"
        for tier in ("diamond", "gold", "silver", "vip", "ordinary")
    )
    stricter.write_text(f'version = "strict-2027"\nwarning_share = 0.5\n[allowance_hours]\n{rows}\n', encoding="utf-8")
    # A restarted writer on the same log, with the new policy file
    restarted = IngestService(k1.log, clock=k1.clock, sla_policy=Settings(sla_policy=str(stricter)).load_sla_policy())

    restarted.ingest([complaint_opened("K2", {"customer_id": "C1"}, severity="high", occurred_at=START.isoformat())])

    customer = k1.customer()  # rebuilt from the log
    old, new = customer.complaints["K1"], customer.complaints["K2"]
    assert (old.sla_policy, old.clock.allowance_s, old.clock.deadline) == ("cn-default-2026-12", 8 * HOUR, hours(8))
    assert (new.sla_policy, new.clock.allowance_s, new.clock.deadline, new.clock.warning_at) == (
        "strict-2027", 2 * HOUR, hours(2), hours(1)
    )
