"""Who is calling: the API key of a request (401 without a valid one), or of a page's login cookie.

Every route except `/health`, the OpenAPI document and the pages' stylesheet needs a key.
The API reads it from `Authorization: Bearer ch_...` (or `X-API-Key: ch_...`; a GET also
accepts the pages' session cookie); the desk and the analytics page use the session their
login page opened (`SESSION_COOKIE`: a random token standing for the key, stored hashed,
ended at logout, at its expiry or when the key is revoked; never the key itself). What the key's holder may do is checked by the dependencies in
dependencies.py; which roles hold a capability is domain/roles.py.

A server process keeps the keys it has verified for `CONTACTHUB_KEY_CACHE_S` (5 s; `ServerKeys`):
a request with a known key then costs no database lookup. Revocation: a key revoked through
this process (`POST /v1/keys/{key_id}/revoke`) is refused at once; a recorded read (a clerk's
or auditor's) with a key revoked anywhere is refused at once too, since its access-log entry
is written only for an active key (access_log.py); any other request with a key revoked
elsewhere (another worker, `contacthub keys revoke`) within the cache time.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Scope

from contacthub.adapters.http.access_log import AccessLogWriter
from contacthub.adapters.http.errors import ApiError, error_response
from contacthub.adapters.store.api_keys import ApiKey, ApiKeys, parse_key
from contacthub.domain.roles import Principal
from contacthub.projections.sql import ReadStore

API_KEY_HEADER = "X-API-Key"
SESSION_COOKIE = "contacthub_session"
"""The desk's and analytics page's login cookie: a session token (adapters/store/api_keys.py), HttpOnly, SameSite=Strict."""
OLD_KEY_COOKIE = "contacthub_key"
"""The cookie that held the key itself before sessions: never read, cleared at login and logout."""
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="contacthub"'}
LOGIN_PATH = "/desk/login"
"""The pages' login form: the one route that takes a body without a key."""

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="`Authorization: Bearer ch_<key_id>_<secret>`")
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="apiKey",
                       description="The same key in an `X-API-Key` header, for clients that cannot set Authorization.")


MAX_CACHED_KEYS = 10_000
"""More verified keys than this in one process: the cache starts again (a bound, never reached in practice)."""


def _secret_digest(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode("utf-8")).digest()


class ServerKeys(ApiKeys):
    """The API keys and the access log as a server process uses them.

    Verified keys are kept for `cache_s` seconds (0: not at all), keyed by key id with the
    SHA-256 of the whole key (never the key itself). A key revoked through this object is
    forgotten at once; `forget` also serves a recorded read that found its key revoked.
    The access log is written in groups (`access_writer`, access_log.py).
    """

    def __init__(self, store: ReadStore, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 cache_s: float = 5.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(store, clock)
        self.cache_s = cache_s
        self.monotonic = monotonic
        self.access_writer = AccessLogWriter(store, clock)
        self._verified: dict[str, tuple[bytes, Principal, float]] = {}  # key id -> (digest, principal, until)
        self._sessions: dict[bytes, tuple[Principal, float]] = {}  # token digest -> (principal, until)
        self._forgotten = 0  # counts revocations, so a lookup that raced one is not cached
        self._lock = threading.Lock()

    def cached(self, plaintext: str) -> Principal | None:
        """The key's holder when this process verified the key within `cache_s`; otherwise None (look it up)."""
        parsed = parse_key(plaintext)
        known = self._verified.get(parsed[0]) if parsed else None
        if known is None or known[2] < self.monotonic() or not hmac.compare_digest(known[0], _secret_digest(plaintext)):
            return None
        return known[1]

    def authenticate(self, plaintext: str) -> Principal | None:
        principal = self.cached(plaintext)
        if principal is not None:
            return principal
        before = self._forgotten
        principal = super().authenticate(plaintext)
        if principal is not None and self.cache_s > 0:
            with self._lock:
                if self._forgotten == before:  # no revocation meanwhile
                    if len(self._verified) >= MAX_CACHED_KEYS:
                        self._verified.clear()
                    self._verified[principal.key_id] = (
                        _secret_digest(plaintext), principal, self.monotonic() + self.cache_s)
        return principal

    def forget(self, key_id: str) -> None:
        """Look this key (and the sessions standing for it) up again on their next use."""
        with self._lock:
            self._forgotten += 1
            self._verified.pop(key_id, None)
            for digest, (principal, _) in list(self._sessions.items()):
                if principal.key_id == key_id:
                    del self._sessions[digest]

    def session(self, token: str) -> Principal | None:
        """Who a desk session stands for (kept `cache_s`, like a key); None when it is not a live session."""
        digest = _secret_digest(token)
        known = self._sessions.get(digest)
        if known is not None and known[1] >= self.monotonic():
            return known[0]
        before = self._forgotten
        principal = self.session_principal(token)
        if principal is not None and self.cache_s > 0:
            with self._lock:
                if self._forgotten == before:
                    if len(self._sessions) >= MAX_CACHED_KEYS:
                        self._sessions.clear()
                    self._sessions[digest] = (principal, self.monotonic() + self.cache_s)
        return principal

    def end_session(self, token: str) -> None:
        with self._lock:
            self._forgotten += 1
            self._sessions.pop(_secret_digest(token), None)
        super().end_session(token)

    def forget_sessions(self) -> None:
        """Look every session up again on its next use."""
        with self._lock:
            self._forgotten += 1
            self._sessions.clear()

    def refuse_revoked(self, key_id: str) -> ApiError:
        """A recorded read found this key revoked: forget it; the 401 to answer."""
        self.forget(key_id)
        return revoked_key()

    def revoke(self, key_id: str, *, by: str | None = None) -> ApiKey:
        try:
            return super().revoke(key_id, by=by)
        finally:
            self.forget(key_id)


async def get_api_keys(request: Request) -> ServerKeys:
    """The app's API keys (created with the app: http/app.py)."""
    return request.app.state.api_keys  # type: ignore[no-any-return]


Keys = Annotated[ServerKeys, Depends(get_api_keys)]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "authorization", message, CHALLENGE)


