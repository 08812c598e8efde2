"""The complaint read model: every complaint's status, owner and SLA clock, and its history.

Consumes (ComplaintView.handlers): complaint.opened, every complaint step (each subclass of
Customer.ComplaintStep: complaint.acknowledged ... complaint.sla_breached), customer.erased
(what the customer or staff wrote about their complaints then reads as erased) and complaint.conflict.
A step of a complaint not opened yet (a late reference) changes nothing: it is listed in
rm_complaint_pending_step until the opening, after which the domain records it again (or a
complaint.conflict, listed in rm_complaint_conflict; migrations/0018).
Ignores (ComplaintView.ignores): customer.registered, customer.tier_changed, customer.msisdn_added,
customer.msisdn_released, contact.logged, order.placed, service.activated, order.cancelled, order.jeopardy, and the merges (customer.merged, customer.unmerged and
their survivor's side): a merged person's complaints are the union of its records', put together
when read (complaint_queries.py, customer_rows).
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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from contacthub.domain.calendar import CALENDAR_TIME, known_calendar
from contacthub.domain.complaint import ComplaintCase, SlaClock
from contacthub.domain.customer import Customer
from contacthub.domain.personal_data import ERASED
from contacthub.domain.vocabulary import ComplaintStatus
from contacthub.projections.base import PositionedEvent, ReadModel, family, row_tuples, utc_text
from contacthub.projections.sql import Sql

Row = dict[str, Any]

T, N, F = "text", "bigint", "double precision"
COMPLAINT_COLUMNS = (
    ("complaint_id", T), ("customer_id", T), ("status", T), ("category", T), ("severity", T), ("tier", T),
    ("summary", T), ("channel", T), ("owner", T), ("owners", T), ("opened_at", T), ("last_changed_at", T),
    ("escalation_level", N), ("reopen_count", N), ("satisfaction", N), ("resolved_at", T), ("resolution", T),
    ("closed_at", T), ("sla_policy", T), ("clock_no", N), ("clock_started_at", T), ("allowance_s", N),
    ("warning_s", N), ("paused_s", F), ("paused_since", T), ("stopped_at", T), ("warned", N), ("breached", N),
    ("deadline_at", T), ("warning_at", T), ("first_resolved_at", T), ("first_resolution_s", F), ("first_sla_met", N),
    # migrations/0021: the resolution clock's time basis, the first-response clock, the follow-up call
    ("sla_calendar", T), ("fr_allowance_s", N), ("fr_warning_s", N), ("fr_calendar", T), ("fr_stopped_at", T),
    ("fr_warned", N), ("fr_breached", N), ("fr_deadline_at", T), ("fr_warning_at", T),
    ("followup_s", N), ("followup_calendar", T), ("followup_required", N), ("last_resolved_at", T),
    ("followed_up_at", T), ("followup_due_at", T), ("primary_id", T), ("paused_wall_s", F),
)
EVENT_COLUMNS = (
    ("position", N), ("complaint_id", T), ("customer_id", T), ("type", T), ("event_id", T), ("occurred_at", T),
    ("recorded_at", T), ("by_whom", T), ("channel", T), ("status_before", T), ("status_after", T),
    ("owner_before", T), ("owner_after", T), ("reason", T), ("details", T),
)

# What each event carries beyond who/when/channel, for the history's `details`.
_DETAIL_FIELDS = ("to", "from_owner", "level", "satisfaction", "metric", "clock", "allowance_s", "deadline",
                  "observed_at", "primary_id")
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
        basis=known_calendar(row["sla_calendar"] or CALENDAR_TIME.id),
        paused_wall_s=float(row["paused_wall_s"] if row["paused_wall_s"] is not None else row["paused_s"]),
    )
    response = None
    if row["fr_allowance_s"] is not None:
        response = SlaClock(
            number=1,
            started_at=datetime.fromisoformat(row["opened_at"]),
            allowance_s=int(row["fr_allowance_s"]),
            warning_s=int(row["fr_warning_s"]),
            stopped_at=_moment(row["fr_stopped_at"]),
            warned=bool(row["fr_warned"]),
            breached=bool(row["fr_breached"]),
            basis=known_calendar(row["fr_calendar"] or CALENDAR_TIME.id),
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
        response=response,
        followup_s=None if row["followup_s"] is None else int(row["followup_s"]),
        followup_basis=known_calendar(row["followup_calendar"] or CALENDAR_TIME.id),
        followup_required=bool(row["followup_required"]),
        resolved_at=_moment(row["last_resolved_at"]),
        followed_up_at=_moment(row["followed_up_at"]),
        primary_id=row["primary_id"],
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
        sla_calendar=clock.basis.id,
        paused_wall_s=clock.paused_wall_s,
        followup_s=case.followup_s,
        followup_calendar=case.followup_basis.id,
        followup_required=int(case.followup_required),
        last_resolved_at=_text(case.resolved_at),
        followed_up_at=_text(case.followed_up_at),
        followup_due_at=_text(case.followup_due_at),
        primary_id=case.primary_id,
    )
    first = case.response
    row.update(
        fr_allowance_s=None if first is None else first.allowance_s,
        fr_warning_s=None if first is None else first.warning_s,
        fr_calendar=None if first is None else first.basis.id,
        fr_stopped_at=None if first is None else _text(first.stopped_at),
        fr_warned=None if first is None else int(first.warned),
        fr_breached=None if first is None else int(first.breached),
        fr_deadline_at=None if first is None else _text(first.deadline),
        fr_warning_at=None if first is None else _text(first.warning_at),
    )


PENDING_COLUMNS = (("event_id", T), ("customer_id", T), ("complaint_id", T), ("step_type", T), ("occurred_at", T),
                   ("recorded_at", T), ("position", N))
CONFLICT_COLUMNS = (("event_id", T), ("customer_id", T), ("complaint_id", T), ("step_event_id", T), ("step_type", T),
                    ("reason", T), ("occurred_at", T), ("recorded_at", T), ("position", N))


@dataclass
class UnitOfWork:
    """The complaints one batch touches: their rows and cases as they will be after the batch."""

    rows: dict[str, Row] = field(default_factory=dict)
    cases: dict[str, ComplaintCase] = field(default_factory=dict)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    erased: dict[str, None] = field(default_factory=dict)  # customers, in order, once each
    pending: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Steps of complaints not opened yet (late references), by event id: rm_complaint_pending_step's rows."""
    opened: list[str] = field(default_factory=list)
    """Complaints opened in this batch: their pending steps stored earlier are linked now."""
    conflicts: list[tuple[Any, ...]] = field(default_factory=list)


