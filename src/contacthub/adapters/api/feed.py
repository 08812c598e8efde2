"""The change feed: every stored event in log order, for other systems to follow (`GET /v1/feed`).

A consumer keeps the last `next_after` it was given and passes it back as `after`: positions only
grow and an event is visible only once every event before it is (the recorders store in position
order), so a consumer that remembers its position never misses nor repeats an event. Personal
fields read as in the auditor's history: in clear while the customer's key exists, `[erased]`
after an erasure. A channel's key reads its own channel's events only (their ids are scoped by
it: domain/roles.py, `stored_event_id`), without the stream they are on (whose a number is); an
integration key reads every event, and each customer a page shows is recorded in the access log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from contacthub.adapters.api.audit import HistoryEventOut
from contacthub.adapters.http.access_log import record_shown
from contacthub.adapters.http.dependencies import CurrentPrincipal, Hub
from contacthub.adapters.http.errors import ERROR_RESPONSES, ApiError
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import ID_SCOPE_SEPARATOR, Principal, Role
from contacthub.services.audit import EVENT_TYPES, history_item

router = APIRouter(tags=["integration"])

SCAN_LIMIT = 20_000
"""Most events one request looks at to fill a filtered page; `next_after` then says how far it got."""


class FeedEventOut(HistoryEventOut):
    customer_id: str | None = Field(description="The stream the event is stored on: a customer, or an unidentified "
                                                "caller's party (`unidentified-…`, docs/events.md §3.13); null for a "
                                                "channel's key, which may not learn whose a number is.")


class FeedOut(BaseModel):
    events: list[FeedEventOut]
    next_after: int = Field(description="Pass as `after` next time: the last position this answer looked at "
                                        "(past events the filters left out); equal to `after` when nothing is new.")
    head: int = Field(description="The log's last position when this page was read: caught up when next_after = head.")


def feed_page(hub: ContactHub, principal: Principal, after: int, limit: int, types: frozenset[str]) -> dict[str, Any]:
    own = f"{principal.channel}{ID_SCOPE_SEPARATOR}" if principal.role is Role.CHANNEL else None
    head = hub.event_log.head_position()
    chosen: list[dict[str, Any]] = []
    looked_at = after
    while len(chosen) < limit and looked_at < head and looked_at - after < SCAN_LIMIT:
        chunk = hub.event_log.read_events(looked_at, max(limit, 500))
        if not chunk:
            break
        for position, event in chunk:
            if position > head or len(chosen) == limit:
                break
            looked_at = position
            if (own is None or event.event_id.startswith(own)) and (not types or event.TOPIC in types):
                stream = event.originator_id if own is None else None
                chosen.append({"customer_id": stream, **history_item(position, event, hub.settings.zone)})
    return {"events": chosen, "next_after": looked_at, "head": head}


@router.get("/v1/feed", response_model=FeedOut, responses=ERROR_RESPONSES,
            summary="Stored events in log order, after a position: follow the log (integration; a channel, its own)")
async def feed(
    request: Request,
    hub: Hub,
    principal: CurrentPrincipal,
    after: Annotated[int, Query(ge=0, le=2**62, description="The last position you have: `next_after` of your "
                                                              "previous page (0 for the beginning).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    type: Annotated[list[str] | None, Query(description=f"Only these event types (repeatable): {', '.join(EVENT_TYPES)}")] = None,
) -> Any:
    for t in type or ():
        if t not in EVENT_TYPES:
            raise ApiError(422, "type", f"unknown event type {t!r}; one of {', '.join(EVENT_TYPES)}")

    def read() -> dict[str, Any]:
        head = hub.event_log.head_position()
        if after > head:  # a consumer ahead of the log: a restored database, or another system's position
            raise ApiError(422, "after", f"position {after} is beyond the end of the log ({head})")
        page = feed_page(hub, principal, after, limit, frozenset(type or ()))
        record_shown(request, (e["customer_id"] for e in page["events"]))
        return page

    return await run_in_threadpool(read)
