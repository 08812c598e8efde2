"""Webhook subscriptions, TMF hub style: `POST /v1/hub` `{callback, query?, secret?, after?}` → 201,
`GET /v1/hub`, `GET /v1/hub/{id}`, `DELETE /v1/hub/{id}` (an integration's key).

A subscription belongs to the name of the integration key that made it: keys of that name (a
rotated key too) list, read and end it, and it is delivered only while such a key is active. The
listing shows the caller's subscriptions of every API (the TMF facades' `/hub` too) with how far
its delivery has got: its position, its lag behind the log, what it delivered, and its last error.
Delivery: services/hub_delivery.py; the request's signature: domain/subscriptions.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from contacthub.adapters.api.tmf import Subscribing, subscribe
from contacthub.adapters.http.dependencies import Hub
from contacthub.adapters.http.errors import AUTH_RESPONSES, ERROR_RESPONSES, ApiError, JsonResponse
from contacthub.bootstrap import ContactHub
from contacthub.domain.subscriptions import SubscriptionApi
from contacthub.services.hub_delivery import Subscription

router = APIRouter(tags=["integration"], responses={**AUTH_RESPONSES, **ERROR_RESPONSES})


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    callback: str = Field(description="http(s) URL notifications are POSTed to; its host must be listed in "
                                      "CONTACTHUB_CALLBACK_HOSTS.", examples=["https://hooks.example.cn/contacthub"])
    query: str | None = Field(default=None, description="Which events: `type=` (event types), `channel=`, `tier=`, "
                                                        "each comma-separated; nothing: every event.",
                              examples=["type=complaint.opened,complaint.resolved&tier=gold,diamond"])
    secret: str | None = Field(default=None, description="The HMAC-SHA256 key of the signature header (16 to 200 "
                                                         "characters); left out: one is made and answered once.")
    after: int | None = Field(default=None, description="Start after this log position (0: every stored event); "
                                                        "default: the log's end, only events stored from now on.")


class SubscriptionMadeOut(BaseModel):
    id: str
    callback: str
    query: str
    secret: str | None = Field(default=None, description="The secret ContactHub made (only when none was given); "
                                                         "shown this once.")


class SubscriptionOut(BaseModel):
    id: str
    api: str = Field(description="contacthub (/v1/hub), troubleTicket (TMF621) or partyInteraction (TMF683)")
    callback: str
    query: str
    created_by: str
    created_at: str
    position: int = Field(description="Its own tracking position: every event up to here is delivered or filtered out.")
    lag_events: int = Field(description="Log positions stored after `position`: what is still to look at.")
    delivered: int = Field(description="Requests answered 2xx.")
    failures: int = Field(description="Failed attempts in a row (0 after a success).")
    next_attempt_at: str | None
    last_error: str | None
    last_error_at: str | None
    last_delivered_at: str | None


def subscription_out(hub: ContactHub, s: Subscription, head: int) -> dict[str, Any]:
    def at(moment: Any) -> str | None:
        return moment.astimezone(hub.settings.zone).isoformat() if moment is not None else None

    return {
        "id": s.subscription_id, "api": s.api, "callback": s.callback, "query": s.query, "created_by": s.created_by,
        "created_at": at(s.created_at), "position": s.position, "lag_events": max(0, head - s.position),
        "delivered": s.delivered, "failures": s.failures, "next_attempt_at": at(s.next_attempt_at),
        "last_error": s.last_error, "last_error_at": at(s.last_error_at), "last_delivered_at": at(s.last_delivered_at),
    }


@router.post("/v1/hub", status_code=201, response_model=SubscriptionMadeOut,
             summary="Subscribe a callback to events (a webhook): signed, at least once, in log order")
async def create_subscription(request: Request, hub: Hub, body: SubscriptionIn, principal: Subscribing) -> Any:
    answer = await run_in_threadpool(subscribe, hub, SubscriptionApi.CONTACTHUB, body.model_dump(exclude_none=True),
                                     principal, malformed=422)
    return JsonResponse(answer, status_code=201, headers={"Location": f"/v1/hub/{answer['id']}"})


@router.get("/v1/hub", response_model=list[SubscriptionOut], summary="Every active subscription and its delivery's state")
async def list_subscriptions(hub: Hub, principal: Subscribing) -> Any:
    def read() -> Any:
        head = hub.event_log.head_position()
        return [subscription_out(hub, s, head) for s in hub.subscriptions.active(owner=principal.name)]

    return await run_in_threadpool(read)


@router.get("/v1/hub/{id}", response_model=SubscriptionOut, summary="One subscription and its delivery's state")
async def get_subscription(hub: Hub, id: str, principal: Subscribing) -> Any:
    def read() -> Any:
        found = hub.subscriptions.get(id)
        if found is None or found.deleted_at is not None or found.owner != principal.name:
            raise ApiError(404, "id", f"no subscription {id}")
        return subscription_out(hub, found, hub.event_log.head_position())

    return await run_in_threadpool(read)


@router.delete("/v1/hub/{id}", status_code=204, response_class=Response, summary="End a subscription")
async def delete_subscription(hub: Hub, id: str, principal: Subscribing) -> Response:
    def remove() -> bool:
        return hub.subscriptions.delete(id, None, principal.name, f"{principal.name} ({principal.key_id})", hub.clock())

    if not await run_in_threadpool(remove):
        raise ApiError(404, "id", f"no subscription {id}")
    return Response(status_code=204)
