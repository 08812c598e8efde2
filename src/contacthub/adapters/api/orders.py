"""Orders' journeys to activation: one order touchpoint by touchpoint with running counts, and lists (orders in jeopardy)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from contacthub.adapters.api.schemas import JeopardyOut
from contacthub.adapters.http.access_log import record_shown
from contacthub.adapters.http.dependencies import Hub, MinPosition, wait_for_read_models
from contacthub.adapters.http.errors import ERROR_RESPONSES, ApiError
from contacthub.adapters.http.parameters import IDENTIFIER, OrderId
from contacthub.domain.vocabulary import OrderStatus
from contacthub.projections.journey_queries import OrderFilter

router = APIRouter(tags=["orders"])


class TouchpointOut(BaseModel):
    event_id: str
    position: int
    occurred_at: str
    channel: str
    direction: str
    reason: str
    handled_by: str
    outcome: str
    order_id: str | None
    calls_so_far: int
    contacts_so_far: int
    technician_visits_so_far: int


class JourneySummaryOut(BaseModel):
    order_id: str
    customer_id: str
    state: str
    services: list[str]
    activated: list[str]
    pending: list[str]
    placed_at: str
    activated_at: str | None
    cancelled_at: str | None
    order_to_activation_s: int | None
    calls_to_activation: int
    contacts_to_activation: int
    technician_visits_to_activation: int
    jeopardy: JeopardyOut | None


class JourneyOut(JourneySummaryOut):
    touchpoints: list[TouchpointOut]
    position: int


class OrderListOut(BaseModel):
    items: list[JourneySummaryOut]
    page: int
    page_size: int
    total: int
    position: int


class ConflictOut(BaseModel):
    event_id: str
    customer_id: str
    reference_type: Literal["order", "complaint"]
    reference: str
    step_event_id: str
    step_type: str
    reason: str
    occurred_at: str
    recorded_at: str


class UnresolvedOut(BaseModel):
    event_id: str
    customer_id: str
    reference_type: Literal["order", "complaint"]
    reference: str
    step_type: str
    occurred_at: str
    recorded_at: str


class ConflictsOut(BaseModel):
    conflicts: list[ConflictOut]
    conflict_total: int
    unresolved: list[UnresolvedOut]
    unresolved_total: int
    unresolved_horizon_days: float
    position: int


@router.get("/v1/conflicts", response_model=ConflictsOut, responses=ERROR_RESPONSES,
            summary="Late facts that contradict what came after them, and references still unresolved past the horizon")
async def list_conflicts(
    request: Request,
    hub: Hub,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    min_position: MinPosition = None,
) -> Any:
    horizon = hub.settings.unresolved_horizon_days

    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        found = hub.customers.conflicts(hub.clock() - timedelta(days=horizon), limit)
        record_shown(request, {r["customer_id"] for r in (*found["conflicts"], *found["unresolved"])})
        return {**found, "unresolved_horizon_days": horizon, "position": position}

    return await run_in_threadpool(read)


@router.get("/v1/orders/{order_id}/journey", response_model=JourneyOut, responses=ERROR_RESPONSES,
            summary="An order's journey: calls, contacts and technician visits to activation, touchpoint by touchpoint")
async def get_journey(request: Request, hub: Hub, order_id: OrderId, min_position: MinPosition = None) -> Any:
    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        journey = hub.journeys.order_journey(order_id)
        if journey is None:
            raise ApiError(404, "order_id", f"no order {order_id}")
        # A merged person's order counts (and lists) the touchpoints of every record: each is recorded.
        records = hub.customers.records_of(journey["customer_id"])
        record_shown(request, [r for r in records if len(records) > 1 and r != journey["customer_id"]])
        return {**journey, "position": position}

    return await run_in_threadpool(read)


@router.get("/v1/orders", response_model=OrderListOut, responses=ERROR_RESPONSES,
            summary="Order journeys by jeopardy flag, state and customer, newest placing first, paged")
async def list_orders(
    request: Request,
    hub: Hub,
    jeopardy: Annotated[bool | None, Query(description="true: only orders flagged in jeopardy; false: only those never flagged")] = None,
    state: Annotated[list[OrderStatus] | None, Query(description="Repeatable: inProgress, partiallyActivated, activated, cancelled")] = None,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    min_position: MinPosition = None,
) -> Any:
    order_filter = OrderFilter(jeopardy=jeopardy, states=tuple(s.value for s in state or ()), customer_id=customer_id)

    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        items, total = hub.journeys.orders(order_filter, page, page_size)
        record_shown(request, (item["customer_id"] for item in items))
        return {"items": items, "page": page, "page_size": page_size, "total": total, "position": position}

    return await run_in_threadpool(read)