# --- what each event does to the view -------------------------------------------------------


def _opened(uow: UnitOfWork, position: int, e: Customer.ComplaintOpened) -> None:
    for event_id, step in list(uow.pending.items()):  # linked now (recorded again after the opening, or conflicts)
        if step[2] == e.complaint_id:
            del uow.pending[event_id]
    uow.opened.append(e.complaint_id)
    case = uow.cases[e.complaint_id] = e.case()
    uow.rows[e.complaint_id] = _opened_row(e)
    uow.history.append(_history_row(position, e, None, None, case))


def _step(uow: UnitOfWork, position: int, e: Customer.ComplaintStep) -> None:
    """Any complaint step: the domain's own `change` moves the case on."""
    case = uow.cases.get(e.complaint_id)
    if case is None:  # before its complaint (a late reference): listed until the complaint is opened
        uow.pending[e.event_id] = (e.event_id, e.originator_id, e.complaint_id, e.TOPIC, utc_text(e.occurred_at),
                                   utc_text(e.timestamp), position)
        return
    before_status, before_owner = case.status.value, case.owner
    e.change(case)
    row = uow.rows[e.complaint_id]
    row["last_changed_at"] = max(row["last_changed_at"], utc_text(e.occurred_at))
    uow.history.append(_history_row(position, e, before_status, before_owner, case))


def _conflict(uow: UnitOfWork, position: int, e: Customer.ComplaintStepConflict) -> None:
    uow.conflicts.append((e.event_id, e.originator_id, e.complaint_id, e.step_event_id, e.step_type, e.reason,
                          utc_text(e.occurred_at), utc_text(e.timestamp), position))


def _resolved(uow: UnitOfWork, position: int, e: Customer.ComplaintResolved) -> None:
    _step(uow, position, e)
    if e.complaint_id not in uow.cases:
        return
    row = uow.rows[e.complaint_id]
    row["resolved_at"], row["resolution"] = utc_text(e.occurred_at), e.resolution


