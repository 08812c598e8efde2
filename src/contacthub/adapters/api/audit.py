"""The auditor's API: a customer's stored history, and the state rebuilt from it as of any moment.

Both read the event log itself, never the read models (projections/replay.py).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from contacthub.adapters.api.schemas import ComplaintOut, Customer360Out
from contacthub.adapters.http.dependencies import CurrentPrincipal, Hub, Keys, authorize
from contacthub.adapters.http.errors import ERROR_RESPONSES, ApiError
from contacthub.adapters.http.parameters import CustomerId, QueryMoment
from contacthub.domain.roles import Capability, Principal
from contacthub.projections.replay import Moment
from contacthub.services.audit import EVENT_TYPES, UnknownCustomer, history_item

router = APIRouter(tags=["audit"])


def audit_rule(request: Request, principal: CurrentPrincipal, hub: Hub, keys: Keys) -> Principal:
    """The audit API's rule (attached where the router is included): reading (GET) is the auditor's;
    anything that changes (erasure) is the admin's."""
    capability = Capability.READ_HISTORY if request.method in ("GET", "HEAD") else Capability.ERASE
    authorize(hub, keys, request, principal, capability, None)
    return principal


AsOf = Annotated[
    QueryMoment | None,
    Query(description="What ContactHub had recorded by this moment (RFC 3339 with offset): recorded time."),
]
AsOfPosition = Annotated[
    int | None, Query(ge=0, le=2**62, description="What ContactHub had recorded up to this log position.")
]


class HistoryEventOut(BaseModel):
    position: int
    version: int
    type: str
    event_id: str
    recorded_at: str
    occurred_at: str
    posted_by: str | None = Field(description="Who posted it: the API key's id, `contacthub` for ContactHub's own "
                                              "(SLA and jeopardy watchers); null before this was recorded. In the stored "
                                              "state, so the hash chain covers it.")
    payload: dict[str, Any]


class HistoryOut(BaseModel):
    customer_id: str
    events: list[HistoryEventOut]
    next_after: int | None
    """Pass as `after` for the next page; null on the last page."""


class IdentityOut(BaseModel):
    merged_into: str | None
    """The survivor this record was merged into at the moment; null when it was not merged."""
    duplicates: list[str]
    """The records merged into this one at the moment, oldest merge first."""


class ReplayedStateOut(BaseModel):
    customer_id: str
    basis: str
    """`recorded` (as ContactHub knew it then), `occurred` (as it had happened, known today) or `now`."""
    moment: str | None
    as_of_position: int | None
    events_applied: int
    last_position: int | None
    identity: IdentityOut
    """Which person the record was part of at the moment, from its own stream (docs/events.md §3.16)."""
    customer: Customer360Out
    """The record's own view, from its own events (a merged person's other records are not replayed with it)."""
    complaints: list[ComplaintOut]


class ChainHeadOut(BaseModel):
    version: int
    hash: str


class FindingOut(BaseModel):
    version: int
    position: int | None
    """The event's log position (null when the event is gone and its link did not record one)."""
    problem: str
    """`changed`, `removed` or `inserted`."""
    detail: str


class VerifyOut(BaseModel):
    customer_id: str
    intact: bool
    events: int
    head: ChainHeadOut | None
    """The last link of the customer's chain: compare it with an anchored or exported head."""
    findings: list[FindingOut]


def _unknown(customer_id: str) -> ApiError:
    return ApiError(404, "customer_id", f"no customer {customer_id}")


@router.get("/v1/customers/{customer_id}/history", response_model=HistoryOut, responses=ERROR_RESPONSES,
            summary="The customer's stored events in log order, as recorded")
