"""Questions answered from the complaint read model (complaint_view.py): one complaint, work queues, SLA due.

Where a complaint stands against its time limit depends on the moment asked; it is worked
out here, at read time, by the domain's own clock (`SlaClock.state`), from the stored clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from contacthub.domain.complaint import METRICS, OPEN_STATUSES, RUNNING, ComplaintCase, SlaClock
from contacthub.domain.vocabulary import ComplaintStatus
from contacthub.projections.base import ReadQueries, contact_item, utc_text
from contacthub.projections.complaint_view import case_from_row
from contacthub.projections.sql import Sql

QUEUE_SLA_FILTERS = ("due_soon", "breached", "paused", "on_track", "attention")
QUEUE_FIRST_RESPONSE_FILTERS = ("waiting", "due_soon", "breached")
QUEUE_FOLLOWUP_FILTERS = ("due", "overdue")
QUEUE_SORTS = {
    "newest": "opened_at DESC, complaint_id DESC",
    "oldest": "opened_at, complaint_id",
    "deadline": "CASE WHEN deadline_at IS NULL THEN 1 ELSE 0 END, deadline_at, complaint_id",
    "followup_due": "CASE WHEN followup_due_at IS NULL THEN 1 ELSE 0 END, followup_due_at, complaint_id",
}


@dataclass(frozen=True)
class QueueFilter:
    statuses: Sequence[str] = ()  # "open" stands for every status with work still to do
    owner: str | None = None
    tier: str | None = None
    channel: str | None = None
    customer_id: str | None = None
    sla: str | None = None
    sort: str = "newest"
    severity: str | None = None
    category: str | None = None
    first_response: str | None = None  # waiting (not answered yet), due_soon, breached
    followup: str | None = None  # due: resolved and waiting for the follow-up call (overdue ones too); overdue
    owners: Sequence[str] = ()  # any of these owners ("my store": the site's staff)
    with_duplicates: bool = False  # linked duplicates too (they follow their primary: work queues leave them out)


@dataclass(frozen=True)
class SlaCandidate:
    complaint_id: str
    customer_id: str
    due: tuple[tuple[str, int, str], ...]  # (metric, clock number, "warning" or "breached"), warnings first
    tier: str | None = None
    severity: str = ""
    owner: str = ""
    channel: str = ""  # the channel the complaint was opened in
    status: str = ""


class ComplaintQueries(ReadQueries):
    # --- one complaint ----------------------------------------------------------------

    def summary(self, row: dict[str, Any], now: datetime) -> dict[str, Any]:
        """A complaint as a work queue or a customer card shows it."""
        case = case_from_row(row)
        clock = case.clock
        remaining = clock.remaining_s(now)
        return {
            "complaint_id": row["complaint_id"],
            "customer_id": row["customer_id"],
            "status": row["status"],
            "category": row["category"],
            "severity": row["severity"],
            "tier": row["tier"],
            "summary": row["summary"],
            "opened_channel": row["channel"],
            "owner": row["owner"],
            "opened_at": self._local(row["opened_at"]),
            "last_changed_at": self._local(row["last_changed_at"]),
            "escalation_level": int(row["escalation_level"]),
            "reopen_count": int(row["reopen_count"]),
            "satisfaction": case.satisfaction,
            "resolved_at": self._local(row["resolved_at"]),
            "resolution": row["resolution"],
            "closed_at": self._local(row["closed_at"]),
            "allowed_actions": case.allowed_actions(),
            "linked_to": case.primary_id,
            "sla": {
                "policy": case.sla_policy,
                "clock": clock.number,
                "state": clock.state(now).value,
                "allowance_s": clock.allowance_s,
                "elapsed_s": int(clock.elapsed_s(now)),
                "time_left_s": max(0, int(remaining)),
                "overdue_s": int(clock.overdue_s(now)),
                "paused": clock.paused_since is not None,
                "paused_s": int(clock.paused_total_s(now) if clock.stopped_at is None else clock.paused_s),
                "deadline": self._local(row["deadline_at"]),
                "warning_at": self._local(row["warning_at"]),
                "clock_started_at": self._local(row["clock_started_at"]),
                "stopped_at": self._local(row["stopped_at"]),
                "warning_recorded": clock.warned,
                "breach_recorded": clock.breached,
                "calendar": clock.basis.id,
            },
            "first_response": None if case.response is None else self._first_response(case.response, now),
            "follow_up": self._follow_up(case, now),
        }

    def _first_response(self, clock: SlaClock, now: datetime) -> dict[str, Any]:
        remaining = clock.remaining_s(now)
        return {
            "state": clock.state(now).value,
            "allowance_s": clock.allowance_s,
            "elapsed_s": int(clock.elapsed_s(now)),
            "time_left_s": max(0, int(remaining)),
            "overdue_s": int(clock.overdue_s(now)),
            "deadline": self._local(utc_text(clock.deadline)) if clock.deadline else None,
            "warning_at": self._local(utc_text(clock.warning_at)) if clock.warning_at else None,
            "responded_at": self._local(utc_text(clock.stopped_at)) if clock.stopped_at else None,
            "warning_recorded": clock.warned,
            "breach_recorded": clock.breached,
            "calendar": clock.basis.id,
        }

    def _follow_up(self, case: ComplaintCase, now: datetime) -> dict[str, Any] | None:
        if case.followup_s is None:
            return None
        due = case.followup_due_at
        return {
            "state": case.followup_state(now) or ("done" if case.followed_up_at else "not_due"),
            "due_at": self._local(utc_text(due)) if due else None,
            "required_to_close": case.followup_required,
            "followed_up_at": self._local(utc_text(case.followed_up_at)) if case.followed_up_at else None,
            "calendar": case.followup_basis.id,
        }

    def complaint(self, complaint_id: str) -> dict[str, Any] | None:
        """Everything about one complaint: state, SLA, status and ownership history, related contacts."""
        now = self.clock()
        with self.store.transaction(commit=False) as sql:  # one snapshot
            row = sql.execute("SELECT * FROM rm_complaint WHERE complaint_id = ?", (complaint_id,)).one()
            if row is None:
                return None
            events = sql.execute(
                "SELECT * FROM rm_complaint_event WHERE complaint_id = ? ORDER BY position", (complaint_id,)
            ).all()
            contacts = sql.execute(
                "SELECT * FROM rm_contact WHERE complaint_id = ? AND customer_id = ? ORDER BY occurred_at, position",
                (complaint_id, row["customer_id"]),
            ).all()
            duplicates = sql.execute(
                "SELECT complaint_id FROM rm_complaint WHERE primary_id = ? ORDER BY opened_at, complaint_id", (complaint_id,)
            ).all()
        history = [self._history_item(e) for e in events]
        status_changes = [
            {k: h[k] for k in ("status", "from_status", "at", "by", "channel", "reason", "type", "position")}
            for h in history
            if h["from_status"] != h["status"]
        ]
        ownership = [
            {"owner": h["owner"], "from_owner": h["from_owner"], "since": h["at"], "by": h["by"],
             "channel": h["channel"], "reason": h["reason"] if h["from_owner"] else None, "type": h["type"]}
            for h in history
            if h["from_owner"] != h["owner"]
        ]
        return {
            **self.summary(row, now),
            "duplicates": [d["complaint_id"] for d in duplicates],
            "status_change_history": status_changes,
            "ownership_history": ownership,
            "history": history,
            "related_contacts": [contact_item(c, self.zone) for c in contacts],
        }

    def _history_item(self, e: dict[str, Any]) -> dict[str, Any]:
        details = orjson.loads(e["details"])
        for moment in ("deadline", "observed_at"):
            if moment in details:
                details[moment] = self._local(details[moment])
        return {
            "position": int(e["position"]),
            "type": e["type"],
            "event_id": e["event_id"],
            "at": self._local(e["occurred_at"]),
            "recorded_at": self._local(e["recorded_at"]),
            "by": e["by_whom"],
            "channel": e["channel"],
            "from_status": e["status_before"],
            "status": e["status_after"],
            "from_owner": e["owner_before"],
            "owner": e["owner_after"],
            "reason": e["reason"],
            "details": details,
        }

    def customer_of(self, complaint_id: str) -> str | None:
        row = self.store.query_one("SELECT customer_id FROM rm_complaint WHERE complaint_id = ?", (complaint_id,))
        return None if row is None else row["customer_id"]

    def for_customer(self, customer_id: str, open_only: bool = True, records: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The customer's complaints (`records`: of every record of a merged person), newest first."""
        now = self.clock()
        with self.store.transaction(commit=False) as sql:
            return [self.summary(r, now) for r in self.customer_rows(sql, customer_id, open_only, records)]

    def customer_rows(self, sql: Sql, customer_id: str, open_only: bool, records: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The customer's complaints, newest first; `records`: every record of a merged person (their union)."""
        ids = list(records) or [customer_id]
        who = f"customer_id IN ({sql.in_list(ids)})" if len(ids) > 1 else "customer_id = ?"
        if open_only:
            statuses = sorted(OPEN_STATUSES)
            return sql.execute(
                f"SELECT * FROM rm_complaint WHERE {who} AND status IN ({sql.in_list(statuses)}) "
                "ORDER BY opened_at DESC, complaint_id DESC",
                (*ids, *statuses),
            ).all()
        return sql.execute(
            f"SELECT * FROM rm_complaint WHERE {who} ORDER BY opened_at DESC, complaint_id DESC", ids
        ).all()

    # --- work queues ------------------------------------------------------------------

    def queue(self, f: QueueFilter, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        """One page of complaints matching the filter, and how many match in all."""
        return self.queue_slice(f, (page - 1) * page_size, page_size)

    def queue_slice(self, f: QueueFilter, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """`limit` complaints matching the filter from the `offset`-th on, and how many match in all."""
        now = self.clock()
        where, params = self._where(f, utc_text(now))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self.store.transaction(commit=False) as sql:
            total = int(sql.execute(f"SELECT COUNT(*) AS n FROM rm_complaint {clause}", params).one()["n"])  # type: ignore[index]
            rows = sql.execute(
                f"SELECT * FROM rm_complaint {clause} ORDER BY {QUEUE_SORTS[f.sort]} LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).all()
        return [self.summary(r, now) for r in rows], total

    @staticmethod
    def _where(f: QueueFilter, now: str) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        statuses: set[str] = set()
        for status in f.statuses:
            statuses |= set(OPEN_STATUSES) if status == "open" else {status}
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += sorted(statuses)
        for column in ("owner", "tier", "channel", "customer_id", "severity", "category"):
            value = getattr(f, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        running = sorted(RUNNING)
        open_ = sorted(OPEN_STATUSES)
        in_running = f"status IN ({','.join('?' * len(running))})"
        in_open = f"status IN ({','.join('?' * len(open_))})"
        if f.sla == "due_soon":
            where.append(f"{in_running} AND warning_at <= ? AND deadline_at >= ?")
            params += [*running, now, now]
        elif f.sla == "breached":
            where.append(f"{in_open} AND (breached = 1 OR deadline_at < ?)")
            params += [*open_, now]
        elif f.sla == "paused":
            where.append("status = ? AND breached = 0")
            params.append(ComplaintStatus.PENDING.value)
        elif f.sla == "attention":  # due soon or breached: what a supervisor watches
            where.append(f"{in_open} AND (breached = 1 OR deadline_at < ? OR "
                         f"({in_running} AND warning_at <= ?))")
            params += [*open_, now, *running, now]
        elif f.sla == "on_track":
            where.append(f"{in_running} AND warning_at > ?")
            params += [*running, now]
        if f.first_response is not None:
            where.append(f"{in_open} AND fr_allowance_s IS NOT NULL AND fr_stopped_at IS NULL")
            params += open_
            if f.first_response == "due_soon":
                where.append("fr_warning_at <= ? AND fr_deadline_at >= ?")
                params += [now, now]
            elif f.first_response == "breached":
                where.append("(fr_breached = 1 OR fr_deadline_at < ?)")
                params.append(now)
        if f.followup is not None:
            where.append("status = ? AND followup_due_at IS NOT NULL")
            params.append(ComplaintStatus.RESOLVED.value)
            if f.followup == "overdue":
                where.append("followup_due_at < ?")
                params.append(now)
        if f.owners:
            where.append(f"owner IN ({','.join('?' * len(f.owners))})")
            params += list(f.owners)
        if not f.with_duplicates:
            where.append("primary_id IS NULL")
        return where, params

    # --- for the SLA watcher ---------------------------------------------------------------

    def sla_candidates(self, now: datetime, limit: int = 1000) -> list[SlaCandidate]:
        """Open complaints whose warning or breach is due at `now` and not yet recorded, oldest deadline first.

        Running clocks are found by their warning and deadline columns; a paused clock has
        none, so pending complaints are checked one by one (there are few of them).
        """
        moment = utc_text(now)
        running = sorted(RUNNING)
        open_ = sorted(OPEN_STATUSES)
        rows = self.store.query(
            f"SELECT * FROM rm_complaint WHERE status IN ({','.join('?' * len(running))}) AND primary_id IS NULL AND "
            "((warned = 0 AND warning_at <= ?) OR (breached = 0 AND deadline_at < ?)) "
            "ORDER BY deadline_at, complaint_id LIMIT ?",
            (*running, moment, moment, limit),
        )
        rows += self.store.query(
            "SELECT * FROM rm_complaint WHERE status = ? AND (warned = 0 OR breached = 0) AND primary_id IS NULL "
            "ORDER BY complaint_id LIMIT ?",
            (ComplaintStatus.PENDING.value, limit),
        )
        rows += self.store.query(  # the first-response clock: never paused, stopped by the first answer
            f"SELECT * FROM rm_complaint WHERE status IN ({','.join('?' * len(open_))}) AND fr_stopped_at IS NULL "
            "AND ((fr_warned = 0 AND fr_warning_at <= ?) OR (fr_breached = 0 AND fr_deadline_at < ?)) "
            "ORDER BY fr_deadline_at, complaint_id LIMIT ?",
            (*open_, moment, moment, limit),
        )
        candidates: dict[str, SlaCandidate] = {}
        for row in rows:
            if row["complaint_id"] in candidates:
                continue
            case = case_from_row(row)
            due = tuple(
                (metric, clock.number, kind)
                for metric in METRICS
                if (clock := case.clock_of(metric)) is not None
                for kind in ("warning", "breached")
                if case.sla_due(kind, now, metric)
            )
            if due:
                candidates[row["complaint_id"]] = SlaCandidate(row["complaint_id"], row["customer_id"], due, row["tier"],
                                                               row["severity"], row["owner"], row["channel"],
                                                               row["status"])
        return list(candidates.values())[:limit]
