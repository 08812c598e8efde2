"""The 360-degree customer view and the cross-channel timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from contacthub.adapters.api.schemas import ContactOut, Customer360Out
from contacthub.adapters.http.access_log import record_shown
from contacthub.adapters.http.dependencies import Hub, MinPosition, hub_of, run_read, wait_for_read_models
from contacthub.adapters.http.errors import ERROR_RESPONSES, ApiError, JsonResponse, UnknownNumberBody
from contacthub.adapters.http.parameters import CustomerId, QueryMoment
from contacthub.bootstrap import ContactHub
from contacthub.contract import normalise_msisdn
from contacthub.projections.customer_queries import BadCursor

router = APIRouter(tags=["customers"])


class TimelineOut(BaseModel):
    customer_id: str
    items: list[ContactOut]
    next: str | None
    position: int


def _view(hub: ContactHub, customer_id: str, min_position: int | None, request: Request) -> JsonResponse:
    """The view as JSON, already in Customer360Out's shape: answered as is, without FastAPI validating it again.

    `response_model` stays declared (the OpenAPI document shows it); the route returns a
    response, which FastAPI passes through. That the view has the model's fields, order and
    types is tested (tests/e2e/test_api_customers.py: the bytes equal the model's dump).
    """
    position = wait_for_read_models(hub, min_position)
    view = hub.customers.customer_360(customer_id)
    if view is None:
        raise ApiError(404, "customer_id", f"no customer {customer_id}")
    # A merged person's view shows every record of it: each is recorded in the access log (the request's
    # own entry names the record asked for).
    record_shown(request, [r for r in [view["customer_id"], *(m["customer_id"] for m in view["merged_records"])]
                           if view["merged_records"] and r != customer_id])
    return JsonResponse({**view, "position": position})


async def _reached(hub: ContactHub, min_position: int | None) -> None:
    """Wait for `min_position` in FastAPI's thread pool (not in the read threads: run_read)."""
    if min_position is not None:
        await run_in_threadpool(wait_for_read_models, hub, min_position)


@router.get("/v1/customers/{customer_id}", response_model=Customer360Out, responses=ERROR_RESPONSES,
            summary="The 360-degree view of one customer")
async def get_customer(request: Request, customer_id: CustomerId, min_position: MinPosition = None) -> Any:
    hub = hub_of(request)  # not the `Hub` dependency: one dependency less on the hottest read (dependencies.require)
    await _reached(hub, min_position)
    return await run_read(lambda: _view(hub, customer_id, min_position, request))


@router.get("/v1/customers", response_model=Customer360Out,
            responses={**ERROR_RESPONSES, 404: {"model": UnknownNumberBody, "description": (
                "Nobody held the number at that moment; `unidentified_contacts` counts the touchpoints from it "
                "that joined no customer.")}},
            summary="Look a customer up by phone number (MSISDN)")
async def find_customer(
    request: Request,
    msisdn: Annotated[str, Query(min_length=1, max_length=16, description="Phone number, e.g. 13800138000 or +8613800138000")],
    at: Annotated[QueryMoment | None, Query(description="Whose the number was at this moment (RFC 3339 with offset); default now. "
                                            "Numbers are released and given to other customers.")] = None,
    min_position: MinPosition = None,
) -> Any:
    try:
        number = normalise_msisdn(msisdn)
    except ValueError as exc:
        raise ApiError(422, "msisdn", str(exc)) from None
    hub = hub_of(request)

    def lookup() -> JsonResponse:
        customer_id = hub.customers.customer_id_for_msisdn(number, at)
        if customer_id is None:
            message = f"no customer has msisdn {number}" if at is None else f"no customer held msisdn {number} at {at.isoformat()}"
            _, unidentified, _ = hub.customers.unidentified_contacts(number, limit=0)
            if unidentified:
                message += f"; {unidentified} touchpoint(s) from it joined no customer"
            raise ApiError(404, "msisdn", message, extra={"unidentified_contacts": unidentified})
        return _view(hub, customer_id, min_position, request)

    await _reached(hub, min_position)
    return await run_read(lookup)


@router.get("/v1/customers/{customer_id}/timeline", response_model=TimelineOut, responses=ERROR_RESPONSES,
            summary="Every touchpoint of a customer across channels, in event-time order, paged")
async def get_timeline(
    request: Request,
    hub: Hub,
    customer_id: CustomerId,
    after: Annotated[str | None, Query(max_length=200, description="The `next` cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_position: MinPosition = None,
) -> Any:
    def page() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        if not hub.customers.customer_exists(customer_id):
            raise ApiError(404, "customer_id", f"no customer {customer_id}")
        try:
            items, next_cursor = hub.customers.timeline(customer_id, after, limit)
        except BadCursor as exc:
            raise ApiError(422, "after", str(exc)) from None
        records = hub.customers.records_of(customer_id)  # a merged person's: every record's touchpoints
        record_shown(request, [r for r in records if len(records) > 1 and r != customer_id])
        return {"customer_id": customer_id, "items": items, "next": next_cursor, "position": position}

    return await run_in_threadpool(page)
