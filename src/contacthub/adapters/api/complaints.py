"""Complaints: act on one by its id from any channel, read it whole, and list work queues."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from contacthub.adapters.api.schemas import ComplaintOut, ComplaintSummaryOut
from contacthub.adapters.http.access_log import record_shown
from contacthub.adapters.http.csv_export import CSV_RESPONSE, Format, maybe_csv
from contacthub.adapters.http.dependencies import CurrentPrincipal, Hub, MinPosition, require, wait_for_read_models
from contacthub.adapters.http.errors import AUTH_RESPONSES, ERROR_RESPONSES, ApiError, JsonResponse, error_response
from contacthub.adapters.http.parameters import ComplaintId
from contacthub.bootstrap import ContactHub
from contacthub.contract import ChannelName
from contacthub.domain.complaint import ACTIONS
from contacthub.domain.roles import Capability
from contacthub.domain.vocabulary import Channel, ComplaintStatus, Tier
from contacthub.projections.complaint_queries import (
    QUEUE_FIRST_RESPONSE_FILTERS,
    QUEUE_FOLLOWUP_FILTERS,
    QUEUE_SLA_FILTERS,
    QUEUE_SORTS,
    QueueFilter,
)
from contacthub.services.complaint_actions import UnknownComplaint
from contacthub.services.ingest import IngestRejected

router = APIRouter(tags=["complaints"], responses=AUTH_RESPONSES)
READ_RULE = [Depends(require(Capability.READ_CUSTOMERS))]
ACT_RULE = [Depends(require(Capability.ACT_ON_COMPLAINTS, record=True))]
"""Recorded like a read: the answer shows the whole complaint, a duplicate's answer too."""

ActionName = Literal[ACTIONS]  # type: ignore[valid-type]