def revoked_key() -> ApiError:
    """A key that is no longer active (found so when its read was to be recorded)."""
    return _unauthorized("unknown or revoked API key")


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The key's holder; 401 when there is no key, or a malformed, unknown or revoked one.

    A GET also accepts the pages' login cookie, so a page's link to JSON (the analytics
    page's order journeys) opens in the logged-in browser; nothing that changes anything
    does (and the cookie is SameSite=Strict: no other site's page can send it).
    A coroutine: a key verified recently costs no thread-pool hop; any other is looked up in the thread pool.
    """
    key = bearer.credentials if bearer is not None else header
    keys: ServerKeys = request.app.state.api_keys  # not a dependency: see dependencies.require
    if not key and request.method in ("GET", "HEAD") and request.cookies.get(SESSION_COOKIE):
        principal = await _session_principal(keys, request.cookies[SESSION_COOKIE])
        if principal is None:
            raise _unauthorized("the desk session has ended (logged out or expired): log in again, or send an API key")
        return principal
    return await principal_of(keys, key)


async def principal_of(keys: ServerKeys, key: str | None) -> Principal:
    """The holder of this API key; ApiError 401 when there is none, or it is malformed, unknown or revoked."""
    if not key:
        raise _unauthorized(f"send an API key: Authorization: Bearer ch_... (or {API_KEY_HEADER}: ch_...)")
    key = key.strip()
    if parse_key(key) is None:
        raise _unauthorized("malformed API key: expected ch_<key_id>_<secret>, as `contacthub keys create` prints it")
    principal = keys.cached(key) or await run_in_threadpool(keys.authenticate, key)
    if principal is None:
        raise revoked_key()
    return principal


def is_page(path: str) -> bool:
    """A page's path (the desk, the analytics page): it logs in with the cookie and answers with pages."""
    return path == "/desk" or path.startswith(("/desk/", "/analytics"))


async def refusal_before_body(scope: Scope) -> ASGIApp | None:
    """Before a request's body is read (http/limits.py): None when the caller holds a valid key; else the answer.

    The API's routes take the key from `Authorization` or `X-API-Key`, the pages' forms from
    the login cookie; without a valid one the answer is the route's own (401, or the login
    page), given without reading a byte of the body. The login form is open. What the holder
    may do is checked by the route, after the body is read."""
    path = str(scope.get("path", ""))
    if path == LOGIN_PATH:
        return None
    app = scope["app"]
    if app.dependency_overrides.get(page_principal if is_page(path) else current_principal) is not None:
        return None  # who is calling is decided by the override (support/auth.py in the tests), not by a key
    request = Request(scope)
    keys: ServerKeys = app.state.api_keys
    if is_page(path):
        principal = await _session_principal(keys, request.cookies.get(SESSION_COOKIE, ""))
        return None if principal is not None else RedirectResponse(LOGIN_PATH, status_code=303)
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    sent = credentials if scheme.lower() == "bearer" and credentials else request.headers.get(API_KEY_HEADER)
    try:
        await principal_of(keys, sent)
    except ApiError as refused:
        return error_response(refused.status_code, refused.items, refused.headers)
    return None


async def _session_principal(keys: ServerKeys, token: str) -> Principal | None:
    if not token:
        return None
    return await run_in_threadpool(keys.session, token)


# --- the desk and the analytics page: a login cookie ----------------------------------------------------


class LoginRequired(Exception):
    """No valid login cookie on a page: the app answers 303 to the login page (web/desk.py)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def page_principal(request: Request, keys: Keys) -> Principal:
    """Who is logged in on a page (the cookie's key), or LoginRequired."""
    token = request.cookies.get(SESSION_COOKIE, "")
    principal = keys.session(token) if token else None
    if principal is None:
        raise login_required(request)
    return principal


def login_required(request: Request) -> LoginRequired:
    """Back to the login page, and then to this page (a GET) or the desk."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return LoginRequired(target if request.method == "GET" else "/desk")
