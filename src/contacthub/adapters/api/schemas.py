"""Response shapes shared by more than one router."""

from __future__ import annotations

from pydantic import BaseModel


class SlaOut(BaseModel):
    policy: str
    clock: int
    state: str
    allowance_s: int
    elapsed_s: int
    time_left_s: int
    overdue_s: int
    paused: bool
    paused_s: int
    deadline: str | None
    warning_at: str | None
    clock_started_at: str
    stopped_at: str | None
    warning_recorded: bool
    breach_recorded: bool


class ComplaintSummaryOut(BaseModel):
    complaint_id: str
    customer_id: str
    status: str
    category: str
    severity: str
    tier: str | None
    summary: str
    opened_channel: str
    owner: str
    opened_at: str
    last_changed_at: str
    escalation_level: int
    reopen_count: int
    satisfaction: int | None
    resolved_at: str | None
    resolution: str | None
    closed_at: str | None
    allowed_actions: list[str]
    sla: SlaOut
