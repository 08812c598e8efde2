"""Health and progress: is the service up, and how far behind the log are the read models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from contacthub import __version__
from contacthub.adapters.http.dependencies import Hub, require
from contacthub.adapters.http.errors import AUTH_RESPONSES, ERROR_RESPONSES
from contacthub.domain.roles import Capability

router = APIRouter(tags=["operations"])


class StatusOut(BaseModel):
    version: str
    database: str
    log_position: int
    read_models: dict[str, int]
    lag: int


@router.get("/health", summary="Liveness: the process answers (no key needed: load balancers call it)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/status", response_model=StatusOut, responses={503: ERROR_RESPONSES[503], **AUTH_RESPONSES},
            summary="Log head and each read model's position (any key)", dependencies=[Depends(require(Capability.READ_STATUS))])
async def status(hub: Hub) -> Any:

    def read() -> dict[str, Any]:
        head = hub.event_log.head_position()
        positions = hub.projector.positions()
        return {
            "version": __version__,
            "database": hub.event_log.dialect,
            "log_position": head,
            "read_models": positions,
            "lag": max(0, head - min(positions.values(), default=0)),
        }

    return await run_in_threadpool(read)
