"""Fixtures: every behaviour test runs against SQLite and against a throwaway PostgreSQL server.

The unit tier (tests/unit/conftest.py) replaces the database fixtures below with ones that refuse,
and wires the services on an in-memory event log instead (`services`, support/services.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.logs import configure_logging
from support.auth import allow_everything
from support.clock import ManualClock
from support.databases import BACKENDS, fresh_database_url
from support.pgserver import ThrowawayPostgres

configure_logging("console", "warning")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database_url(backend, request, tmp_path_factory)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No SLA watcher thread: a test that wants one runs `hub.sla_watcher.run_once()` on a ManualClock.
    return Settings(database_url=database_url, read_wait_timeout_s=3.0, log_format="console", sla_watch_interval_s=0)


@pytest.fixture
def hub(settings: Settings) -> Iterator[ContactHub]:
    hub = build(settings)
    try:
        yield hub
    finally:
        hub.close()


@pytest.fixture
def client(hub: ContactHub) -> Iterator[TestClient]:
    """The HTTP API with its embedded projector running, as `contacthub serve` runs it.

    Every request is allowed (support/auth.py); access control is tested in test_roles.py
    with real keys.
    """
    with TestClient(allow_everything(create_app(hub))) as test_client:
        yield test_client


@pytest.fixture
def clock() -> ManualClock:
    """Monday 2026-11-02 09:00 in Shanghai, moved on by the test."""
    return ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))


@pytest.fixture
def clocked_hub(settings: Settings, clock: ManualClock) -> Iterator[ContactHub]:
    """ContactHub whose every notion of "now" (ingest, SLA watcher, read-time SLA state) is `clock`."""
    hub = build(settings, clock=clock)
    try:
        yield hub
    finally:
        hub.close()


@pytest.fixture
def clocked_client(clocked_hub: ContactHub) -> Iterator[TestClient]:
    with TestClient(allow_everything(create_app(clocked_hub))) as test_client:
        yield test_client