class ComplaintActionIn(BaseModel):
    """One step on a complaint. Which optional fields an action takes: see docs/complaints.md."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    action: ActionName = Field(description="What to do; only the actions allowed in the current status succeed.")
    by: str | None = Field(default=None, description="Who acts: a clerk acts as the key's holder (its name; another "
                                                     "name is refused). Default: the key's holder.",
                           examples=["store-0571-03"])
    channel: ChannelName = Field(description="Through which channel.")
    reason: str | None = Field(default=None, description="Why (required for pend, hold, handover, escalate, reopen, cancel, reject).")
    to: str | None = Field(default=None, description="handover: the new owner.")
    resolution: str | None = Field(default=None, description="resolve: what was done.")
    satisfaction: StrictInt | None = Field(default=None, description="follow_up: the customer's satisfaction, 1-5.")
    text: str | None = Field(default=None, description="note: the note.")
    level: StrictInt | None = Field(default=None, description="escalate: the new level (default: one up).")
    occurred_at: str | None = Field(default=None, description="When it happened (RFC 3339 with offset); default: now. "
                                                              "A clerk's action is stamped with the server's time: at "
                                                              "most 300 s from it.")
    event_id: str | None = Field(default=None, description="Your idempotency key; a retry with the same key is answered as a duplicate.")


class ActionOut(BaseModel):
    event_id: str
    result: str = Field(description="recorded, or duplicate for a retry of an already recorded action")
    position: int
    complaint: ComplaintOut | None = Field(description="The complaint after the action; null if the read model is still catching up (202).")


class QueueOut(BaseModel):
    items: list[ComplaintSummaryOut]
    page: int
    page_size: int
    total: int
    position: int


def _complaint(hub: ContactHub, complaint_id: str, position: int) -> dict[str, Any]:
    complaint = hub.complaints.complaint(complaint_id)
    if complaint is None:
        raise ApiError(404, "complaint_id", f"no complaint {complaint_id}")
    return {**complaint, "position": position}


@router.post(
    "/v1/complaints/{complaint_id}/actions",
    response_model=ActionOut,
    status_code=201,
    responses={**ERROR_RESPONSES, 200: {"model": ActionOut, "description": "A retry: already recorded."},
               202: {"model": ActionOut, "description": "Recorded; the read model has not caught up yet."}},
    summary="Act on a complaint from any channel (one-point acceptance); illegal actions get 409",
    dependencies=ACT_RULE,
)
async def post_action(hub: Hub, complaint_id: ComplaintId, body: ComplaintActionIn, principal: CurrentPrincipal) -> Any:
    fields = body.model_dump(exclude_none=True)
    fields.update({k: v for k, v in (body.model_extra or {}).items()})  # refused below, with the field named

    def act() -> Any:
        try:
            outcome = hub.complaint_actions.take(complaint_id, fields, actor=principal)
        except UnknownComplaint:
            raise ApiError(404, "complaint_id", f"no complaint {complaint_id}") from None
        except IngestRejected as rejected:
            return error_response(rejected.status_code, [e.model_dump(exclude_none=True) for e in rejected.errors])
        answer: dict[str, Any] = {"event_id": outcome.event_id, "result": outcome.result, "position": outcome.position}
        if hub.projector.wait_for(outcome.position, hub.settings.read_wait_timeout_s):
            answer["complaint"] = _complaint(hub, complaint_id, hub.projector.caught_up_to())
            status = 201 if outcome.result == "recorded" else 200
        else:
            answer["complaint"] = None
            status = 202
        return JsonResponse(answer, status_code=status, headers={"Location": f"/v1/complaints/{complaint_id}"})

    return await run_in_threadpool(act)


@router.get("/v1/complaints/{complaint_id}", response_model=ComplaintOut, responses=ERROR_RESPONSES, dependencies=READ_RULE,
            summary="One complaint: status, owner, SLA clock, status and ownership history, related contacts")
async def get_complaint(hub: Hub, complaint_id: ComplaintId, min_position: MinPosition = None) -> Any:
    return await run_in_threadpool(lambda: _complaint(hub, complaint_id, wait_for_read_models(hub, min_position)))


StatusFilter = Literal[tuple(s.value for s in ComplaintStatus) + ("open",)]  # type: ignore[valid-type]


@router.get("/v1/complaints", response_model=QueueOut, responses={**ERROR_RESPONSES, **CSV_RESPONSE}, dependencies=READ_RULE,
            summary="Work queues: complaints by status, owner, tier, channel and SLA state, paged")
async def list_complaints(
    request: Request,
    hub: Hub,
    status: Annotated[list[StatusFilter] | None, Query(description="Repeatable; `open` = every status with work to do")] = None,  # type: ignore[valid-type]
    owner: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    tier: Tier | None = None,
    channel: Annotated[Channel | None, Query(description="The channel the complaint was opened in")] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    sla: Annotated[Literal[QUEUE_SLA_FILTERS] | None, Query(description="The resolution clock. due_soon: past the warning share; breached: overdue and unresolved")] = None,  # type: ignore[valid-type]
    first_response: Annotated[Literal[QUEUE_FIRST_RESPONSE_FILTERS] | None, Query(description="The first-response clock, of open complaints not answered yet. waiting: all of them; due_soon: past the warning share; breached: past the deadline")] = None,  # type: ignore[valid-type]
    followup: Annotated[Literal[QUEUE_FOLLOWUP_FILTERS] | None, Query(description="The follow-up call (回访) of resolved complaints. due: waiting for it (overdue ones too); overdue: past the time the policy gives")] = None,  # type: ignore[valid-type]
    sort: Annotated[Literal[tuple(QUEUE_SORTS)], Query(description="newest (default), oldest, deadline (soonest first), or followup_due (soonest follow-up first)")] = "newest",  # type: ignore[valid-type]
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    min_position: MinPosition = None,
    export_format: Format = None,
) -> Any:
    queue_filter = QueueFilter(
        statuses=tuple(status or ()), owner=owner, tier=tier.value if tier else None,
        channel=channel.value if channel else None, customer_id=customer_id, sla=sla, sort=sort,
        first_response=first_response, followup=followup,
    )

    def read() -> dict[str, Any]:
        position = wait_for_read_models(hub, min_position)
        items, total = hub.complaints.queue(queue_filter, page, page_size)
        record_shown(request, (item["customer_id"] for item in items))
        return {"items": items, "page": page, "page_size": page_size, "total": total, "position": position}

    return maybe_csv(request, export_format, await run_in_threadpool(read), "complaints")
