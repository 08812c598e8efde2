"""Who is calling: the API key of a request (401 without a valid one), or of a page's login cookie.

Every route except `/health`, the OpenAPI document and the pages' stylesheet needs a key.
The API reads it from `Authorization: Bearer ch_...` (or `X-API-Key: ch_...`; a GET also
from the pages' cookie); the desk and the analytics page from the cookie set by their login
page (`KEY_COOKIE`). What the key's holder may do is checked by the dependencies in
dependencies.py; which roles hold a capability is domain/roles.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from contacthub.adapters.http.errors import ApiError
from contacthub.adapters.store.api_keys import ApiKeys, parse_key
from contacthub.domain.roles import Principal

API_KEY_HEADER = "X-API-Key"
KEY_COOKIE = "contacthub_key"
"""The desk's and analytics page's login cookie: the key itself, HttpOnly, SameSite=Strict."""
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="contacthub"'}

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="`Authorization: Bearer ch_<key_id>_<secret>`")
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="apiKey",
                       description="The same key in an `X-API-Key` header, for clients that cannot set Authorization.")


async def get_api_keys(request: Request) -> ApiKeys:
    """The app's API keys (created with the app: http/app.py)."""
    return request.app.state.api_keys  # type: ignore[no-any-return]


Keys = Annotated[ApiKeys, Depends(get_api_keys)]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "authorization", message, CHALLENGE)


def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
    keys: Keys,
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
    principal = keys.authenticate(key.strip())
    if principal is None:
        raise _unauthorized("unknown or revoked API key")
    return principal


# --- the desk and the analytics page: a login cookie ----------------------------------------------------


class LoginRequired(Exception):
    """No valid login cookie on a page: the app answers 303 to the login page (web/desk.py)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def page_principal(request: Request, keys: Keys) -> Principal:
    """Who is logged in on a page (the cookie's key), or LoginRequired."""
    key = request.cookies.get(KEY_COOKIE, "")
    principal = keys.authenticate(key) if key else None
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/desk")
    return principal
