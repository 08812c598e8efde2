"""One error shape for every 4xx/5xx answer: {"errors": [{"field", "message", ...}]}."""

from __future__ import annotations

from datetime import datetime

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class JsonResponse(Response):
    """JSON rendered by orjson (UTF-8, no ASCII escaping of Chinese text)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ErrorItem(BaseModel):
    field: str
    message: str
    index: int | None = None
    event_id: str | None = None


class ErrorBody(BaseModel):
    errors: list[ErrorItem]


class ApiError(Exception):
    def __init__(self, status_code: int, field: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.items = [{"field": field, "message": message}]
        self.headers = headers


def require_offset(value: datetime | None, field: str) -> None:
    """A moment in a query must say its time zone: 422 naming the field otherwise."""
    if value is not None and value.tzinfo is None:
        raise ApiError(422, field, "give a time zone offset, e.g. 2026-11-23T09:00:00+08:00")


def error_response(status_code: int, items: list[dict[str, Any]], headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"errors": items}, status_code=status_code, headers=headers)


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
"""Added to every route that needs an API key (adapters/api/auth.py)."""


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JsonResponse:
        return error_response(exc.status_code, exc.items, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        items = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
            items.append({"field": ".".join(loc) or "request", "message": err.get("msg", "invalid")})
        return error_response(422, items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JsonResponse:
        return error_response(exc.status_code, [{"field": "request", "message": str(exc.detail)}], exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JsonResponse:
        if _is_database_unavailable(exc):
            log.warning("database_unavailable", path=request.url.path, error=str(exc))
            return error_response(
                503, [{"field": "database", "message": "the database is not reachable right now; retry shortly"}],
                {"Retry-After": "2"},
            )
        log.exception("request_failed", path=request.url.path)
        return error_response(500, [{"field": "server", "message": "internal error; it has been logged"}])


def _is_database_unavailable(exc: BaseException) -> bool:
    from eventsourcing.persistence import InterfaceError, OperationalError
    import psycopg
    import psycopg_pool

    return isinstance(exc, (InterfaceError, OperationalError, psycopg.OperationalError, psycopg_pool.PoolTimeout))
