"""POST /v1/events: channels post touchpoints and other facts, in idempotent batches."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from contacthub.adapters.http.dependencies import CurrentPrincipal, Hub
from contacthub.adapters.http.errors import ERROR_RESPONSES, ApiError, ErrorBody, JsonResponse, error_response
from contacthub.domain.roles import Principal, Role, event_refusal
from contacthub.services.ingest import IngestRejected

router = APIRouter(tags=["events"])


class EventResultOut(BaseModel):
    event_id: str
    status: str
    position: int


class IngestResultOut(BaseModel):
    results: list[EventResultOut]
    position: int


@router.post(
    "/v1/events",
    summary="Record a batch of 1 to 1000 events, atomically and idempotently",
    response_model=IngestResultOut,
    responses={**{k: v for k, v in ERROR_RESPONSES.items() if k != 404},
               429: {"model": ErrorBody, "description": "This key posted more than its rate allows; retry after `Retry-After` seconds."}},
    description="A channel key posts only events naming its own channel; a `boss` key only events naming none "
                "(registrations, tier changes, orders, activations). Any other event in the batch: 403, nothing stored.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}},
        }
    },
)
async def post_events(request: Request, hub: Hub, principal: CurrentPrincipal) -> Any:
    with request.app.state.operator_metrics.batch_seconds.time():
        return await _post_events(request, hub, principal)


async def _post_events(request: Request, hub: Hub, principal: CurrentPrincipal) -> Any:
    body = await _read_json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ApiError(422, "events", 'the body must be an object {"events": [ ... ]}')
    unknown = sorted(set(body) - {"events"})
    if unknown:
        raise ApiError(422, unknown[0], "unknown field; the body has only 'events'")
    foreign = channel_refusals(principal, body["events"])
    if foreign:
        return error_response(403, foreign)
    # Fair use (http/fair_use.py): this key's rate, then the read models' lag; 429 / 503, nothing stored.
    request.app.state.key_rates.take(principal.key_id, len(body["events"]))
    await run_in_threadpool(request.app.state.lag.refuse_when_behind)
    try:
        # A channel's key may not learn whose a number, order or complaint is: refusals name no other customer.
        outcome = await run_in_threadpool(lambda: hub.ingest.ingest(
            body["events"], posted_by=principal.key_id, name_customers=principal.role is not Role.CHANNEL,
            source=principal.event_source()))
    except IngestRejected as rejected:
        return error_response(rejected.status_code, [e.model_dump() for e in rejected.errors])
    request.app.state.operator_metrics.count_batch(principal, [r.status for r in outcome.results])
    return JsonResponse(
        {
            "results": [{"event_id": r.event_id, "status": r.status, "position": r.position} for r in outcome.results],
            "position": outcome.position,
        }
    )


def channel_refusals(principal: Principal, events: list[Any]) -> list[dict[str, Any]]:
    """Every event this key may not post (another channel's, or BOSS's): the batch is refused whole, nothing stored.

    Judged on each event's `channel` field as sent; an event that is not an object, or whose
    `channel` is not text (a number, a list, a nested object: no channel's name, and not worth
    echoing in a message), is left to validation (422), which refuses it whoever posts it.
    """
    refused = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            continue
        channel = event.get("channel")
        if channel is not None and not isinstance(channel, str):
            continue
        why = event_refusal(principal, channel)
        if why is not None:
            event_id = event.get("event_id")
            refused.append({"index": index, "event_id": event_id if isinstance(event_id, str) else None,
                            "field": "channel", "message": why})
    return refused


async def _read_json_body(request: Request) -> Any:
    """The batch, parsed. Its size was checked before the route ran (CONTACTHUB_MAX_BODY_BYTES: http/limits.py)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "content-type", "send the batch as application/json")
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "body", f"the body is not valid JSON: {exc}") from None
