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

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, Request

from contacthub.adapters.http.access_log import record_read
from contacthub.adapters.http.authentication import Keys, current_principal, page_principal
from contacthub.adapters.http.errors import ApiError
from contacthub.adapters.store.api_keys import ApiKeys
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import RECORDED_ROLES, Capability, Principal, Role, roles_with

__all__ = [
    "CurrentPrincipal", "Hub", "Keys", "MinPosition", "PageForbidden", "PagePrincipal",
    "authorize", "get_hub", "hub_of", "require", "require_page", "wait_for_read_models",
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


def authorize(hub: ContactHub, keys: ApiKeys, request: Request, principal: Principal, capability: Capability,
              record: bool | None) -> None:
    """403 unless the principal holds `capability`; then record the read when it must be recorded."""
    if not principal.may(capability):
        raise ApiError(403, "authorization", refusal(request, principal, capability))
    recorded = principal.records_reads(capability) if record is None else record and principal.role in RECORDED_ROLES
    if recorded:
        record_read(hub, keys, request, principal)


def require(capability: Capability, *, record: bool | None = None) -> Callable[..., Principal]:
    """A dependency: the caller's principal, who must hold `capability`.

    `record`: whether a clerk's or auditor's use is recorded in the access log; by default
    for the capabilities that read customer data (domain/roles.py).
    """

    def dependency(request: Request, principal: CurrentPrincipal, hub: Hub, keys: Keys) -> Principal:
        authorize(hub, keys, request, principal, capability, record)
        return principal

    dependency.__name__ = f"require_{capability.value}"
    return dependency


def require_page(capability: Capability, *, record: bool | None = None) -> Callable[..., Principal]:
    """Like `require`, for the pages: a redirect to the login page instead of 401, a 403 page instead of JSON."""

    def dependency(request: Request, principal: PagePrincipal, hub: Hub, keys: Keys) -> Principal:
        if not principal.may(capability):
            raise PageForbidden(principal, roles_with(capability))
        authorize(hub, keys, request, principal, capability, record)
        return principal

    dependency.__name__ = f"page_{capability.value}"
    return dependency


# --- read your own write: min_position -----------------------------------------------------------------

MinPosition = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="Wait (bounded) until the view has applied this log position: read your own write."),
]
"""A route's `min_position` query parameter; the route passes it to `wait_for_read_models` in its thread-pool call."""


def wait_for_read_models(hub: ContactHub, min_position: int | None) -> int:
    """Block until the read models have applied `min_position`; return how far they are.

    422 when no stored event has that position (waiting could only time out); 503 with
    Retry-After when the read models have not applied it within `read_wait_timeout_s`.
    Called by the route, in the thread pool, after its own checks of its input.
    """
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
