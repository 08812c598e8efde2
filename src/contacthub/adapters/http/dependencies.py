"""The FastAPI dependencies the API's routes and the pages declare in their signatures.

- `Hub`: the ContactHub the app serves (its services and read-model queries).
- `Keys`: the API keys and the access log (adapters/store/api_keys.py).
- `CurrentPrincipal`, `PagePrincipal`: who is calling (authentication.py).
- `require(capability)`, `require_page(capability)`: who may (domain/roles.py): 403 (JSON, or
  a 403 page) unless the caller's role holds the capability; then the read is recorded in
  the access log when it must be (access_log.py). Attached where a router is included
  (http/app.py) or, where a router mixes rules, on each route.
- `MinPosition` and `wait_for_read_models`: read your own write. A read that passes
  `min_position` waits (bounded) until the read models have applied that log position.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from weakref import WeakKeyDictionary

import anyio.to_thread
import structlog
from anyio import CapacityLimiter
from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from contacthub.adapters.http.access_log import note_reader, record_before_answer, record_read
from contacthub.adapters.http.authentication import (
    Keys,
    ServerKeys,
    current_principal,
    login_required,
    page_principal,
)
from contacthub.adapters.http.errors import ApiError
from contacthub.adapters.store.standby import reading_from_primary, require_position, use_primary
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import RECORDED_ROLES, Capability, Principal, Role, roles_with

log = structlog.get_logger(__name__)

__all__ = [
    "CurrentPrincipal", "Hub", "Keys", "MinPosition", "PageForbidden", "PagePrincipal",
    "authorize", "get_hub", "hub_of", "require", "require_page", "run_read",
    "wait_for_position", "wait_for_read_models",
]


def hub_of(request: Request) -> ContactHub:
    """The ContactHub the app was created over (http/app.py), for what is no route (an exception handler)."""
    return request.app.state.hub  # type: ignore[no-any-return]


async def get_hub(request: Request) -> ContactHub:
    """A route's `Hub` (a coroutine: FastAPI calls it without a thread-pool hop)."""
    return hub_of(request)


Hub = Annotated[ContactHub, Depends(get_hub)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
"""The API caller's key holder (401 without a valid key); no capability checked."""
PagePrincipal = Annotated[Principal, Depends(page_principal)]
"""Who is logged in on a page (otherwise 303 to the login page); no capability checked."""


# --- may they: capabilities --------------------------------------------------------------------------


class PageForbidden(Exception):
    """A logged-in key whose role may not see or do this: the app answers with a 403 page (web/desk.py)."""

    def __init__(self, principal: Principal, roles: list[Role]) -> None:
        super().__init__(principal.name)
        self.principal = principal
        self.roles = roles


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", request.url.path)


def refusal(request: Request, principal: Principal, capability: Capability) -> str:
    needed = " or ".join(r.value for r in roles_with(capability))
    return (f"{request.method} {_route(request)} needs the role {needed}; this key ({principal.name}) "
            f"has the role {principal.role.value}")


def _must_record(request: Request, principal: Principal, capability: Capability, record: bool | None) -> bool:
    """403 unless the principal holds `capability`; whether this use is recorded in the access log."""
    if not principal.may(capability):
        raise ApiError(403, "authorization", refusal(request, principal, capability))
    return principal.records_reads(capability) if record is None else record and principal.role in RECORDED_ROLES


def authorize(hub: ContactHub, keys: ServerKeys, request: Request, principal: Principal, capability: Capability,
              record: bool | None) -> None:
    """403 unless the principal holds `capability`; then record the read when it must be recorded (in the thread pool).

    401 when the read is to be recorded and the key is no longer active (access_log.py)."""
    if _must_record(request, principal, capability, record) and not record_read(hub, keys.access_writer, request, principal):
        raise keys.refuse_revoked(principal.key_id)


def require(capability: Capability, *, record: bool | None = None) -> Callable[..., Any]:
    """A dependency: the caller's principal, who must hold `capability`.

    `record`: whether a clerk's or auditor's use is recorded in the access log; by default
    for the capabilities that read customer data (domain/roles.py). A coroutine: the entry is
    submitted here and committed while the route runs; the answer waits for the commit
    (access_log.py, AnsweredAfterRecorded).
    """

    async def dependency(request: Request, principal: CurrentPrincipal) -> Principal:
        # The hub and the keys from the app, not as dependencies: each dependency costs FastAPI
        # tens of microseconds per request, and this one runs on every request with a key.
        if _must_record(request, principal, capability, record):
            keys: ServerKeys = request.app.state.api_keys
            await record_before_answer(hub_of(request), keys.access_writer, request, principal, keys.refuse_revoked)
        return principal

    dependency.__name__ = f"require_{capability.value}"
    return dependency


def require_page(capability: Capability, *, record: bool | None = None) -> Callable[..., Principal]:
    """Like `require`, for the pages: a redirect to the login page instead of 401, a 403 page instead of JSON."""

    def dependency(request: Request, principal: PagePrincipal, hub: Hub, keys: Keys) -> Principal:
        if not principal.may(capability) or not principal.may(Capability.USE_PAGES):
            people = roles_with(Capability.USE_PAGES)
            raise PageForbidden(principal, [r for r in roles_with(capability) if r in people])
        if principal.role in RECORDED_ROLES:
            note_reader(request, principal)  # what the page shows is recorded (access_log.record_shown)
        try:
            authorize(hub, keys, request, principal, capability, record)
        except ApiError as refused:
            if refused.status_code != 401:
                raise
            raise login_required(request) from None  # the key was revoked: log in again
        return principal

    dependency.__name__ = f"page_{capability.value}"
    return dependency


# --- read your own write: min_position -----------------------------------------------------------------

async def _read_models_at(
    request: Request,
    min_position: Annotated[int | None, Query(
        ge=0, le=2**62, description="Wait (bounded) until the view has applied this log position: read your own write.",
    )] = None,
) -> int | None:
    """Wait, on the event loop, until the read models have applied `min_position`; then the route runs.

    The wait holds no thread (F6: sixty waiting readers used up the thread pool and held up every
    other read): each look at the read models' position is a short thread-pool call, between
    asyncio sleeps growing from 5 to 100 ms. 422 when no stored event has that position;
    503 with Retry-After after `read_wait_timeout_s`.

    Reading from a standby (CONTACTHUB_READ_DATABASE_URL), the position looked at is the
    standby's copy of the read models; when the standby has not replayed that far within
    `standby_wait_s`, the rest of the request reads from the primary (and waits there)."""
    if min_position is None:
        return None
    hub = hub_of(request)
    reads = hub.reads
    require_position(min_position)  # checked again in each standby transaction (adapters/store/standby.py)
    reached = await run_in_threadpool(reads.caught_up_to)
    if reached >= min_position:
        return min_position
    head = await run_in_threadpool(hub.event_log.head_position)
    if min_position > head:
        raise ApiError(422, "min_position", f"position {min_position} is beyond the end of the log ({head})")
    started = time.monotonic()
    deadline = started + hub.settings.read_wait_timeout_s
    on_standby = reads.standby is not None and not reading_from_primary()
    pause = 0.005
    while (left := deadline - time.monotonic()) > 0:
        hub.projector.wake.set()
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.1)
        if on_standby and time.monotonic() - started >= hub.settings.standby_wait_s:
            on_standby = False
            use_primary()  # this request's task: its thread-pool reads see it too
            log.info("read_served_by_primary", min_position=min_position, standby_position=reached)
        reached = await run_in_threadpool(reads.caught_up_to)
        if reached >= min_position:
            return min_position
    raise ApiError(503, "min_position", f"the read model has applied position {reached}, not yet {min_position}; "
                                        "retry shortly", {"Retry-After": "1"})


