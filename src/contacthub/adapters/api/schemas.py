"""Response shapes shared by more than one router."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

_CLOCK_SECONDS = "in the clock's own time: working seconds when it counts working time (`calendar` names a calendar)"


class SlaOut(BaseModel):
    """The resolution clock (处理时限)."""

    policy: str
    clock: int
    state: str
    allowance_s: int = Field(description=f"The limit, {_CLOCK_SECONDS}")
    elapsed_s: int = Field(description=f"Counted so far, {_CLOCK_SECONDS}")
    time_left_s: int = Field(description=f"Left before the deadline, {_CLOCK_SECONDS}")
    overdue_s: int = Field(description="Seconds (wall clock) since the deadline passed; 0 when it has not")
    paused: bool
    paused_s: int
    deadline: str | None
    warning_at: str | None
    clock_started_at: str
    stopped_at: str | None
    warning_recorded: bool
    breach_recorded: bool
    calendar: str = Field(description="How the clock counts: `calendar-time` (every second) or a working calendar's id")


class FirstResponseOut(BaseModel):
    """The first-response clock: from the opening to the first step that answers the customer."""

    state: str
    allowance_s: int = Field(description=f"The limit, {_CLOCK_SECONDS}")
    elapsed_s: int
    time_left_s: int
    overdue_s: int = Field(description="Seconds (wall clock) since the deadline passed; 0 when it has not")
    deadline: str | None
    warning_at: str | None
    responded_at: str | None
    warning_recorded: bool
    breach_recorded: bool
    calendar: str


class FollowUpOut(BaseModel):
    """The follow-up call (回访) after a resolution."""

    state: str = Field(description="`due`, `overdue`, `done` (made since the latest resolution) or `not_due` (not resolved)")
    due_at: str | None
    required_to_close: bool
    followed_up_at: str | None
    calendar: str


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
    linked_to: str | None = Field(description="The primary this complaint duplicates (complaint.linked); it follows its resolution")
    sla: SlaOut
    first_response: FirstResponseOut | None = Field(description="None when the policy had no first-response clock at the opening")
    follow_up: FollowUpOut | None = Field(description="None when the policy had no follow-up call at the opening")


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


class ServiceOut(BaseModel):
    service: str
    order_id: str
    status: str


class OpenOrderOut(BaseModel):
    order_id: str
    status: str
    services: list[str]
    activated: list[str]
    pending: list[str]
    placed_at: str
    age_s: int


class ContactOut(BaseModel):
    event_id: str
    position: int
    occurred_at: str
    recorded_at: str
    channel: str
    direction: str
    reason: str
    handled_by: str
    site: str | None
    duration_s: int
    outcome: str
    order_id: str | None
    complaint_id: str | None


class RiskFlagOut(BaseModel):
    rule: str
    count: int
    threshold: int
    explanation: str


class ChurnRiskOut(BaseModel):
    at_risk: bool
    as_of: str
    window_days: int
    flags: list[RiskFlagOut]


class FormerMsisdnOut(BaseModel):
    msisdn: str
    held_from: str
    released_at: str


class MergedRecordOut(BaseModel):
    customer_id: str
    merged_at: str


class Customer360Out(BaseModel):
    customer_id: str
    name: str
    segment: str
    tier: str
    arpu: float | None
    msisdns: list[str]
    former_msisdns: list[FormerMsisdnOut] = []
    """Numbers the customer held and released (customer.msisdn_released), oldest release first."""
    registered_at: str
    erased_at: str | None = None
    """When the customer's personal data was erased (name and free text then read `[erased]`); null if never."""
    redirected_from: str | None = None
    """The id asked for when it is a duplicate record merged into `customer_id` (customer.merged): the view
    answered is the survivor's, of every record of the person; null when the id asked for is `customer_id`."""
    merged_records: list[MergedRecordOut] = []
    """The duplicate records merged into this customer now, oldest merge first: their numbers, orders,
    complaints, touchpoints and counts are part of this view."""
    services: list[ServiceOut]
    open_orders: list[OpenOrderOut]
    open_complaints: list[ComplaintSummaryOut]
    recent_contacts: list[ContactOut]
    contact_counts: dict[str, int]
    contact_count: int
    last_contact_at: str | None
    churn_risk: ChurnRiskOut
    position: int


class StatusChangeOut(BaseModel):
    status: str
    from_status: str | None
    at: str
    by: str | None
    channel: str | None
    reason: str | None
    type: str
    position: int


class OwnershipOut(BaseModel):
    owner: str
    from_owner: str | None
    since: str
    by: str | None
    channel: str | None
    reason: str | None
    type: str


class HistoryItemOut(BaseModel):
    position: int
    type: str
    event_id: str
    at: str
    recorded_at: str
    by: str | None
    channel: str | None
    from_status: str | None
    status: str
    from_owner: str | None
    owner: str
    reason: str | None
    details: dict[str, Any]


class RelatedContactOut(BaseModel):
    event_id: str
    position: int
    occurred_at: str
    channel: str
    direction: str
    reason: str
    handled_by: str
    site: str | None
    outcome: str


class ComplaintOut(ComplaintSummaryOut):
    duplicates: list[str] = Field(description="The complaints linked to this one as its duplicates")
    status_change_history: list[StatusChangeOut]
    ownership_history: list[OwnershipOut]
    history: list[HistoryItemOut]
    related_contacts: list[RelatedContactOut]
    position: int
