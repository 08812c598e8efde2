"""Response shapes shared by more than one router."""

from __future__ import annotations

from pydantic import BaseModel, Field


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


class JeopardyLimitsOut(BaseModel):
    days: float
    calls: int


class JeopardyOut(BaseModel):
    """An order flagged in jeopardy (order.jeopardy): kept as history once the order is activated or cancelled."""

    at: str = Field(description="When the first limit passed")
    reasons: list[str] = Field(description="The limits passed while the order was in progress: days, calls")
    limits: JeopardyLimitsOut = Field(description="The limits in force when it was flagged")
    calls: int = Field(description="Inbound hotline calls in the order's window when it was flagged")
    observed_at: str = Field(description="When the jeopardy watcher saw it")
