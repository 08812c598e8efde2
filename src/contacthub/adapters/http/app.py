"""The FastAPI application: the API's routers and the pages, error shape, limits, OpenAPI, and the embedded projector."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import structlog
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from contacthub import __version__
from contacthub.adapters.api import (
    audit,
    complaints,
    customers,
    events,
    feed,
    keys,
    metrics,
    orders,
    status,
    tmf621,
    tmf683,
)
from contacthub.adapters.api import (
    hub as subscriptions,
)
from contacthub.adapters.http.access_log import AnsweredAfterRecorded
from contacthub.adapters.http.authentication import ServerKeys, refusal_before_body
from contacthub.adapters.http.dependencies import require
from contacthub.adapters.http.errors import AUTH_RESPONSES, JsonResponse, install_error_handlers
from contacthub.adapters.http.fair_use import KeyRates, LagGauge
from contacthub.adapters.http.headers import DOCS_ASSETS, SecurityHeaders
from contacthub.adapters.http.limits import RequestLimits
from contacthub.adapters.http.prometheus import CountRefusals, OperatorMetrics
from contacthub.adapters.http.tmf_errors import TMF_PREFIX, TmfErrorShape
from contacthub.adapters.store.standby import stop_using_primary, use_primary
from contacthub.adapters.web import analytics, desk
from contacthub.bootstrap import ContactHub
from contacthub.contract import IngestBatch
from contacthub.domain.roles import Capability
from contacthub.services.watchers import run_watchers

log = structlog.get_logger(__name__)

REQUEST_LINE_RESPONSES: dict[str, dict[str, Any]] = {
    "414": {"description": "The path or the query string is too long (adapters/http/limits.py).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}},
    "422": {"description": "Invalid input; every problem is listed (also: a control character in the path "
                           "or a query parameter).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}},
}


@contextmanager
def background_work(hub: ContactHub, *, projector: bool, watch_interval_s: float, deliver: bool = False,
                    on_watcher_pass: Callable[[str, bool], None] | None = None) -> Iterator[None]:
    """The embedded projector, the SLA and jeopardy watchers and the webhook deliverers, as threads, for the
    duration of the block.

    In the server's process (`create_app`), or with `contacthub serve --workers N` in the
    parent process only, so they run once whatever the number of workers (adapters/cli_serve.py)."""
    stop = threading.Event()
    threads = []
    if projector:
        threads.append(threading.Thread(target=hub.projector.run, args=(stop,), name="projector", daemon=True))
    if watch_interval_s > 0:
        threads.append(
            threading.Thread(  # the SLA, jeopardy and risk (at-risk snapshot) watchers, one pass each per interval
                target=run_watchers,
                args=((hub.sla_watcher, hub.jeopardy_watcher, hub.risk_watcher), stop, watch_interval_s, on_watcher_pass),
                name="watchers",
                daemon=True,
            )
        )
    if deliver:  # one thread per subscription, started by this one (services/hub_delivery.py)
        threads.append(threading.Thread(target=hub.hub_delivery.run, args=(stop,), name="hub-delivery", daemon=True))
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        hub.projector.wake.set()
        hub.hub_delivery.wake.set()
        for thread in threads:
            thread.join(timeout=10)


class PrimaryForWrites:
    """ASGI middleware: a request that is not a GET or HEAD reads from the primary (adapters/store/standby.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        token = use_primary()
        try:
            await self.app(scope, receive, send)
        finally:
            stop_using_primary(token)


def create_app(hub: ContactHub, *, run_projector: bool | None = None, run_sla_watcher: bool | None = None,
               run_delivery: bool | None = None, close_hub: bool = False) -> FastAPI:
    """The ASGI app over an already built ContactHub. The projector and SLA watcher threads run for the app's lifetime.

    `close_hub`: close the hub when the app stops (a worker process's app owns its hub)."""
    embedded = hub.settings.embedded_projector if run_projector is None else run_projector
    operator_metrics = OperatorMetrics(hub)  # GET /metrics (http/prometheus.py)
    watch_interval = hub.settings.sla_watch_interval_s if run_sla_watcher in (None, True) else 0.0
    deliver = hub.settings.deliver_webhooks if run_delivery is None else run_delivery

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            with background_work(hub, projector=embedded, watch_interval_s=watch_interval, deliver=deliver,
                                 on_watcher_pass=operator_metrics.watcher_pass):
                log.info("server_started", database=hub.event_log.dialect, embedded_projector=embedded,
                         sla_watch_interval_s=watch_interval)
                yield
        finally:
            log.info("server_stopped")
            if close_hub:
                hub.close()

    # /docs and /redoc from assets installed with the package (fastapi-offline): no CDN, works on an intranet.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="ContactHub",
        version=__version__,
        description="Every customer touchpoint as an immutable event; the 360-degree view built from them.",
        default_response_class=JsonResponse,
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.api_keys = ServerKeys(hub.event_log.read_store, hub.clock, hub.settings.key_cache_s)
    app.state.operator_metrics = operator_metrics
    app.state.api_keys.access_writer.on_written = operator_metrics.access_log_entries.inc
    # Fair use of ingest: a rate per key, and a bound on the read models' lag (http/fair_use.py).
    app.state.key_rates = KeyRates(hub.settings.ingest_events_per_s, hub.settings.ingest_burst_events)
    app.state.lag = LagGauge(lambda: hub.event_log.head_position(), lambda: hub.projector.caught_up_to(),
                             hub.settings.max_lag_events)
    install_error_handlers(app)
    desk.install_login_handlers(app)
    # Every route: path, query and body length, no control characters; a batch of events may be larger.
    # No body is read before its key is checked; bodies arrive within a deadline and a bound (http/limits.py).
    app.add_middleware(RequestLimits, larger_bodies={"/v1/events": hub.settings.max_body_bytes},
                       gate=refusal_before_body, body_timeout_s=hub.settings.body_timeout_s,
                       max_in_flight=hub.settings.max_body_bytes_in_flight)
    # A recorded read is answered only once its access-log entry is committed (http/access_log.py).
    app.add_middleware(AnsweredAfterRecorded)
    # nosniff, no framing, no-store, a content policy on the pages and the docs (http/headers.py).
    app.add_middleware(SecurityHeaders)
    # With reads from a standby (CONTACTHUB_READ_DATABASE_URL), a request that writes reads what it wrote from the primary.
    app.add_middleware(PrimaryForWrites)
    # Under /tmf-api/, every error answer in TM Forum's Error shape, 422 as 400 (http/tmf_errors.py).
    app.add_middleware(TmfErrorShape)
    # Outermost: every 4xx and 5xx, the limits' own answers included, counted for /metrics.
    app.add_middleware(CountRefusals, metrics=operator_metrics)

    # Who may call what (roles and capabilities: domain/roles.py; keys: adapters/http/dependencies.py).
    # A router with one rule gets it here; the routers that mix rules (metrics, complaints, status,
    # keys, and the pages) declare them per route.
    def needs(capability: Capability) -> dict[str, Any]:
        return {"dependencies": [Depends(require(capability))], "responses": AUTH_RESPONSES}

    app.include_router(events.router, **needs(Capability.INGEST))
    app.include_router(metrics.router)  # before customers: /v1/customers/at-risk is not a customer id
    app.include_router(audit.router, dependencies=[Depends(audit.audit_rule)], responses=AUTH_RESPONSES)  # before customers
    app.include_router(customers.router, **needs(Capability.READ_CUSTOMERS))
    app.include_router(complaints.router)
    app.include_router(orders.router, **needs(Capability.READ_CUSTOMERS))
    app.include_router(feed.router, **needs(Capability.READ_FEED))
    app.include_router(subscriptions.router)  # /v1/hub (integration)
    app.include_router(tmf621.router)  # TM Forum facades: rules per route (create: a channel, change: a clerk)
    app.include_router(tmf683.router)
    app.include_router(status.router)  # /health is open (load balancers); /v1/status needs any key
    app.include_router(keys.router)  # /v1/keys (admin), /v1/access-log (auditor)
    app.include_router(desk.router)  # the pages log in with a key (cookie); the login page is open
    app.include_router(analytics.router)
    app.mount("/desk/static", desk.static, name="desk-static")  # open: the login page's stylesheet

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            # POST /v1/events parses its body itself (for speed and one error shape); publish its schema here.
            batch = IngestBatch.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(batch.pop("$defs", {}))
            components["IngestBatch"] = batch
            # RequestLimits answers every route, before it runs: 414 and 422 are possible everywhere.
            for path, operations in schema.get("paths", {}).items():
                tmf = path.startswith(TMF_PREFIX)  # there: a refusal of the request line is a 400 (http/tmf_errors.py)
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    if tmf:
                        continue
                    for code, answer in REQUEST_LINE_RESPONSES.items():
                        responses.setdefault(code, answer)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