async def wait_for_position(request: Request, position: int) -> None:
    """What a `min_position` query parameter does, for a position known otherwise (the desk's page after an action)."""
    await _read_models_at(request, position)


MinPosition = Annotated[int | None, Depends(_read_models_at)]
"""A route's `min_position` query parameter, already waited for (without holding a thread) when the route runs;
the route still passes it to `wait_for_read_models` in its thread-pool call, which then returns at once."""


def wait_for_read_models(hub: ContactHub, min_position: int | None) -> int:
    """Block until the read models have applied `min_position`; return how far they are.

    422 when no stored event has that position (waiting could only time out); 503 with
    Retry-After when the read models have not applied it within `read_wait_timeout_s`.
    Called by the route, in the thread pool, after its own checks of its input.
    """
    reads = hub.reads
    reached = reads.caught_up_to()
    if min_position is None or reached >= min_position:
        return reached
    if reads.standby is not None and not reading_from_primary():
        # This standby connection is behind: the rest of this call reads from the primary, whose
        # position is the projector's, waited for below as without a standby.
        use_primary()
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


# --- the hot reads' threads ------------------------------------------------------------------------------

READ_THREADS = 2
"""How many of a process's threads run the 360-degree reads at once (`run_read`).

A read is CPU work under Python's lock plus short SQLite calls that release it; with a
thread per concurrent request (FastAPI's pool: up to 40) the threads spend more time
handing the lock over than reading (measured: a read cost 2.5 times the CPU at 16 at once).
More reads at once queue here, on the event loop; a read waiting for `min_position` waits
in FastAPI's pool first, not here. More throughput comes from more processes (`--workers`).
"""
_read_limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = WeakKeyDictionary()

T = TypeVar("T")


async def run_read(read: Callable[[], T]) -> T:
    """Run a hot read (the 360-degree view) in a thread, at most READ_THREADS at once per event loop."""
    loop = asyncio.get_running_loop()
    limiter = _read_limiters.get(loop)
    if limiter is None:
        limiter = _read_limiters[loop] = CapacityLimiter(READ_THREADS)
    return await anyio.to_thread.run_sync(read, limiter=limiter)
