"""The unit tier refuses every database fixture, naming where such a test belongs (tests/unit/conftest.py)."""

from __future__ import annotations

import pytest

from contacthub.adapters.store.memory import InMemoryEventLog
from support.services import Services

DATABASE_FIXTURES = [
    "postgres_server", "backend", "database_url", "settings", "hub", "clocked_hub", "client", "clocked_client",
]


@pytest.mark.parametrize("name", DATABASE_FIXTURES)
def test_a_unit_test_that_asks_for_a_database_fails_saying_where_it_belongs(
    request: pytest.FixtureRequest, name: str
) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        request.getfixturevalue(name)
    message = str(failed.value)
    assert message.startswith(f"tests/unit uses no database: the `{name}` fixture")
    assert "`services`" in message and "tests/integration" in message and "tests/e2e" in message


def test_the_services_run_on_an_empty_in_memory_log_with_the_packaged_sla_policy(services: Services) -> None:
    assert isinstance(services.log, InMemoryEventLog)
    assert services.log.head_position() == 0
    assert services.ingest.clock is services.clock and services.actions.clock is services.clock
    assert services.ingest.sla_policy is not None and services.ingest.sla_policy.version == "cn-default-2026-12"
