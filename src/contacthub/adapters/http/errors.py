"""One error shape for every 4xx/5xx answer: {"errors": [{"field", "message", ...}]}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

log = structlog.get_logger(__name__)


class JsonResponse(JSONResponse):
    """JSON rendered by orjson (UTF-8, no ASCII escaping of Chinese text).

    A JSONResponse, not a bare Response: FastAPI publishes a route's `response_model` as the
    schema of its answer only for JSONResponse classes (for any other, `{"type": "string"}`).
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ErrorItem(BaseModel):
    field: str
    message: str
    index: int | None = None
    event_id: str | None = None


class ErrorBody(BaseModel):
    errors: list[ErrorItem]


class UnknownNumberBody(ErrorBody):
    """404 of a lookup by a number nobody held: the touchpoints from it that joined no customer."""

    unidentified_contacts: int


class ApiError(Exception):
    def __init__(self, status_code: int, field: str, message: str, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.items = [{"field": field, "message": message}]
        self.headers = headers
        self.extra = extra or {}


def error_response(status_code: int, items: list[dict[str, Any]], headers: Mapping[str, str] | None = None,
                   extra: Mapping[str, Any] | None = None) -> JsonResponse:
    return JsonResponse({"errors": items, **(extra or {})}, status_code=status_code, headers=headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "The body is not JSON."),
        (404, "Not found."),
        (409, "Conflicts with what is stored; nothing was stored."),
        (413, "The body is too large."),
        (415, "The body must be application/json."),
        (422, "Invalid input; every problem is listed."),
        (503, "Not available yet (read model catching up, or database unreachable); retry."),
    )
}

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No API key, or a malformed, unknown or revoked one (with `WWW-Authenticate: Bearer`)."},
    403: {"model": ErrorBody, "description": "The key's role may not do this; the message names the roles that may."},
}
"""Added to every route that needs an API key (adapters/http/dependencies.py)."""


HTTP_ERROR_FIELDS = {400: "body", 404: "path", 405: "method"}
"""What the framework's own refusals are about: a body it cannot parse, a path no route has, a method a route has not."""


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JsonResponse:
        return error_response(exc.status_code, exc.items, exc.headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        errors = exc.errors()
        unparsed = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if unparsed is not None:  # as POST /v1/events answers a body that is not JSON
            detail = (unparsed.get("ctx") or {}).get("error", "JSON decode error")
            return error_response(400, [{"field": "body", "message": f"the body is not valid JSON: {detail}"}])
        items = []
        for err in errors:
            where = [str(p) for p in err.get("loc", ())]
            names = [p for p in where if p not in ("query", "path", "body", "header")]
            # The parameter's name; or, for the whole body (not an object, say), where it was: `body`.
            field = ".".join(names) or (where[0] if where else "request")
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            items.append({"field": field, "message": message})
        return error_response(422, items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JsonResponse:
        field = HTTP_ERROR_FIELDS.get(exc.status_code, "request")
        return error_response(exc.status_code, [{"field": field, "message": str(exc.detail)}], exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JsonResponse:
        answer = unexpected_error_response(request.url.path, exc)
        # Answered outside every middleware (Starlette's ServerErrorMiddleware): counted here for /metrics.
        metrics = getattr(request.app.state, "operator_metrics", None)
        if metrics is not None:
            metrics.refusals.labels(str(answer.status_code)).inc()
        return answer


def unexpected_error_response(path: str, exc: BaseException) -> JsonResponse:
    """The answer to an exception no handler expected: 503 when the database is unreachable, otherwise 500 (logged)."""
    if _is_database_unavailable(exc):
        log.warning("database_unavailable", path=path, error=str(exc))
        return error_response(
            503, [{"field": "database", "message": "the database is not reachable right now; retry shortly"}],
            {"Retry-After": "2"},
        )
    log.error("request_failed", path=path, exc_info=exc)
    return error_response(500, [{"field": "server", "message": "internal error; it has been logged"}])


def _is_database_unavailable(exc: BaseException) -> bool:
    import psycopg
    import psycopg_pool
    from eventsourcing.persistence import InterfaceError, OperationalError

    # A connection that reached a server which is no longer (or not yet) the primary: during a
    # failover or switchover, retrying shortly reaches the new one.
    # (SQLSTATE 25006: "... in a read-only transaction", "cannot execute LOCK TABLE during recovery";
    # eventsourcing re-raises psycopg's error as its own, with psycopg's as the cause.)
    if any(isinstance(e, psycopg.errors.ReadOnlySqlTransaction) for e in (exc, exc.__cause__)):
        return True
    return isinstance(exc, (InterfaceError, OperationalError, psycopg.OperationalError, psycopg_pool.PoolTimeout))
