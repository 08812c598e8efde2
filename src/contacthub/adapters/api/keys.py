"""Managing API keys (admin) and reading the access log (auditor).

The keys and the log are stored by adapters/store/api_keys.py; who is calling and what a
role may do: adapters/http/authentication.py and dependencies.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, BeforeValidator, Field

from contacthub.adapters.http.dependencies import Hub, Keys, require
from contacthub.adapters.http.errors import AUTH_RESPONSES, ERROR_RESPONSES, ApiError, JsonResponse
from contacthub.adapters.http.parameters import QueryMoment
from contacthub.adapters.store.api_keys import ApiKey, KeyProblem, admin_by
from contacthub.bootstrap import ContactHub
from contacthub.contract import text_in
from contacthub.domain.roles import SOURCES, Capability, Principal, Role

router = APIRouter(responses=AUTH_RESPONSES)

Source = Literal[SOURCES]  # type: ignore[valid-type]

ManageKeys = Annotated[Principal, Depends(require(Capability.MANAGE_KEYS))]
ReadAccessLog = Annotated[Principal, Depends(require(Capability.READ_ACCESS_LOG))]


class KeyOut(BaseModel):
    key_id: str
    name: str
    role: Role
    channel: str | None
    created_at: str
    created_by: str | None = Field(description="Who created it: `key <key_id> (<name>)` (an admin's key) or `cli <user>`; null for keys older than this record.")
    revoked_at: str | None
    revoked_by: str | None = Field(description="Who revoked it, as `created_by`.")


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


@router.get("/v1/keys", tags=["keys"], response_model=KeyListOut, summary="Every API key, revoked ones too (never a secret)")
async def list_keys(hub: Hub, keys: Keys, _: ManageKeys) -> Any:
    listed = await run_in_threadpool(keys.list_keys)
    return {"items": [_key_out(hub, k) for k in listed]}


@router.post("/v1/keys", tags=["keys"], response_model=NewKeyOut, status_code=201, responses=ERROR_RESPONSES,
             summary="Create an API key; the answer holds the key, shown only this once")
async def create_key(hub: Hub, keys: Keys, body: KeyIn, admin: ManageKeys) -> Any:
    try:
        key, plaintext = await run_in_threadpool(
            lambda: keys.create(body.role, body.name, body.channel, by=admin_by(admin)))
    except KeyProblem as problem:
        raise ApiError(409 if problem.kind == "taken" else 422, problem.field, str(problem)) from None
    return JsonResponse({"key": _key_out(hub, key), "api_key": plaintext}, status_code=201)


@router.post("/v1/keys/{key_id}/revoke", tags=["keys"], response_model=KeyOut, responses=ERROR_RESPONSES,
             summary="Revoke an API key: from now on it is refused (401); its row stays for the access log")
async def revoke_key(hub: Hub, keys: Keys, key_id: str, admin: ManageKeys) -> Any:
    try:
        key = await run_in_threadpool(lambda: keys.revoke(key_id, by=admin_by(admin)))
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
    hub: Hub,
    keys: Keys,
    _: ReadAccessLog,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    key_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[QueryMoment | None, Query(description="Only entries at or after this moment (RFC 3339 with offset).")] = None,
    after: Annotated[str | None, Query(max_length=100, description="The `next` cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    cursor = _cursor(after)
    rows, following = await run_in_threadpool(
        lambda: keys.access_log(customer_id=customer_id, key_id=key_id, since=since, after=cursor, limit=limit)
    )
    zone = hub.settings.zone
    items = [{**{k: r[k] for k in AccessEntryOut.model_fields if k != "at"},
              "at": datetime.fromisoformat(r["at"]).astimezone(zone).isoformat()} for r in rows]
    return {"items": items, "next": f"{following[0]}~{following[1]}" if following else None}
