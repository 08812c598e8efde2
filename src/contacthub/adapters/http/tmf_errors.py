"""ASGI middleware: every error answer under /tmf-api/ in TM Forum's `Error` shape.

TMF Open APIs answer errors as `{code, reason, message, status}` and a malformed request with
400. The routes under /tmf-api/ raise the same errors as the rest of the API, and the
middleware (limits, keys, access log) answers there as everywhere; this rewrites those answers
on the way out, so one rule covers them all: `{"errors": [{field, message}]}` becomes
`{"code": "<status>", "reason": "<first field>", "message": "<field: message; …>", "status": "<status>",
"@type": "Error"}`, and a refusal of the request as sent (413 too large, 414 too long, 415 not JSON, 422 invalid) becomes
400, the status TM Forum gives a malformed request.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TMF_PREFIX = "/tmf-api/"
STATUS = {413: 400, 414: 400, 415: 400, 422: 400}
"""ContactHub's statuses TM Forum's APIs do not use, and theirs for the same refusal."""


def tmf_error(status: int, body: bytes) -> tuple[int, bytes]:
    status = STATUS.get(status, status)
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and "code" in parsed and "reason" in parsed:
        return status, orjson.dumps({**parsed, "status": str(status)})
    items = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
        reason = str(items[0].get("field", "request"))
        message = "; ".join(f"{i.get('field', 'request')}: {i.get('message', '')}" for i in items)
    else:
        reason, message = "request", body.decode("utf-8", "replace")[:500] or "refused"
    return status, orjson.dumps({"code": str(status), "reason": reason, "message": message, "status": str(status),
                                 "@type": "Error"})


class TmfErrorShape:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(TMF_PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def reshaped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                status, body = tmf_error(start["status"], b"".join(chunks))
                headers = [(k, v) for k, v in start.get("headers", [])
                           if k.lower() not in (b"content-length", b"content-type")]
                headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({**start, "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, reshaped)
