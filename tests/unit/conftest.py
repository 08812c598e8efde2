"""The unit tier: the domain, the contract and the use cases on an in-memory event log. No database, no server.

`services` gives IngestService and ComplaintActions wired as `contacthub.bootstrap.build`
wires them (the packaged SLA policy, the default future tolerance), on an InMemoryEventLog
and the ManualClock `clock` of tests/conftest.py (Monday 2026-11-02 09:00, Shanghai).

The database fixtures of tests/conftest.py are replaced here by fixtures that fail the
test at once, saying why: a unit test that asks for a database (or a server on one)
belongs in tests/integration or tests/e2e.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

from support.clock import ManualClock
from support.services import Services


@pytest.fixture
def services(clock: ManualClock) -> Services:
    """IngestService and ComplaintActions on an empty in-memory event log, on `clock`."""
    return Services.wire(clock)


# --- no database in this tier ------------------------------------------------------------------

DATABASE_FIXTURES = {
    "postgres_server": "the throwaway PostgreSQL server",
    "backend": "the SQLite/PostgreSQL parametrisation",
    "database_url": "a fresh database",
    "settings": "Settings naming a fresh database",
    "hub": "ContactHub on a database",
    "clocked_hub": "ContactHub on a database",
    "client": "the HTTP API on a database",
    "clocked_client": "the HTTP API on a database",
}


def _refused(name: str, what: str) -> object:
    @pytest.fixture(name=name)
    def refuse() -> NoReturn:
        pytest.fail(
            f"tests/unit uses no database: the `{name}` fixture ({what}) is not available in the unit tier. "
            "Use the `services` fixture (the use cases on an in-memory event log), "
            "or move the test to tests/integration (store, projections, watchers) or tests/e2e (HTTP, pages, CLI).",
            pytrace=False,
        )

    return refuse


postgres_server = _refused("postgres_server", DATABASE_FIXTURES["postgres_server"])
backend = _refused("backend", DATABASE_FIXTURES["backend"])
database_url = _refused("database_url", DATABASE_FIXTURES["database_url"])
settings = _refused("settings", DATABASE_FIXTURES["settings"])
hub = _refused("hub", DATABASE_FIXTURES["hub"])
clocked_hub = _refused("clocked_hub", DATABASE_FIXTURES["clocked_hub"])
client = _refused("client", DATABASE_FIXTURES["client"])
clocked_client = _refused("clocked_client", DATABASE_FIXTURES["clocked_client"])
