"""What the TM Forum facades (TMF621, TMF683) share: list paging and count headers, `fields`,
attribute-equality filters, JSON bodies, and the `/hub` of each API.

Query parameters are read here rather than declared, so every malformed one is answered in
TM Forum's way (400, `Error`: adapters/http/tmf_errors.py) and unknown ones are refused
instead of silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from contacthub.adapters.http.dependencies import Hub, require
from contacthub.adapters.http.errors import ApiError, JsonResponse
from contacthub.bootstrap import ContactHub
from contacthub.contract import DOMAIN_EVENTS
from contacthub.domain.roles import Capability, Principal
from contacthub.domain.subscriptions import QueryProblem, SubscriptionApi, callback_problem, parse_query


class TmfErrorOut(BaseModel):
    """TM Forum's Error (adapters/http/tmf_errors.py): every error answer under /tmf-api/."""

    model_config = ConfigDict(populate_by_name=True)
    code: str = Field(description="The HTTP status, as text.")
    reason: str = Field(description="The parameter, attribute or header at fault (`authorization` for keys).")
    message: str | None = None
    status: str | None = None
    type_: str | None = Field(default=None, alias="@type")


TMF_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": TmfErrorOut, "description": text}
    for code, text in (
        (400, "A malformed request: a parameter, attribute or body ContactHub cannot use (also: too long, too large)."),
        (401, "No API key, or a malformed, unknown or revoked one."),
        (403, "The key's role may not do this, or a channel's key names another channel."),
        (404, "No such resource."),
        (409, "Conflicts with what is stored (an illegal status change, an externalId reused for other content)."),
        (503, "Not available yet (read model catching up, or database unreachable); retry."),
    )
}


class ResourceOut(BaseModel):
    """A TM Forum resource (TroubleTicket, PartyInteraction): its attributes as the v4 specification names them
    (tests/tmf/*.swagger.json); `fields` chooses which come back."""

    model_config = ConfigDict(extra="allow")
    id: str
    href: str


