"""The complaint read model: every complaint's status, owner and SLA clock, and its history.

Consumes: complaint.opened and every complaint step (complaint.*).
Owns: rm_complaint (one row a complaint: current state, with the clock's deadline and
warning moments as columns so work queues can filter on them) and rm_complaint_event
(one row per complaint event: the status-change and ownership history).
(migrations/0003_complaint_view.sql)

A complaint's state is changed by the same code the domain uses (`ComplaintCase` and each
event's `change`), so the read model cannot disagree with the rules about a status, an
owner or a deadline; this module only turns that state into rows and back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from contacthub.projections.sql import Sql
from contacthub.domain.complaint import ComplaintCase, SlaClock
from contacthub.domain.customer import Customer
from contacthub.domain.vocabulary import ComplaintStatus
from contacthub.domain.personal_data import ERASED
from contacthub.projections.base import PositionedEvent, utc_text

Row = dict[str, Any]

T, N, F = "text", "bigint", "double precision"
COMPLAINT_COLUMNS = (
    ("complaint_id", T), ("customer_id", T), ("status", T), ("category", T), ("severity", T), ("tier", T),
    ("summary", T), ("channel", T), ("owner", T), ("owners", T), ("opened_at", T), ("last_changed_at", T),
    ("escalation_level", N), ("reopen_count", N), ("satisfaction", N), ("resolved_at", T), ("resolution", T),
    ("closed_at", T), ("sla_policy", T), ("clock_no", N), ("clock_started_at", T), ("allowance_s", N),
    ("warning_s", N), ("paused_s", F), ("paused_since", T), ("stopped_at", T), ("warned", N), ("breached", N),
    ("deadline_at", T), ("warning_at", T), ("first_resolved_at", T), ("first_resolution_s", F), ("first_sla_met", N),
)
EVENT_COLUMNS = (
    ("position", N), ("complaint_id", T), ("customer_id", T), ("type", T), ("event_id", T), ("occurred_at", T),
    ("recorded_at", T), ("by_whom", T), ("channel", T), ("status_before", T), ("status_after", T),
    ("owner_before", T), ("owner_after", T), ("reason", T), ("details", T),
)

# What each event carries beyond who/when/channel, for the history's `details`.
_DETAIL_FIELDS = ("to", "from_owner", "level", "satisfaction", "clock", "allowance_s", "deadline", "observed_at")
# The field that says why, under whatever name the event gives it.
_REASON_FIELDS = ("reason", "resolution", "text", "summary")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else utc_text(moment)


def case_from_row(row: Row) -> ComplaintCase:
    clock = SlaClock(
        number=int(row["clock_no"]),
        started_at=datetime.fromisoformat(row["clock_started_at"]),
        allowance_s=int(row["allowance_s"]),
        warning_s=int(row["warning_s"]),
        paused_s=float(row["paused_s"]),
        paused_since=_moment(row["paused_since"]),
        stopped_at=_moment(row["stopped_at"]),
        warned=bool(row["warned"]),
        breached=bool(row["breached"]),
    )
    return ComplaintCase(
        complaint_id=row["complaint_id"],
        status=ComplaintStatus(row["status"]),
        owner=row["owner"],
        tier=row["tier"],
        severity=row["severity"],
        category=row["category"],
        channel=row["channel"],
        sla_policy=row["sla_policy"],
        clock=clock,
        escalation_level=int(row["escalation_level"]),
        reopen_count=int(row["reopen_count"]),
        satisfaction=None if row["satisfaction"] is None else int(row["satisfaction"]),
        owners=orjson.loads(row["owners"]),
        opened_at=datetime.fromisoformat(row["opened_at"]),
        first_resolved_at=_moment(row["first_resolved_at"]),
        first_resolution_s=None if row["first_resolution_s"] is None else float(row["first_resolution_s"]),
        first_sla_met=None if row["first_sla_met"] is None else bool(row["first_sla_met"]),
    )


def write_case(row: Row, case: ComplaintCase) -> None:
    clock = case.clock
    row.update(
        status=case.status.value,
        owner=case.owner,
        owners=orjson.dumps(case.owners).decode(),
        escalation_level=case.escalation_level,
        reopen_count=case.reopen_count,
        satisfaction=case.satisfaction,
        sla_policy=case.sla_policy,
        clock_no=clock.number,
        clock_started_at=utc_text(clock.started_at),
        allowance_s=clock.allowance_s,
        warning_s=clock.warning_s,
        paused_s=clock.paused_s,
        paused_since=_text(clock.paused_since),
        stopped_at=_text(clock.stopped_at),
        warned=int(clock.warned),
        breached=int(clock.breached),
        deadline_at=_text(clock.deadline),
        warning_at=_text(clock.warning_at),
        first_resolved_at=_text(case.first_resolved_at),
        first_resolution_s=case.first_resolution_s,
        first_sla_met=None if case.first_sla_met is None else int(case.first_sla_met),
    )


class ComplaintView:
    # Renamed when its tables change shape so the projector rebuilds it from the log (migrations/0006).
    name = "complaint_view.v2"
    reads_from: tuple[str, ...] = ()
    tables = (("rm_complaint", "complaint_id"), ("rm_complaint_event", "position"))

    def apply(self, sql: Sql, events: Sequence[PositionedEvent]) -> None:
        self._apply_complaint_events(sql, events)
        for customer_id in {e.originator_id for _, e in events if isinstance(e, Customer.Erased)}:
            # What the customer or staff wrote about the case reads as erased, as it does in a
            # rebuild from the log once the customer's key is gone.
            for table, column in (("rm_complaint", "summary"), ("rm_complaint", "resolution"),
                                  ("rm_complaint_event", "reason")):
                sql.execute(f"UPDATE {table} SET {column} = ? WHERE customer_id = ? AND {column} IS NOT NULL",
                            (ERASED, customer_id))

    def _apply_complaint_events(self, sql: Sql, events: Sequence[PositionedEvent]) -> None:
        relevant = [
            (p, e) for p, e in events if isinstance(e, (Customer.ComplaintOpened, Customer.ComplaintStep))
        ]
        if not relevant:
            return
        opened_here = {e.complaint_id for _, e in relevant if isinstance(e, Customer.ComplaintOpened)}
        rows: dict[str, Row] = {}
        wanted = sorted({e.complaint_id for _, e in relevant} - opened_here)  # type: ignore[attr-defined]
        for row in sql.select_where_in("rm_complaint", "complaint_id", wanted):
            rows[row["complaint_id"]] = row
        cases = {complaint_id: case_from_row(row) for complaint_id, row in rows.items()}
        history: list[tuple[Any, ...]] = []
        for position, event in relevant:
            if isinstance(event, Customer.ComplaintOpened):
                case = cases[event.complaint_id] = event.case()
                rows[event.complaint_id] = _opened_row(event)
                before_status, before_owner = None, None
            else:
                case = cases[event.complaint_id]  # type: ignore[attr-defined]
                before_status, before_owner = case.status.value, case.owner
                event.change(case)
                row = rows[event.complaint_id]  # type: ignore[attr-defined]
                row["last_changed_at"] = max(row["last_changed_at"], utc_text(event.occurred_at))
                _record_milestones(row, event)
            history.append(_history_row(position, event, before_status, before_owner, case))
        for complaint_id, row in rows.items():
            write_case(row, cases[complaint_id])
        names = [c for c, _ in COMPLAINT_COLUMNS]
        updates = ", ".join(f"{c} = excluded.{c}" for c in names[1:])
        sql.insert_rows(
            "rm_complaint",
            COMPLAINT_COLUMNS,
            [tuple(row[c] for c in names) for row in rows.values()],
            f"ON CONFLICT (complaint_id) DO UPDATE SET {updates}",
        )
        sql.insert_rows("rm_complaint_event", EVENT_COLUMNS, history)


def _opened_row(e: Customer.ComplaintOpened) -> Row:
    opened = utc_text(e.occurred_at)
    return {
        "complaint_id": e.complaint_id,
        "customer_id": e.originator_id,
        "category": e.category,
        "severity": e.severity,
        "tier": e.tier,
        "summary": e.summary,
        "channel": e.channel,
        "opened_at": opened,
        "last_changed_at": opened,
        "resolved_at": None,
        "resolution": None,
        "closed_at": None,
    }


def _record_milestones(row: Row, e: Customer.Event) -> None:
    if isinstance(e, Customer.ComplaintResolved):
        row["resolved_at"], row["resolution"] = utc_text(e.occurred_at), e.resolution
    elif isinstance(e, Customer.ComplaintClosed):
        row["closed_at"] = utc_text(e.occurred_at)
    elif isinstance(e, Customer.ComplaintReopened):
        row["resolved_at"] = row["resolution"] = row["closed_at"] = None


def _history_row(
    position: int, e: Customer.Event, status_before: str | None, owner_before: str | None, case: ComplaintCase
) -> tuple[Any, ...]:
    state = e.__dict__
    details = {k: state[k] for k in _DETAIL_FIELDS if state.get(k) is not None}
    for moment in ("deadline", "observed_at"):
        if isinstance(details.get(moment), datetime):
            details[moment] = utc_text(details[moment])
    reason = next((state[k] for k in _REASON_FIELDS if state.get(k)), None)
    by = state.get("by") or state.get("handled_by")
    return (
        position, e.complaint_id, e.originator_id, e.TOPIC, e.event_id,  # type: ignore[attr-defined]
        utc_text(e.occurred_at), utc_text(e.timestamp), by, state.get("channel"), status_before,
        case.status.value, owner_before, case.owner, reason, orjson.dumps(details).decode(),
    )