async def customer_history(
    hub: Hub,
    customer_id: CustomerId,
    as_of: AsOf = None,
    as_of_position: AsOfPosition = None,
    type: Annotated[list[str] | None, Query(description=f"Only these event types (repeatable): {', '.join(EVENT_TYPES)}")] = None,
    after: Annotated[int, Query(ge=0, le=2**62, description="Only events after this log position (paging).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    if as_of is not None and as_of_position is not None:
        raise ApiError(422, "as_of_position", "give either as_of or as_of_position, not both")
    for t in type or ():
        if t not in EVENT_TYPES:
            raise ApiError(422, "type", f"unknown event type {t!r}; one of {', '.join(EVENT_TYPES)}")
    moment = Moment(as_of=as_of, as_of_position=as_of_position)

    def read() -> dict[str, Any]:
        try:
            known = hub.audit.known_events(customer_id, moment)
        except UnknownCustomer:
            raise _unknown(customer_id) from None
        chosen = [(p, e) for p, e in known if p > after and (not type or e.TOPIC in type)]
        page = chosen[:limit]
        return {
            "customer_id": customer_id,
            "events": [history_item(p, e, hub.settings.zone) for p, e in page],
            "next_after": page[-1][0] if len(chosen) > limit else None,
        }

    return await run_in_threadpool(read)


@router.get("/v1/customers/{customer_id}/state", response_model=ReplayedStateOut, responses=ERROR_RESPONSES,
            summary="The 360° view and complaint statuses rebuilt from the events alone, as of a moment")
async def customer_state(
    hub: Hub,
    customer_id: CustomerId,
    as_of: AsOf = None,
    as_of_position: AsOfPosition = None,
    occurred_before: Annotated[
        QueryMoment | None,
        Query(description="What had happened (at the channels) before this moment, including events learned later."),
    ] = None,
) -> Any:
    try:
        moment = Moment(as_of=as_of, as_of_position=as_of_position, occurred_before=occurred_before)
    except ValueError as problem:
        raise ApiError(422, "as_of", str(problem)) from None

    def read() -> dict[str, Any]:
        try:
            state = hub.audit.state_as_of(customer_id, moment)
        except UnknownCustomer:
            raise _unknown(customer_id) from None
        if state is None:
            raise ApiError(404, "customer_id", f"customer {customer_id} was not yet registered at that moment")
        return state

    return await run_in_threadpool(read)


@router.get("/v1/customers/{customer_id}/verify", response_model=VerifyOut, responses=ERROR_RESPONSES,
            summary="Check the customer's hash chain against the stored events; pinpoint any edit")
async def customer_verify(hub: Hub, customer_id: CustomerId) -> Any:

    def read() -> dict[str, Any]:
        try:
            return hub.audit.verify_customer(customer_id)
        except UnknownCustomer:
            raise _unknown(customer_id) from None

    return await run_in_threadpool(read)


@router.get(
    "/v1/customers/{customer_id}/export",
    responses={**ERROR_RESPONSES, 200: {"content": {"application/x-ndjson": {}},
                                        "description": "A header line, then one line per version: event and link"}},
    response_class=Response,
    summary="The customer's events and chain as a self-contained JSON Lines bundle (verify it offline)",
)
async def customer_export(hub: Hub, customer_id: CustomerId) -> Response:

    def read() -> bytes:
        try:
            return b"\n".join(hub.audit.export_lines(customer_id, hub.clock())) + b"\n"
        except UnknownCustomer:
            raise _unknown(customer_id) from None

    body = await run_in_threadpool(read)
    return Response(body, media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="{customer_id}.chain.jsonl"',
    })


class ErasureIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, description="Why: the request or ticket reference. No personal data: it is stored in clear.")


class ErasureOut(BaseModel):
    customer_id: str
    result: str
    """`erased`, or `already_erased` (nothing more recorded)."""
    position: int
    """The log position of the `customer.erased` event."""
    read_models_updated: bool
    """False if the read models had not applied the erasure within the read wait timeout (they will)."""
    compacted: bool
    """SQLite: the database file was rewritten so no freed page keeps the old rows."""


@router.post("/v1/customers/{customer_id}/erasure", response_model=ErasureOut, responses=ERROR_RESPONSES,
             summary="Erase the customer's personal data (admin): destroy their key, record customer.erased")
async def customer_erasure(hub: Hub, customer_id: CustomerId, body: ErasureIn, principal: CurrentPrincipal) -> Any:
    def erase() -> dict[str, Any]:
        try:
            outcome = hub.erasure.forget(customer_id, by=f"{principal.name} ({principal.key_id})",
                                      reason=body.reason.strip(), wait_s=hub.settings.read_wait_timeout_s)
        except LookupError:
            raise _unknown(customer_id) from None
        except ValueError as problem:
            raise ApiError(422, "reason", str(problem)) from None
        return asdict(outcome)

    return await run_in_threadpool(erase)