PAGING = ("offset", "limit", "fields")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def list_parameters(request: Request, filters: Iterable[str]) -> tuple[int, int, list[str] | None, dict[str, str]]:
    """offset, limit, fields (None: every attribute) and the attribute-equality filters given."""
    known = set(filters)
    equal: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in PAGING:
            continue
        if name not in known:
            raise ApiError(400, name, f"not a filter of this list; filters: {', '.join(sorted(known))}")
        if name in equal:
            raise ApiError(400, name, "give each filter once")
        equal[name] = value
    offset = _number(request, "offset", 0, 0, 10**9)
    limit = _number(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    return offset, limit, _fields(request), equal


def _number(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(400, name, f"{name} is a whole number from {low} to {high}")
    return int(raw)


def _fields(request: Request) -> list[str] | None:
    raw = request.query_params.get("fields")
    if raw is None or not raw.strip():
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def single_parameters(request: Request) -> list[str] | None:
    """A resource by id takes `fields` only."""
    for name in request.query_params:
        if name != "fields":
            raise ApiError(400, name, "a resource by id takes only `fields`")
    return _fields(request)


def chosen(resource: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Only the first-level attributes `fields` names (with `id` and `href`, which say what it is)."""
    if fields is None:
        return resource
    wanted = {"id", "href", *fields}
    return {k: v for k, v in resource.items() if k in wanted}


def listed(items: list[dict[str, Any]], total: int) -> JsonResponse:
    return JsonResponse(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})


async def json_object(request: Request, *, patch: bool = False) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    accepted = ("application/merge-patch+json", "application/json") if patch else ("application/json",)
    if content_type not in accepted:
        raise ApiError(400, "content-type", f"send the body as {' or '.join(accepted)}")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as problem:
        raise ApiError(400, "body", f"the body is not valid JSON: {problem}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body", "the body must be a JSON object")
    return body


def text(body: Mapping[str, Any], name: str, *, required: bool, limit: int = 2000) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, name, f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, name, f"{name} must be non-empty text")
    if len(value) > limit:
        raise ApiError(400, name, f"{name} is at most {limit} characters")
    return value


def list_documentation(filters: Iterable[str]) -> dict[str, Any]:
    """The list's query parameters for the OpenAPI document (they are read by `list_parameters`)."""
    text_parameter = {"in": "query", "required": False, "schema": {"type": "string"}}
    return {"parameters": [
        {"name": "fields", **text_parameter, "description": "Comma-separated first-level attributes to return."},
        {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        *({"name": name, **text_parameter, "description": "Attribute equality."} for name in filters),
    ]}


def fields_documentation() -> dict[str, Any]:
    return {"parameters": [{"name": "fields", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "Comma-separated first-level attributes to return."}]}


def body_documentation(required: list[str], properties: dict[str, Any], content_types: tuple[str, ...] = ("application/json",)
                       ) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": properties, "additionalProperties": True}
    return {"requestBody": {"required": True, "content": {c: {"schema": schema} for c in content_types}}}


class EventSubscriptionOut(BaseModel):
    id: str
    callback: str
    query: str | None = None
    secret: str | None = Field(default=None, description="Made by ContactHub when none was given; shown this once.")


def customer_party(hub: ContactHub, event: dict[str, Any]) -> None:
    """A customer party's id of digits only is taken as an MSISDN, unless a customer has that id."""
    if "msisdn" in event and hub.customers.customer_exists(event["msisdn"]):
        event["customer_id"] = event.pop("msisdn")


# --- /hub: TMF's EventSubscription ------------------------------------------------------------------


class EventSubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    callback: str = Field(description="Where notifications are POSTed; its host must be in CONTACTHUB_CALLBACK_HOSTS.")
    query: str | None = Field(default=None, description="e.g. `eventType=TroubleTicketStatusChangeEvent`; "
                                                        "also `channel=` and `tier=`.")


def subscribe(hub: ContactHub, api: SubscriptionApi, body: Mapping[str, Any], principal: Principal,
              *, malformed: int) -> dict[str, Any]:
    """A new subscription from `{callback, query?, secret?}`; `malformed`: the status of a refusal (400 TMF, 422 native)."""
    callback = body.get("callback")
    if not isinstance(callback, str) or not callback:
        raise ApiError(malformed, "callback", "callback is required: the URL notifications are POSTed to")
    problem = callback_problem(callback, hub.hub_delivery.allowed_hosts())
    if problem is not None:
        raise ApiError(malformed, "callback", problem)
    query = body.get("query")
    if query is not None and not isinstance(query, str):
        raise ApiError(malformed, "query", "query is a query string, e.g. eventType=…&channel=…")
    try:
        parse_query(api, query, DOMAIN_EVENTS)
    except QueryProblem as why:
        raise ApiError(malformed, "query", str(why)) from None
    secret = body.get("secret")
    if secret is not None and (not isinstance(secret, str) or not 16 <= len(secret) <= 200):
        raise ApiError(malformed, "secret", "secret is text of 16 to 200 characters (or leave it out: one is made)")
    after = body.get("after")
    head = hub.event_log.head_position()
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= head):
        raise ApiError(malformed, "after", f"after is a log position from 0 to {head} (the head)")
    made = hub.subscriptions.create(api.value, callback, query or "", secret, principal.name,
                                    f"{principal.name} ({principal.key_id})", head if after is None else after, hub.clock())
    answer = {"id": made.subscription_id, "callback": made.callback, "query": made.query}
    if secret is None:
        answer["secret"] = made.secret  # shown this once: it signs every request (X-ContactHub-Signature)
    return answer




Subscribing = Annotated[Principal, Depends(require(Capability.SUBSCRIBE))]


def add_hub(router: APIRouter, api: SubscriptionApi, base: str, what: str) -> None:
    """A TMF API's `POST /hub` and `DELETE /hub/{id}`: its listeners' subscriptions (services/hub_delivery.py)."""
    @router.post("/hub", status_code=201, summary=f"Subscribe a listener to {what} notifications",
                 responses={201: {"model": EventSubscriptionOut, "description": "EventSubscription"}})
    async def create_hub(request: Request, hub: Hub, body: EventSubscriptionIn, principal: Subscribing) -> Any:
        raw = await request.json()
        answer = await run_in_threadpool(subscribe, hub, api, raw, principal, malformed=400)
        return JsonResponse(answer, status_code=201, headers={"Location": f"{base}/hub/{answer['id']}"})

    @router.delete("/hub/{id}", status_code=204, response_class=Response, summary="Remove a listener's subscription")
    async def delete_hub(hub: Hub, id: str, principal: Subscribing) -> Response:
        removed = await run_in_threadpool(hub.subscriptions.delete, id, api.value, principal.name,
                                          f"{principal.name} ({principal.key_id})", hub.clock())
        if not removed:
            raise ApiError(404, "id", f"no subscription {id}")
        return Response(status_code=204)
