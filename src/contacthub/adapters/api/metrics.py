"""Journey, contact, complaint, channel and value metrics, and the customers at risk of churning.

Every figure is read from read models (never by scanning the log) and comes with the
counts it is made of. Definitions: docs/metrics.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from contacthub.adapters.api.schemas import RiskFlagOut
from contacthub.adapters.http.access_log import record_shown
from contacthub.adapters.http.csv_export import CSV_RESPONSE, Format, maybe_csv
from contacthub.adapters.http.dependencies import Hub, MinPosition, require, wait_for_read_models
from contacthub.adapters.http.errors import AUTH_RESPONSES, ERROR_RESPONSES, ApiError
from contacthub.adapters.http.parameters import (
    DEFAULT_PERIOD_DAYS,
    FIRST_QUERY_DAY,
    LAST_QUERY_DAY,
    MAX_PERIOD_DAYS,
    QueryDay,
    QueryMoment,
)
from contacthub.bootstrap import ContactHub
from contacthub.domain.churn_risk import RULE_NAMES
from contacthub.domain.roles import Capability
from contacthub.domain.vocabulary import Channel, Tier
from contacthub.projections.metrics_queries import MetricsFilter

router = APIRouter(tags=["metrics"], responses=AUTH_RESPONSES)
METRICS_RULE = [Depends(require(Capability.READ_METRICS))]
"""Aggregates: clerks and auditors; not recorded in the access log (no one customer's data)."""
AT_RISK_RULE = [Depends(require(Capability.READ_CUSTOMERS))]
"""The at-risk list names customers: a read of customer data, recorded."""

From = Annotated[
    QueryDay | None,
    Query(alias="from", description="First local day of the period (YYYY-MM-DD, operator's time zone; "
                                    f"{FIRST_QUERY_DAY} to {LAST_QUERY_DAY}); default: 29 days before `to`."),
]
To = Annotated[QueryDay | None, Query(description="Last local day of the period, inclusive; default: today.")]
ChannelFilter = Annotated[Channel | None, Query(description="Only this channel.")]
TierFilter = Annotated[Tier | None, Query(description="Only this tier (the customer's tier at the time of each fact).")]
Label = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


# --- response shapes ---------------------------------------------------------------------


class PeriodOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    time_zone: str


class FcrOut(BaseModel):
    issues: int
    resolved_first_contact: int
    rate: float | None


class RepeatOut(BaseModel):
    contacts: int
    repeated: int
    rate: float | None


class HandlingOut(BaseModel):
    handled: int
    handled_s: int
    average_s: float | None


class SelfServiceOut(BaseModel):
    sessions: int
    contained: int
    containment_rate: float | None


class ContactQualityOut(BaseModel):
    contacts: int
    inbound: int
    first_contact_resolution: FcrOut
    repeat_contact: RepeatOut
    handling: HandlingOut
    self_service: SelfServiceOut


class ChannelQualityOut(ContactQualityOut):
    channel: str


class ReasonQualityOut(ContactQualityOut):
    reason: str


class TierQualityOut(ContactQualityOut):
    tier: str


class AgentQualityOut(ContactQualityOut):
    handled_by: str


class SiteQualityOut(ContactQualityOut):
    site: str = Field(description="As the channel wrote it; \"\" for contacts with no site")


class ContactMetricsOut(BaseModel):
    period: PeriodOut
    filters: dict[str, str | None]
    totals: ContactQualityOut
    by_channel: list[ChannelQualityOut]
    by_reason: list[ReasonQualityOut]
    by_tier: list[TierQualityOut]
    by_handled_by: list[AgentQualityOut] | None = Field(default=None, description="With ?by=handled_by")
    by_site: list[SiteQualityOut] | None = Field(default=None, description="With ?by=site")
    position: int


class ChannelDayOut(ContactQualityOut):
    day: str
    channel: str


class ChannelMetricsOut(BaseModel):
    period: PeriodOut
    filters: dict[str, str | None]
    days: list[ChannelDayOut]
    position: int


class SlaComplianceOut(BaseModel):
    met: int
    missed: int
    overdue_unresolved: int
    compliance: float | None


class FirstResponseComplianceOut(BaseModel):
    """The first-response clock of complaints opened under a policy that has one."""

    met: int
    missed: int
    overdue_unanswered: int = Field(description="Open, not answered yet, and past the first-response deadline")
    compliance: float | None


class FollowUpFiguresOut(BaseModel):
    """The follow-up call (回访) after the latest resolution, now."""

    waiting: int = Field(description="Resolved and waiting for the follow-up call (overdue ones too)")
    overdue: int = Field(description="Waiting past the time the policy gives")
    made: int = Field(description="Followed up since the latest resolution")


class ResolveTimeOut(BaseModel):
    resolved: int
    median: float | None
    p90: float | None
    mean: float | None


class ReopenOut(BaseModel):
    resolved: int
    reopened: int
    rate: float | None


class SatisfactionOut(BaseModel):
    responses: int
    satisfied: int
    csat: float | None
    mean: float | None


class ComplaintQualityOut(BaseModel):
    complaints: int
    open: int
    sla: SlaComplianceOut = Field(description="The resolution clock")
    first_response: FirstResponseComplianceOut
    follow_up: FollowUpFiguresOut
    time_to_resolve_s: ResolveTimeOut
    reopen: ReopenOut
    satisfaction: SatisfactionOut


class ComplaintChannelOut(ComplaintQualityOut):
    channel: str


class ComplaintCategoryOut(ComplaintQualityOut):
    category: str


class ComplaintTierOut(ComplaintQualityOut):
    tier: str


class ComplaintMetricsOut(BaseModel):
    period: PeriodOut
    filters: dict[str, str | None]
    totals: ComplaintQualityOut
    by_channel: list[ComplaintChannelOut]
    by_category: list[ComplaintCategoryOut]
    by_tier: list[ComplaintTierOut]
    position: int


class SpreadOut(BaseModel):
    count: int
    total: float
    mean: float | None
    median: float | None
    p90: float | None


class CallsBucketOut(BaseModel):
    calls: str
    orders: int


class CallsSpreadOut(SpreadOut):
    distribution: list[CallsBucketOut]


class OrderCountsOut(BaseModel):
    placed: int
    activated: int
    partiallyActivated: int
    inProgress: int
    cancelled: int
    flagged_in_jeopardy: int
    open_in_jeopardy: int


class JourneyMetricsOut(BaseModel):
    period: PeriodOut
    filters: dict[str, str | None]
    orders: OrderCountsOut
    calls_to_activation: CallsSpreadOut
    contacts_to_activation: SpreadOut
    technician_visits_to_activation: SpreadOut
    order_to_activation_s: SpreadOut
    position: int


class ConcentrationOut(BaseModel):
    top_fraction: float
    top_customers: int
    top_arpu: float
    share: float | None


class TierValueOut(BaseModel):
    tier: str
    customers: int
    customers_with_arpu: int
    arpu_total: float


class ValueMetricsOut(BaseModel):
    as_of: str
    time_zone: str
    filters: dict[str, str | None]
    customers: int
    customers_with_arpu: int
    arpu_total: float
    arpu_mean: float | None
    concentration: ConcentrationOut
    by_tier: list[TierValueOut]
    position: int


class AtRiskCustomerOut(BaseModel):
    customer_id: str
    tier: str
    flags: list[RiskFlagOut]


class AtRiskOut(BaseModel):
    as_of: str
    window_days: int
    valued_tiers: list[str]
    total: int
    page: int
    page_size: int
    customers: list[AtRiskCustomerOut]
    position: int


# --- reading -----------------------------------------------------------------------------


def period_filter(hub: ContactHub, first: date | None, last: date | None, **others: Any) -> MetricsFilter:
    last = last or hub.metrics.today()
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise ApiError(422, "from", f"the period starts ({first}) after it ends ({last})")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise ApiError(422, "from", f"a period spans at most {MAX_PERIOD_DAYS} days")
    return MetricsFilter(first_day=first, last_day=last, **{k: (v.value if hasattr(v, "value") else v) for k, v in others.items()})


@router.get("/v1/metrics/contacts", response_model=ContactMetricsOut, responses={**ERROR_RESPONSES, **CSV_RESPONSE}, dependencies=METRICS_RULE,
            summary="Contact quality: first-contact resolution, repeat contacts, handling time, self-service containment")
async def contact_metrics(
    request: Request, hub: Hub, export_format: Format = None, first: From = None, to: To = None, channel: ChannelFilter = None, tier: TierFilter = None,
    reason: Label = None, min_position: MinPosition = None,
    by: Annotated[list[Literal["handled_by", "site"]] | None, Query(
        description="Repeatable: also the figures per agent (`handled_by`, as by_handled_by) and/or per `site` (by_site)")] = None,
) -> Any:
    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        wanted = tuple(dict.fromkeys(by or ()))
        return {**hub.metrics.contacts(period_filter(hub, first, to, channel=channel, tier=tier, reason=reason), wanted),
                "position": position}

    return maybe_csv(request, export_format, await run_in_threadpool(read), "metrics-contacts")


@router.get("/v1/metrics/channels", response_model=ChannelMetricsOut, responses={**ERROR_RESPONSES, **CSV_RESPONSE}, dependencies=METRICS_RULE,
            summary="Daily volume and quality per channel")
async def channel_metrics(
    request: Request, hub: Hub, export_format: Format = None, first: From = None, to: To = None, channel: ChannelFilter = None, tier: TierFilter = None,
    reason: Label = None, min_position: MinPosition = None,
) -> Any:
    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        return {**hub.metrics.channels(period_filter(hub, first, to, channel=channel, tier=tier, reason=reason)),
                "position": position}

    return maybe_csv(request, export_format, await run_in_threadpool(read), "metrics-channels")


@router.get("/v1/metrics/complaints", response_model=ComplaintMetricsOut, responses={**ERROR_RESPONSES, **CSV_RESPONSE}, dependencies=METRICS_RULE,
            summary="Complaint quality: SLA compliance, time to resolve, reopen rate, satisfaction")
async def complaint_metrics(
    request: Request, hub: Hub, export_format: Format = None, first: From = None, to: To = None,
    channel: Annotated[Channel | None, Query(description="Only complaints opened through this channel.")] = None,
    tier: Annotated[Tier | None, Query(description="Only complaints accepted at this tier.")] = None,
    category: Label = None, min_position: MinPosition = None,
) -> Any:
    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        return {**hub.metrics.complaints(period_filter(hub, first, to, channel=channel, tier=tier, category=category)),
                "position": position}

    return maybe_csv(request, export_format, await run_in_threadpool(read), "metrics-complaints")


@router.get("/v1/metrics/journeys", response_model=JourneyMetricsOut, responses={**ERROR_RESPONSES, **CSV_RESPONSE}, dependencies=METRICS_RULE,
            summary="Order journeys placed in the period: calls, contacts and visits to activation, time to activate")
async def journey_metrics(
    request: Request, hub: Hub, export_format: Format = None, first: From = None, to: To = None,
    channel: Annotated[str | None, Query(description="Not applicable: journeys count every channel (422).")] = None,
    tier: Annotated[Tier | None, Query(description="Only orders placed while the customer had this tier.")] = None,
    min_position: MinPosition = None,
) -> Any:
    if channel is not None:
        raise ApiError(422, "channel", "journey metrics count every channel; use /v1/metrics/contacts?channel= for one channel")

    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        return {**hub.metrics.journeys(period_filter(hub, first, to, tier=tier)), "position": position}

    return maybe_csv(request, export_format, await run_in_threadpool(read), "metrics-journeys")


@router.get("/v1/metrics/value", response_model=ValueMetricsOut, responses={**ERROR_RESPONSES, **CSV_RESPONSE}, dependencies=METRICS_RULE,
            summary="Customer value: latest ARPU by the end of `to`, and the share held by the top 20% of customers")
async def value_metrics(
    request: Request, hub: Hub, export_format: Format = None,
    first: Annotated[str | None, Query(alias="from", description="Not applicable: value is a stock, read as of `to` (422).")] = None,
    to: Annotated[QueryDay | None, Query(description="As of the end of this local day; default: now.")] = None,
    channel: Annotated[str | None, Query(description="Not applicable (422).")] = None,
    tier: Annotated[Tier | None, Query(description="Only customers whose tier (as of `to`) is this one.")] = None,
    min_position: MinPosition = None,
) -> Any:
    if first is not None:
        raise ApiError(422, "from", "value is read as of the end of `to`; a start does not apply")
    if channel is not None:
        raise ApiError(422, "channel", "customer value is not split by channel")

    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        today = hub.metrics.today()
        last = to or today
        return {**hub.metrics.value(period_filter(hub, last, last, tier=tier), as_of_today=last >= today),
                "position": position}

    return maybe_csv(request, export_format, await run_in_threadpool(read), "metrics-value")


@router.get("/v1/customers/at-risk", response_model=AtRiskOut, responses={**ERROR_RESPONSES, **CSV_RESPONSE}, tags=["customers"],
           dependencies=AT_RISK_RULE,
            summary="Customers with early churn-risk signals, each flag naming the rule that fired")
async def customers_at_risk(
    request: Request, hub: Hub, export_format: Format = None,
    as_of: Annotated[QueryMoment | None, Query(description="Count the 30 days before this moment (RFC 3339 with offset); default: now.")] = None,
    tier: TierFilter = None,
    rule: Annotated[Literal[RULE_NAMES] | None, Query(description="Only customers this rule flags.")] = None,  # type: ignore[valid-type]
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    min_position: MinPosition = None,
) -> Any:
    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        # Without as_of it may come from the risk watcher's snapshot: then its own as_of and position.
        answer = hub.customers.risk.at_risk(as_of, tier.value if tier else None, rule, page, page_size,
                                            min_position=min_position)
        record_shown(request, (customer["customer_id"] for customer in answer["customers"]))
        return {"position": position, **answer}

    return maybe_csv(request, export_format, await run_in_threadpool(read), "customers-at-risk")
