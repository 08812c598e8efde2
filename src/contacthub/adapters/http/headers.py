"""Headers every answer carries: no framing, no type sniffing, no caching of personal data, a content policy.

- `X-Content-Type-Options: nosniff` and `X-Frame-Options: DENY` on every answer; the pages
  and the API docs also `Content-Security-Policy` with `frame-ancestors 'none'`.
- `Cache-Control: no-store` on every answer but the static assets (the desk's stylesheet,
  the API docs' scripts): the pages and the JSON hold customers' data, which must not stay
  in a shared computer's browser cache or a proxy.
- `Referrer-Policy: same-origin`: a page's address (a search's `?q=`) never leaves the server's origin.
- The pages' policy allows no script at all (the desk and the analytics page have none) and
  only this origin's stylesheet, forms and images; inline style attributes are allowed
  because the charts are inline SVG drawn with them. The API docs page runs Swagger UI from
  assets installed with the package (fastapi-offline), with its one inline start-up script.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DOCS_ASSETS = "/docs/assets"
"""Where the API docs' scripts and stylesheet are served from (the package's own copies)."""
STATIC_PREFIXES = ("/desk/static/", DOCS_ASSETS + "/")
PAGE_POLICY = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'")
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"same-origin")]


def _policy(path: str) -> bytes | None:
    if path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        return DOCS_POLICY.encode()
    if path == "/desk" or path.startswith(("/desk/", "/analytics")):
        return PAGE_POLICY.encode()
    return None


class SecurityHeaders:
    """ASGI middleware: adds the headers above to every HTTP answer."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        extra = list(_ALWAYS)
        if not path.startswith(STATIC_PREFIXES):
            extra.append((b"cache-control", b"no-store"))
        policy = _policy(path)
        if policy is not None:
            extra.append((b"content-security-policy", policy))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
