"""Health and progress: is the service up, and how far behind the log are the read models."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from contacthub import __version__
from contacthub.adapters.http.dependencies import Hub, require
from contacthub.adapters.http.errors import AUTH_RESPONSES, ERROR_RESPONSES, JsonResponse
from contacthub.domain.roles import Capability

router = APIRouter(tags=["operations"])
log = structlog.get_logger(__name__)


class StatusOut(BaseModel):
    version: str
    database: str
    log_position: int
    read_models: dict[str, int]
    lag: int


@router.get("/health", summary="Liveness: the process answers (no key needed: load balancers call it)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


class ReadyOut(BaseModel):
    status: str = Field(description="`ready`, or `lagging` (503) while the read models are past the bound")
    log_position: int
    read_models_position: int
    lag: int
    max_lag: int = Field(description="CONTACTHUB_MAX_LAG_EVENTS; 0: no bound")
    standby_position: int | None = Field(
        None, description="With CONTACTHUB_READ_DATABASE_URL: the position the standby's copy of the read models has "
                          "reached (reads wait for it, or fall back to the primary); null when the read URL reaches no "
                          "standby (reads are then served by the primary)")
    standby_lag: int | None = Field(None, description="How many events the standby's read models are behind the primary's")


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut, "description": "Lagging."}},
            summary="Readiness: the read models' lag against its bound (no key needed: load balancers call it)")
async def ready(request: Request) -> Any:
    gauge = request.app.state.lag
    head, applied = await run_in_threadpool(gauge.positions, True)
    lagging = gauge.max_lag > 0 and head - applied > gauge.max_lag
    answer: dict[str, Any] = {"status": "lagging" if lagging else "ready", "log_position": head,
                              "read_models_position": applied, "lag": max(0, head - applied), "max_lag": gauge.max_lag}
    reads = request.app.state.hub.reads
    if reads.standby is not None:
        # Readiness is the primary's: with the standby out of reach, reads go to the primary (prefer-standby).
        standby = await run_in_threadpool(_standby_position, reads)
        answer["standby_position"] = standby
        answer["standby_lag"] = None if standby is None else max(0, applied - standby)
    return JsonResponse(answer, status_code=503 if lagging else 200, headers={"Retry-After": "1"} if lagging else None)


def _standby_position(reads: Any) -> int | None:
    try:
        return reads.standby_position()  # type: ignore[no-any-return]
    except Exception as exc:  # any failure to reach the standby is an answer here, not an error
        log.warning("standby_unreachable", error=str(exc))
        return None


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}},
            "description": "Prometheus text format (adapters/http/prometheus.py)."}},
            summary="The operators' metrics, for Prometheus (no key needed: keep it on the internal network)")
async def metrics(request: Request) -> Response:
    registry = request.app.state.operator_metrics.registry
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


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