def _closed(uow: UnitOfWork, position: int, e: Customer.ComplaintClosed) -> None:
    _step(uow, position, e)
    if e.complaint_id in uow.cases:
        uow.rows[e.complaint_id]["closed_at"] = utc_text(e.occurred_at)


def _reopened(uow: UnitOfWork, position: int, e: Customer.ComplaintReopened) -> None:
    _step(uow, position, e)
    if e.complaint_id not in uow.cases:
        return
    row = uow.rows[e.complaint_id]
    row["resolved_at"] = row["resolution"] = row["closed_at"] = None


def _erased(uow: UnitOfWork, position: int, e: Customer.Erased) -> None:
    uow.erased[e.originator_id] = None


_COMPLAINT_EVENTS = family(Customer.ComplaintStep) | {Customer.ComplaintOpened}


class ComplaintView(ReadModel[UnitOfWork]):
    # Renamed when its tables change shape so the projector rebuilds it from the log (migrations/0006). 0021 adds
    # columns and fills them as a rebuild would (tests/integration/test_working_day_migration.py), so no rebuild.
    name = "complaint_view.v2"
    reads_from: tuple[str, ...] = ()
    tables = (("rm_complaint", "complaint_id"), ("rm_complaint_event", "position"),
              ("rm_complaint_pending_step", "event_id"), ("rm_complaint_conflict", "event_id"))
    handlers = {
        Customer.ComplaintOpened: _opened,
        **{step: _step for step in family(Customer.ComplaintStep)},
        # Steps that also set a milestone column of the complaint's row.
        Customer.ComplaintResolved: _resolved,
        Customer.ComplaintClosed: _closed,
        Customer.ComplaintReopened: _reopened,
        Customer.Erased: _erased,
        Customer.ComplaintStepConflict: _conflict,
    }
    ignores = frozenset({
        Customer.Registered, Customer.TierChanged, Customer.MsisdnAdded, Customer.MsisdnReleased,
        Customer.ContactLogged, Customer.OrderPlaced, Customer.ServiceActivated, Customer.OrderCancelled,
        Customer.OrderJeopardy,
        Customer.UnidentifiedCaller, Customer.ContactIdentified, Customer.OrderStepConflict,
        Customer.Merged, Customer.Unmerged, Customer.DuplicateMerged, Customer.DuplicateUnmerged,
    })

    def start(self, sql: Sql, relevant: Sequence[PositionedEvent]) -> UnitOfWork:
        uow = UnitOfWork()
        complaint_events = [e for _, e in relevant if type(e) in _COMPLAINT_EVENTS]
        opened_here = {e.complaint_id for e in complaint_events if isinstance(e, Customer.ComplaintOpened)}
        wanted = sorted({e.complaint_id for e in complaint_events} - opened_here)  # type: ignore[attr-defined]
        for row in sql.select_where_in("rm_complaint", "complaint_id", wanted):
            uow.rows[row["complaint_id"]] = row
            uow.cases[row["complaint_id"]] = case_from_row(row)
        return uow

    def finish(self, sql: Sql, uow: UnitOfWork) -> None:
        for complaint_id, row in uow.rows.items():
            write_case(row, uow.cases[complaint_id])
        sql.upsert_rows("rm_complaint", COMPLAINT_COLUMNS, row_tuples(COMPLAINT_COLUMNS, uow.rows.values()),
                        "complaint_id")
        sql.insert_rows("rm_complaint_event", EVENT_COLUMNS, uow.history)
        for complaint_id in uow.opened:
            sql.execute("DELETE FROM rm_complaint_pending_step WHERE complaint_id = ?", (complaint_id,))
        sql.insert_rows("rm_complaint_pending_step", PENDING_COLUMNS, list(uow.pending.values()))
        sql.insert_rows("rm_complaint_conflict", CONFLICT_COLUMNS, uow.conflicts)
        for customer_id in uow.erased:
            # What the customer or staff wrote about the case reads as erased, as it does in a
            # rebuild from the log once the customer's key is gone.
            for table, column in (("rm_complaint", "summary"), ("rm_complaint", "resolution"),
                                  ("rm_complaint_event", "reason")):
                sql.execute(f"UPDATE {table} SET {column} = ? WHERE customer_id = ? AND {column} IS NOT NULL",
                            (ERASED, customer_id))


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
