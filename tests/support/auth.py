"""API keys in tests.

`allow_everything(app)`: the app answers every request as if it came from a key allowed
everything, through FastAPI's documented `app.dependency_overrides` — for the tests of
behaviour other than access control (the `client` fixtures). Production code has no such
principal: `create_app` always checks keys. tests/e2e/test_roles.py and the browser tests use
real keys (`new_key`, `bearer`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from contacthub.adapters.http.authentication import current_principal, page_principal
from contacthub.adapters.store.api_keys import ApiKeys
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import OPERATOR, Capability, Principal, Role


@dataclass(frozen=True)
class EverythingAllowed(Principal):
    """A test-only principal that holds every capability, bound to no channel, whose reads are not recorded and whose event ids are stored as posted."""

    def may(self, capability: Capability) -> bool:
        return True

    def records_reads(self, capability: Capability) -> bool:
        return False

    def event_source(self) -> str:
        return OPERATOR  # ids stored as posted, as the demo loader's: scoping is tested with real keys


TEST_PRINCIPAL = EverythingAllowed(key_id="test", name="store-0571-03", role=Role.ADMIN)
"""Named as the tests' clerk (the desk records a step as taken by whoever is logged in)."""


def allow_everything(app: FastAPI) -> FastAPI:
    app.dependency_overrides[current_principal] = lambda: TEST_PRINCIPAL
    app.dependency_overrides[page_principal] = lambda: TEST_PRINCIPAL
    return app


def new_key(hub: ContactHub, role: Role | str, name: str | None = None, channel: str | None = None) -> str:
    """A real key, created in the hub's database; its plaintext."""
    role = Role(role)
    _, plaintext = ApiKeys(hub.event_log.read_store, hub.clock).create(
        role, name or f"test-{role.value}{'-' + channel if channel else ''}", channel
    )
    return plaintext


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
