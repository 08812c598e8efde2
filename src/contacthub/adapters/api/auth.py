"""API keys over HTTP: who is calling (401), may they (403), the access log, and the admin's key endpoints.

Every route except `/health`, the OpenAPI document and the pages' stylesheet needs a key.
The API reads it from `Authorization: Bearer ch_...` (or `X-API-Key: ch_...`; a GET also
from the pages' cookie); the desk and the analytics page from the cookie set by their login
page (`KEY_COOKIE`). Which capability each route needs is declared where the route is
included (app.py) or on the route itself; which roles hold a capability is domain/roles.py.

Reads of customer data by clerks and auditors are recorded (one INSERT, committed before the
read is answered: a read that cannot be recorded is not answered). Phone numbers in the
query string are masked in the record; the customer they belong to is recorded instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, Field

from contacthub.adapters.api.errors import AUTH_RESPONSES, ERROR_RESPONSES, ApiError, JsonResponse
from contacthub.adapters.api.params import QueryMoment
from contacthub.adapters.store.api_keys import ApiKey, ApiKeys, KeyProblem, parse_key
from contacthub.bootstrap import ContactHub
from contacthub.contract import normalise_msisdn, text_in
from contacthub.domain.roles import RECORDED_ROLES, SOURCES, Capability, Principal, Role, roles_with

API_KEY_HEADER = "X-API-Key"
KEY_COOKIE = "contacthub_key"
"""The desk's and analytics page's login cookie: the key itself, HttpOnly, SameSite=Strict."""
MASKED_QUERY_FIELDS = frozenset({"msisdn", "q"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="contacthub"'}

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="`Authorization: Bearer ch_<key_id>_<secret>`")
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="apiKey",
                       description="The same key in an `X-API-Key` header, for clients that cannot set Authorization.")


def keys_of(request: Request) -> ApiKeys:
    return request.app.state.api_keys  # type: ignore[no-any-return]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "authorization", message, CHALLENGE)


def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The key's holder; 401 when there is no key, or a malformed, unknown or revoked one.

    A GET also accepts the pages' login cookie, so a page's link to JSON (the analytics
    page's order journeys) opens in the logged-in browser; nothing that changes anything
    does (and the cookie is SameSite=Strict: no other site's page can send it).
    A plain function: FastAPI runs it in its thread pool (the key is looked up in the database).
    """
    key = bearer.credentials if bearer is not None else header
    if not key and request.method in ("GET", "HEAD"):
        key = request.cookies.get(KEY_COOKIE)
    if not key:
        raise _unauthorized(f"send an API key: Authorization: Bearer ch_... (or {API_KEY_HEADER}: ch_...)")
    if parse_key(key.strip()) is None:
        raise _unauthorized("malformed API key: expected ch_<key_id>_<secret>, as `contacthub keys create` prints it")
    principal = keys_of(request).authenticate(key.strip())
    if principal is None:
        raise _unauthorized("unknown or revoked API key")
    return principal


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", request.url.path)


def refusal(request: Request, principal: Principal, capability: Capability) -> str:
    needed = " or ".join(r.value for r in roles_with(capability))
    return (f"{request.method} {_route(request)} needs the role {needed}; this key ({principal.name}) "
            f"has the role {principal.role.value}")


def _lookup_customer(hub: ContactHub, request: Request) -> tuple[str | None, str | None]:
    """The customer (and complaint) a read concerns, when the request names one."""
    path, query = request.path_params, request.query_params
    customer_id = path.get("customer_id") or query.get("customer_id")
    complaint_id = path.get("complaint_id")
    if customer_id is None and complaint_id:
        customer_id = hub.complaints.customer_of(complaint_id)
    if customer_id is None and path.get("order_id"):
        row = hub.event_log.read_store.query_one(
            "SELECT customer_id FROM rm_order_journey WHERE order_id = ?", (path["order_id"],))
        customer_id = row["customer_id"] if row else None
    if customer_id is None and query.get("msisdn"):
        try:
            customer_id = hub.customers.customer_id_for_msisdn(normalise_msisdn(query["msisdn"]))
        except ValueError:
            pass
    return (customer_id[:200] if customer_id else None), (complaint_id[:200] if complaint_id else None)


