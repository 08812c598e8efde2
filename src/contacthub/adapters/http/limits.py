"""Limits on every request's path, query string and body, checked before any route runs (docs/limits.md).

A route sees its path and query parameters already decoded, and several store them as text:
the access log records the path, the masked query and the customer a read names, and the
work queues and lists filter on them in SQL. PostgreSQL refuses text holding U+0000 (an error
that would surface as a 500), SQLite stores it; neither should hold a control character a
person never types. So a request whose decoded path, or any query parameter's name or value,
holds a control character is refused here with 422 naming the parameter; and a path or query
string longer than any route needs with 414. The same answer on both backends, for every route.

Bodies: every body is read here, up to its route's limit, and a longer one is refused with 413
before the route parses it (FastAPI and the forms would otherwise read any length into memory
first). `POST /v1/events` may send up to `CONTACTHUB_MAX_BODY_BYTES` (`larger_bodies`); every
other body (a complaint action, a new key, an erasure, the pages' forms) is small: up to
MAX_SMALL_BODY_BYTES. A client that hangs up mid-body (a timeout on its side) is answered 400
and logged as `client_disconnected`: nothing was stored, and it is not a server error.

Before a byte of the body is read, the caller's key is checked (`gate`: authentication.py's
`refusal_before_body`): a request without a valid key is answered 401 (a page's form: the
login page) and its body is never read. The body must then arrive whole within
`body_timeout_s` (408 otherwise), and all the bodies one process is receiving at once stay
within `max_in_flight` bytes (503 with Retry-After otherwise). Every answer given before the
body was read whole closes the connection, so the unread rest cannot hold it open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import structlog
from starlette.datastructures import QueryParams

from contacthub.adapters.http.errors import error_response
from contacthub.contract import CONTROL_CHARACTERS

log = structlog.get_logger(__name__)

MAX_PATH_BYTES = 1024
"""The longest path (as sent, percent-encoded): the longest route with a 64-character id needs under 200."""
MAX_QUERY_BYTES = 4096
"""The longest query string (as sent): the longest a route needs is a history filter naming every event type (~700)."""
MAX_SMALL_BODY_BYTES = 64 * 1024
"""The largest body of any route but `POST /v1/events`: a complaint action holds at most a few 2,000-character texts."""
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def request_line_problem(scope: Scope) -> tuple[int, str, str] | None:
    """Why this request's path or query string is refused: (status, field, message), or None."""
    raw_path: bytes = scope.get("raw_path") or str(scope.get("path", "")).encode("utf-8")
    if len(raw_path) > MAX_PATH_BYTES:
        return 414, "path", f"the path is longer than {MAX_PATH_BYTES} bytes"
    query: bytes = scope.get("query_string", b"")
    if len(query) > MAX_QUERY_BYTES:
        return 414, "query", f"the query string is longer than {MAX_QUERY_BYTES} bytes"
    bad = CONTROL_CHARACTERS.search(str(scope.get("path", "")))
    if bad:
        return 422, "path", f"control character U+{ord(bad.group()):04X} is not allowed in the path"
    for name, value in QueryParams(query).multi_items():
        bad = CONTROL_CHARACTERS.search(name) or CONTROL_CHARACTERS.search(value)
        if bad:
            field = name if not CONTROL_CHARACTERS.search(name) else "query"
            return 422, field, f"control character U+{ord(bad.group()):04X} is not allowed in a query parameter"
    return None


Gate = Callable[["Scope"], Awaitable[Callable[["Scope", "Receive", "Send"], Awaitable[None]] | None]]
"""Called before a body is read: None to go on, or the answer to send instead (the body unread)."""


class RequestLimits:
    """ASGI middleware: refuses, before routing, a request whose path, query string or body breaks the limits above."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *,
                 larger_bodies: Mapping[str, int] | None = None, gate: Gate | None = None,
                 body_timeout_s: float = 30.0, max_in_flight: int = 64 * 1024 * 1024) -> None:
        self.app = app
        self.larger_bodies = dict(larger_bodies or {})
        """Paths whose body may be larger than MAX_SMALL_BODY_BYTES, and their limit."""
        self.gate = gate
        self.body_timeout_s = body_timeout_s
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        """Bytes of the bodies this process is receiving now (declared lengths, or what has come of the others)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = request_line_problem(scope)
        if problem is not None:
            await _refuse(scope, receive, send, *problem)
            return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if self.gate is not None:
            refusal = await self.gate(scope)
            if refusal is not None:
                await refusal(scope, receive, _closing(send))
                return
        limit = self.larger_bodies.get(scope.get("path", ""), MAX_SMALL_BODY_BYTES)
        too_large = (413, "body", f"the body is larger than {limit} bytes")
        declared_text = dict(scope.get("headers") or ()).get(b"content-length", b"")
        declared = int(declared_text) if declared_text.isdigit() else None
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, *too_large, close=True)
            return
        reserved = declared or 0
        if self.in_flight + reserved > self.max_in_flight:
            await self._refuse_busy(scope, receive, send)
            return
        self.in_flight += reserved
        try:
            try:
                async with asyncio.timeout(self.body_timeout_s):
                    body = await self._read(scope, receive, send, limit, declared)
            except TimeoutError:
                log.info("body_timeout", path=scope.get("path"), body_timeout_s=self.body_timeout_s)
                await _refuse(scope, receive, send, 408, "body",
                              f"the body did not arrive whole within {self.body_timeout_s:g} s", close=True)
                return
        finally:
            self.in_flight -= reserved
        if body is None:
            return  # refused while reading
        delivered = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body, only a disconnect can come

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send, limit: int, declared: int | None) -> bytes | None:
        """The whole body; None when it was refused (the answer is sent)."""
        chunks: list[bytes] = []
        size = 0
        counted = 0  # bytes of a body without Content-Length, counted in `in_flight` as they come
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    log.info("client_disconnected", path=scope.get("path"))
                    await _refuse(scope, receive, send, 400, "body", "the client disconnected before the body was complete")
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await _refuse(scope, receive, send, 413, "body", f"the body is larger than {limit} bytes", close=True)
                    return None
                if declared is None:
                    self.in_flight += len(chunk)
                    counted += len(chunk)
                    if self.in_flight > self.max_in_flight:
                        await self._refuse_busy(scope, receive, send)
                        return None
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        finally:
            self.in_flight -= counted

    async def _refuse_busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        log.warning("body_refused", reason="bodies_in_flight", path=scope.get("path"), in_flight=self.in_flight,
                    max_in_flight=self.max_in_flight)
        await error_response(503, [{"field": "body", "message": "the server is receiving too many bodies at once; retry shortly"}],
                             {"Retry-After": "1", "Connection": "close"})(scope, receive, send)


def _closing(send: Send) -> Send:
    """`send`, with `Connection: close` added to the answer: the body it leaves unread cannot hold the connection."""

    async def closing(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
        await send(message)

    return closing


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, field: str, message: str,
                  close: bool = False) -> None:
    headers = {"Connection": "close"} if close else None
    await error_response(status, [{"field": field, "message": message}], headers)(scope, receive, send)
