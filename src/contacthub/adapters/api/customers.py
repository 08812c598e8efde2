"""The 360-degree customer view and the cross-channel timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from contacthub.adapters.api.errors import ERROR_RESPONSES, ApiError
from contacthub.adapters.api.schemas import ComplaintSummaryOut
from contacthub.bootstrap import ContactHub
from contacthub.contract import normalise_msisdn
from contacthub.projections.customer_queries import BadCursor

router = APIRouter(tags=["customers"])

CustomerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$", description="The customer's id")]
MinPosition = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="Wait (bounded) until the view has applied this log position: read your own write."),
]


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


class Customer360Out(BaseModel):
    customer_id: str
    name: str
    segment: str
    tier: str
    arpu: float | None
    msisdns: list[str]
    registered_at: str
    erased_at: str | None = None
    """When the customer's personal data was erased (name and free text then read `[erased]`); null if never."""
    services: list[ServiceOut]
    open_orders: list[OpenOrderOut]
    open_complaints: list[ComplaintSummaryOut]
    recent_contacts: list[ContactOut]
    contact_counts: dict[str, int]
    contact_count: int
    last_contact_at: str | None
    churn_risk: ChurnRiskOut
    position: int


class TimelineOut(BaseModel):
    customer_id: str
    items: list[ContactOut]
    next: str | None
    position: int


def wait_for_read_models(hub: ContactHub, min_position: int | None) -> int:
    """Block until the read models have applied `min_position`; return how far they are."""
    reached = hub.projector.caught_up_to()
    if min_position is None or reached >= min_position:
        return reached
    head = hub.event_log.head_position()
    if min_position > head:
        # No stored event has that position: waiting could only time out.
        raise ApiError(422, "min_position", f"position {min_position} is beyond the end of the log ({head})")
    if not hub.projector.wait_for(min_position, hub.settings.read_wait_timeout_s):
        raise ApiError(
            503,
            "min_position",
            f"the read model has applied position {hub.projector.caught_up_to()}, not yet {min_position}; retry shortly",
            {"Retry-After": "1"},
        )
    return hub.projector.caught_up_to()


def _view(hub: ContactHub, customer_id: str, position: int) -> dict[str, Any]:
    view = hub.customers.customer_360(customer_id)
    if view is None:
        raise ApiError(404, "customer_id", f"no customer {customer_id}")
    return {**view, "position": position}


@router.get("/v1/customers/{customer_id}", response_model=Customer360Out, responses=ERROR_RESPONSES,
            summary="The 360-degree view of one customer")
async def get_customer(request: Request, customer_id: CustomerId, min_position: MinPosition = None) -> Any:
    hub: ContactHub = request.app.state.hub
    return await run_in_threadpool(lambda: _view(hub, customer_id, wait_for_read_models(hub, min_position)))


@router.get("/v1/customers", response_model=Customer360Out, responses=ERROR_RESPONSES,
            summary="Look a customer up by phone number (MSISDN)")
async def find_customer(
    request: Request,
    msisdn: Annotated[str, Query(min_length=1, max_length=16, description="Phone number, e.g. 13800138000 or +8613800138000")],
    min_position: MinPosition = None,
) -> Any:
    hub: ContactHub = request.app.state.hub
    try:
        number = normalise_msisdn(msisdn)
    except ValueError as exc:
        raise ApiError(422, "msisdn", str(exc)) from None

    def lookup() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        customer_id = hub.customers.customer_id_for_msisdn(number)
        if customer_id is None:
            raise ApiError(404, "msisdn", f"no customer has msisdn {number}")
        return _view(hub, customer_id, position)

    return await run_in_threadpool(lookup)


@router.get("/v1/customers/{customer_id}/timeline", response_model=TimelineOut, responses=ERROR_RESPONSES,
            summary="Every touchpoint of a customer across channels, in event-time order, paged")
async def get_timeline(
    request: Request,
    customer_id: CustomerId,
    after: Annotated[str | None, Query(max_length=200, description="The `next` cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_position: MinPosition = None,
) -> Any:
    hub: ContactHub = request.app.state.hub

    def page() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        if not hub.customers.customer_exists(customer_id):
            raise ApiError(404, "customer_id", f"no customer {customer_id}")
        try:
            items, next_cursor = hub.customers.timeline(customer_id, after, limit)
        except BadCursor as exc:
            raise ApiError(422, "after", str(exc)) from None
        return {"customer_id": customer_id, "items": items, "next": next_cursor, "position": position}

    return await run_in_threadpool(page)