def masked_query(request: Request) -> str:
    items = [(k, "*" if k in MASKED_QUERY_FIELDS else v) for k, v in request.query_params.multi_items()]
    return urlencode(items)


def record_read(request: Request, principal: Principal) -> None:
    """One access-log entry for this request: who, when, what (path, masked query, customer, complaint)."""
    hub: ContactHub = request.app.state.hub
    customer_id, complaint_id = _lookup_customer(hub, request)
    keys_of(request).record_access(principal, request.method, request.url.path, masked_query(request),
                                   customer_id, complaint_id)


def authorize(request: Request, principal: Principal, capability: Capability, record: bool | None) -> None:
    """403 unless the principal holds `capability`; then record the read when it must be recorded."""
    if not principal.may(capability):
        raise ApiError(403, "authorization", refusal(request, principal, capability))
    recorded = principal.records_reads(capability) if record is None else record and principal.role in RECORDED_ROLES
    if recorded:
        record_read(request, principal)


def require(capability: Capability, *, record: bool | None = None) -> Callable[..., Principal]:
    """A dependency: the caller's principal, who must hold `capability`.

    `record`: whether a clerk's or auditor's use is recorded in the access log; by default
    for the capabilities that read customer data (domain/roles.py).
    """

    def dependency(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        authorize(request, principal, capability, record)
        return principal

    dependency.__name__ = f"require_{capability.value}"
    return dependency


def audit_rule(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """The audit API's rule: reading (GET) is the auditor's; anything that changes (erasure) is the admin's."""
    capability = Capability.READ_HISTORY if request.method in ("GET", "HEAD") else Capability.ERASE
    authorize(request, principal, capability, None)
    return principal


# --- the desk and the analytics page: a login cookie ----------------------------------------------------


class LoginRequired(Exception):
    """No valid login cookie on a page: the app answers 303 to the login page (desk.py)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageForbidden(Exception):
    """A logged-in key whose role may not see or do this: the app answers with a 403 page (desk.py)."""

    def __init__(self, principal: Principal, roles: list[Role]) -> None:
        super().__init__(principal.name)
        self.principal = principal
        self.roles = roles


def page_principal(request: Request) -> Principal:
    """Who is logged in on a page (the cookie's key), or LoginRequired."""
    key = request.cookies.get(KEY_COOKIE, "")
    principal = keys_of(request).authenticate(key) if key else None
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/desk")
    return principal


def require_page(capability: Capability, *, record: bool | None = None) -> Callable[..., Principal]:
    """Like `require`, for the pages: a redirect to the login page instead of 401, a 403 page instead of JSON."""

    def dependency(request: Request, principal: Annotated[Principal, Depends(page_principal)]) -> Principal:
        if not principal.may(capability):
            raise PageForbidden(principal, roles_with(capability))
        authorize(request, principal, capability, record)
        return principal

    dependency.__name__ = f"page_{capability.value}"
    return dependency


# --- managing keys (admin) and reading the access log (auditor) -------------------------------------------------

router = APIRouter(responses=AUTH_RESPONSES)

Source = Literal[SOURCES]  # type: ignore[valid-type]


class KeyOut(BaseModel):
    key_id: str
    name: str
    role: Role
    channel: str | None
    created_at: str
    revoked_at: str | None


class KeyIn(BaseModel):
    role: Annotated[Role, BeforeValidator(text_in(Role))]
    name: str = Field(min_length=1, max_length=64, description="Who holds it: a person, a team or a system.")
    channel: Source | None = Field(default=None, description="Channel keys only: the channel (or `boss`) it posts for.")


class NewKeyOut(BaseModel):
    key: KeyOut
    api_key: str = Field(description="The key itself: shown this once, never again (only its hash is stored).")


class KeyListOut(BaseModel):
    items: list[KeyOut]


class AccessEntryOut(BaseModel):
    at: str
    key_id: str
    key_name: str
    role: str
    method: str
    path: str
    query: str
    customer_id: str | None
    complaint_id: str | None


class AccessLogOut(BaseModel):
    items: list[AccessEntryOut]
    next: str | None
    """Pass as `after` for the next page; null on the last page."""


def _key_out(hub: ContactHub, key: ApiKey) -> dict[str, Any]:
    return key.as_dict(hub.settings.zone)


ManageKeys = Annotated[Principal, Depends(require(Capability.MANAGE_KEYS))]


@router.get("/v1/keys", tags=["keys"], response_model=KeyListOut, summary="Every API key, revoked ones too (never a secret)")
async def list_keys(request: Request, _: ManageKeys) -> Any:
    hub: ContactHub = request.app.state.hub
    keys = await run_in_threadpool(keys_of(request).list_keys)
    return {"items": [_key_out(hub, k) for k in keys]}


@router.post("/v1/keys", tags=["keys"], response_model=NewKeyOut, status_code=201, responses=ERROR_RESPONSES,
             summary="Create an API key; the answer holds the key, shown only this once")
async def create_key(request: Request, body: KeyIn, _: ManageKeys) -> Any:
    hub: ContactHub = request.app.state.hub
    try:
        key, plaintext = await run_in_threadpool(keys_of(request).create, body.role, body.name, body.channel)
    except KeyProblem as problem:
        raise ApiError(409 if problem.kind == "taken" else 422, problem.field, str(problem)) from None
    return JsonResponse({"key": _key_out(hub, key), "api_key": plaintext}, status_code=201)


@router.post("/v1/keys/{key_id}/revoke", tags=["keys"], response_model=KeyOut, responses=ERROR_RESPONSES,
             summary="Revoke an API key: from now on it is refused (401); its row stays for the access log")
async def revoke_key(request: Request, key_id: str, _: ManageKeys) -> Any:
    hub: ContactHub = request.app.state.hub
    try:
        key = await run_in_threadpool(keys_of(request).revoke, key_id)
    except KeyProblem as problem:
        raise ApiError(404, "key_id", str(problem)) from None
    return _key_out(hub, key)


def _cursor(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    at, _, entry_id = text.partition("~")
    try:
        datetime.fromisoformat(at)
    except ValueError:
        raise ApiError(422, "after", "not a cursor from a previous page's `next`") from None
    if len(entry_id) != 32:
        raise ApiError(422, "after", "not a cursor from a previous page's `next`")
    return at, entry_id


@router.get("/v1/access-log", tags=["audit"], response_model=AccessLogOut, responses=ERROR_RESPONSES,
            summary="Who read which customer's data, when and how (clerks and auditors), oldest first, paged")
async def access_log(
    request: Request,
    _: Annotated[Principal, Depends(require(Capability.READ_ACCESS_LOG))],
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    key_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[QueryMoment | None, Query(description="Only entries at or after this moment (RFC 3339 with offset).")] = None,
    after: Annotated[str | None, Query(max_length=100, description="The `next` cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    hub: ContactHub = request.app.state.hub
    cursor = _cursor(after)
    rows, following = await run_in_threadpool(
        lambda: keys_of(request).access_log(customer_id=customer_id, key_id=key_id, since=since, after=cursor, limit=limit)
    )
    zone = hub.settings.zone
    items = [{**{k: r[k] for k in AccessEntryOut.model_fields if k != "at"},
              "at": datetime.fromisoformat(r["at"]).astimezone(zone).isoformat()} for r in rows]
    return {"items": items, "next": f"{following[0]}~{following[1]}" if following else None}
