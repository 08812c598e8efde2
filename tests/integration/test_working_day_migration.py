"""Migration 0021 fills the complaint read model's new columns as a rebuild from the log writes them, so an
upgraded database needs no rebuild (issue 20). Both backends.

Complaints opened under a policy of before issue 20 (calendar hours, no first-response clock, no
follow-up clock: what every complaint stored before 0021 reads as) go through pauses, resolutions,
reopenings, follow-up calls and SLA events; the new columns are then emptied as 0021 found them, the
migration's UPDATE statements run, and every row must equal the rebuilt one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from contacthub.adapters.store.migrations import _statements, migrations_dir
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from helpers import complaint_opened, contact, registered
from support.clock import ManualClock

BEFORE = """version = "cn-default-2026-11"
warning_share = 0.75
[allowance_hours]
""" + "\n".join(f"{t} = {{ critical = 4, high = 8, medium = 24, low = 48 }}"
                for t in ("diamond", "gold", "silver", "vip", "ordinary"))
NEW_COMPLAINT_COLUMNS = ("sla_calendar", "fr_allowance_s", "fr_warning_s", "fr_calendar", "fr_stopped_at", "fr_warned",
                         "fr_breached", "fr_deadline_at", "fr_warning_at", "followup_s", "followup_calendar",
                         "followup_required", "last_resolved_at", "followed_up_at", "followup_due_at", "primary_id",
                         "paused_wall_s")


@pytest.fixture
def old_hub(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[ContactHub]:
    policy = tmp_path / "before.toml"
    policy.write_text(BEFORE, encoding="utf-8")
    hub = build(Settings(**{**settings.__dict__, "sla_policy": str(policy)}), clock=clock)
    try:
        yield hub
    finally:
        hub.close()


def act(hub: ContactHub, clock: ManualClock, complaint_id: str, hours: float, **body: Any) -> None:
    clock.advance(hours=hours)
    hub.complaint_actions.take(complaint_id, {"by": "agent-7", "channel": "hotline", **body})


def rows(hub: ContactHub) -> dict[str, list[dict[str, Any]]]:
    store = hub.event_log.read_store
    return {
        "rm_complaint": store.query("SELECT * FROM rm_complaint ORDER BY complaint_id"),
        "rm_complaint_event": store.query("SELECT * FROM rm_complaint_event ORDER BY position"),
        "rm_contact_fact": store.query("SELECT * FROM rm_contact_fact ORDER BY event_id"),
    }


def test_the_migration_fills_the_new_columns_as_a_rebuild_writes_them(old_hub: ContactHub, clock: ManualClock) -> None:
    start = clock.now
    old_hub.ingest.ingest([
        registered("C1", tier="gold", occurred_at=(start - timedelta(days=30)).isoformat()),
        contact(customer_id="C1", msisdn=None, channel="store", site="杭州西湖营业厅", occurred_at=start.isoformat()),
        contact(customer_id="C1", msisdn=None, channel="hotline", occurred_at=start.isoformat()),
        *[complaint_opened(k, {"customer_id": "C1"}, occurred_at=start.isoformat()) for k in ("K1", "K2", "K3", "K4")],
    ])
    act(old_hub, clock, "K1", 1, action="pend", reason="等客户资料")
    act(old_hub, clock, "K1", 2, action="resume")
    act(old_hub, clock, "K1", 1, action="resolve", resolution="已退费")
    act(old_hub, clock, "K1", 1, action="follow_up", satisfaction=4)
    act(old_hub, clock, "K1", 1, action="follow_up", satisfaction=5)  # the first one after the resolution counts
    act(old_hub, clock, "K2", 1, action="resolve", resolution="已处理")
    act(old_hub, clock, "K2", 1, action="follow_up", satisfaction=2)
    act(old_hub, clock, "K2", 1, action="reopen", reason="问题复现")
    act(old_hub, clock, "K2", 1, action="resolve", resolution="再次处理")  # no follow-up since
    act(old_hub, clock, "K4", 1, action="resolve", resolution="已处理")
    act(old_hub, clock, "K4", 1, action="follow_up", satisfaction=5)
    act(old_hub, clock, "K4", 1, action="close")
    clock.advance(hours=30)  # K3 past its deadline: SLA events in its history
    old_hub.projector.catch_up()
    assert old_hub.sla_watcher.run_once().breaches == 1
    old_hub.projector.catch_up()

    old_hub.projector.reset(partitions=1)
    old_hub.projector.catch_up()
    rebuilt = rows(old_hub)
    assert any(r["followed_up_at"] for r in rebuilt["rm_complaint"]) and any(r["site"] for r in rebuilt["rm_contact_fact"])

    with old_hub.event_log.read_store.transaction(commit=True) as sql:  # the rows as 0021 finds them
        sql.execute(f"UPDATE rm_complaint SET {', '.join(f'{c} = NULL' for c in NEW_COMPLAINT_COLUMNS)}")
        sql.execute("UPDATE rm_contact_fact SET site = NULL")
        sql.execute("UPDATE rm_complaint_event SET details = '{' || substr(details, 24) "
                    "WHERE substr(details, 1, 23) = '{\"metric\":\"resolution\",'")
    emptied = rows(old_hub)
    assert emptied != rebuilt
    assert [r["details"] for r in emptied["rm_complaint_event"] if r["type"] == "complaint.sla_breached"] == [
        r["details"].replace('"metric":"resolution",', "") for r in rebuilt["rm_complaint_event"]
        if r["type"] == "complaint.sla_breached"]
    migration = (migrations_dir() / "0021_working_day.sql").read_text(encoding="utf-8")
    with old_hub.event_log.read_store.transaction(commit=True) as sql:
        for statement in _statements(migration):
            if statement.startswith("UPDATE"):
                sql.execute(statement)

    assert rows(old_hub) == rebuilt
