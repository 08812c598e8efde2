"""An order's journey to activation: the touchpoints it took, with running counts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from contacthub.adapters.api.customers import MinPosition, wait_for_read_models
from contacthub.adapters.api.errors import ERROR_RESPONSES, ApiError
from contacthub.bootstrap import ContactHub

router = APIRouter(tags=["orders"])

OrderId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$", description="The order's id")]


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


class JourneyOut(BaseModel):
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
    touchpoints: list[TouchpointOut]
    position: int


@router.get("/v1/orders/{order_id}/journey", response_model=JourneyOut, responses=ERROR_RESPONSES,
            summary="An order's journey: calls, contacts and technician visits to activation, touchpoint by touchpoint")
async def get_journey(request: Request, order_id: OrderId, min_position: MinPosition = None) -> Any:
    hub: ContactHub = request.app.state.hub

    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        journey = hub.journeys.order_journey(order_id)
        if journey is None:
            raise ApiError(404, "order_id", f"no order {order_id}")
        return {**journey, "position": position}

    return await run_in_threadpool(read)
