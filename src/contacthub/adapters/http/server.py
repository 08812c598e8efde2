"""The HTTP server's connection limits: a cap on open connections and a deadline for each request's head.

uvicorn (with httptools) times out only idle keep-alive connections: a client that sends
part of a request line or of its headers and then stalls holds its connection (and a slot
in the server) for as long as it likes, and so do a thousand such clients. `GuardedHttp` is
uvicorn's httptools protocol with two additions (docs/limits.md, "Connections"):

- **Connection cap**: a server process holds at most `max_connections` open connections;
  one more is answered `503` (`Retry-After`) and closed at once, before anything is read.
- **Head deadline**: a request's line and headers must be complete within
  `header_timeout_s` of the connection opening (first request) or of the request's first
  byte (a later request on a keep-alive connection); otherwise the server answers `408`
  and closes the connection.

The body is bounded elsewhere: the key is checked before any body is read, the body must
arrive within `CONTACTHUB_BODY_TIMEOUT_S`, and all bodies a process is receiving at once
are bounded (http/limits.py). Idle keep-alive connections are closed after
`CONTACTHUB_KEEP_ALIVE_S` (uvicorn's own timer).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from contacthub.config import Settings

log = structlog.get_logger(__name__)


def _plain_answer(status: str, message: str, extra: str = "") -> bytes:
    body = ('{"errors":[{"field":"connection","message":"' + message + '"}]}').encode("ascii")
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"{extra}connection: close\r\n\r\n").encode("ascii") + body


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a connection cap and a deadline for each request's head."""

    max_connections: int = 1000
    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("connection_refused", reason="connection_cap", open_connections=len(self.connections) - 1,
                        max_connections=self.max_connections)
            transport.write(_plain_answer("503 Service Unavailable",
                                          f"this server holds {self.max_connections} connections already; retry shortly",
                                          "retry-after: 1\r\n"))
            transport.close()
            return
        self._arm_head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_deadline is None:  # a later request on a kept-alive connection: its first byte has come
            self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        log.info("request_head_timeout", client=_client(self.client), header_timeout_s=self.header_timeout_s)
        self.transport.write(_plain_answer(
            "408 Request Timeout", f"the request line and headers did not arrive within {self.header_timeout_s:g} s"))
        self.transport.close()


def _client(address: tuple[str, int] | None) -> str | None:
    return f"{address[0]}:{address[1]}" if address else None


def guarded_http(settings: Settings) -> type[GuardedHttp]:
    """The protocol class for uvicorn's `http=`, with this configuration's limits."""
    return type("GuardedHttp", (GuardedHttp,), {
        "max_connections": settings.max_connections,
        "header_timeout_s": settings.header_timeout_s,
    })


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for a ContactHub server process (`contacthub serve`, each worker)."""
    return {
        "http": guarded_http(settings),
        "timeout_keep_alive": settings.keep_alive_s,
        "log_config": None,
        "access_log": False,
    }
