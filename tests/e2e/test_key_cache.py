"""A server process keeps the keys it verified for CONTACTHUB_KEY_CACHE_S; revocation still holds, and the access log.

- revoked through this server's API: refused at once (test_roles.py too);
- revoked elsewhere (another worker, `contacthub keys revoke`): a recorded read (clerk,
  auditor) is refused at once, since its access-log entry is written only for an active key;
  any other request within the cache time, and not after it;
- a recorded read is answered only once its entry is committed, and not at all when the
  entry cannot be written.

Every test runs on SQLite and on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.adapters.http.authentication import ServerKeys
from contacthub.adapters.store.api_keys import ApiKeys
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, Role
from helpers import contact, registered
from support.auth import bearer, new_key


class Ticks:
    """The key cache's clock (monotonic seconds), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def served(hub: ContactHub, ticks: Ticks) -> TestClient:
    app = create_app(hub)
    keys: ServerKeys = app.state.api_keys
    keys.monotonic = ticks
    return TestClient(app)


@pytest.fixture
def cached_hub(settings: Settings) -> Iterator[ContactHub]:
    hub = build(replace(settings, key_cache_s=5.0))
    try:
        yield hub
    finally:
        hub.close()


def entries(hub: ContactHub, key: str) -> int:
    row = hub.event_log.read_store.query_one("SELECT COUNT(*) AS n FROM access_log WHERE key_id = ?", (key.split("_")[1],))
    return int(row["n"]) if row else 0


def revoke_elsewhere(hub: ContactHub, key: str) -> None:
    """As `contacthub keys revoke` or another worker would: not through this server's ServerKeys."""
    ApiKeys(hub.event_log.read_store).revoke(key.split("_")[1])


def with_customer(client: TestClient, hub: ContactHub) -> None:
    boss = new_key(hub, Role.CHANNEL, channel=BOSS)
    position = client.post("/v1/events", json={"events": [registered("C1")]}, headers=bearer(boss)).json()["position"]
    assert hub.projector.wait_for(position, 5)


def test_a_key_revoked_elsewhere_is_refused_at_once_for_recorded_reads_and_within_the_cache_time_otherwise(
    cached_hub: ContactHub, ticks: Ticks
) -> None:
    hub = cached_hub
    clerk, admin = new_key(hub, Role.CLERK), new_key(hub, Role.ADMIN)
    hotline = new_key(hub, Role.CHANNEL, channel="hotline")
    with served(hub, ticks) as client:
        with_customer(client, hub)
        assert client.get("/v1/customers/C1", headers=bearer(clerk)).status_code == 200
        assert client.get("/v1/keys", headers=bearer(admin)).status_code == 200
        assert client.post("/v1/events", json={"events": [contact()]}, headers=bearer(hotline)).status_code == 200
        assert entries(hub, clerk) == 1

        for key in (clerk, admin, hotline):
            revoke_elsewhere(hub, key)

        # The clerk's read would be recorded: its entry is not written, and the read is refused.
        refused = client.get("/v1/customers/C1", headers=bearer(clerk))
        assert refused.status_code == 401, refused.text
        assert refused.json() == {"errors": [{"field": "authorization", "message": "unknown or revoked API key"}]}
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert entries(hub, clerk) == 1
        assert client.get("/v1/customers/C1/timeline", headers=bearer(clerk)).status_code == 401  # forgotten: looked up

        # Requests that are not recorded go on with the verified key until the cache time is over...
        ticks.now += 4.9
        assert client.get("/v1/keys", headers=bearer(admin)).status_code == 200
        assert client.post("/v1/events", json={"events": [contact()]}, headers=bearer(hotline)).status_code == 200
        # ... and no longer.
        ticks.now += 0.2
        assert client.get("/v1/keys", headers=bearer(admin)).status_code == 401
        assert client.post("/v1/events", json={"events": [contact()]}, headers=bearer(hotline)).status_code == 401


def test_a_key_revoked_through_this_server_is_refused_at_once(cached_hub: ContactHub, ticks: Ticks) -> None:
    hub = cached_hub
    admin, other_admin = new_key(hub, Role.ADMIN, "admin-1"), new_key(hub, Role.ADMIN, "admin-2")
    with served(hub, ticks) as client:
        assert client.get("/v1/keys", headers=bearer(other_admin)).status_code == 200  # verified, kept
        revoked = client.post(f"/v1/keys/{other_admin.split('_')[1]}/revoke", headers=bearer(admin))
        assert revoked.status_code == 200
        assert client.get("/v1/keys", headers=bearer(other_admin)).status_code == 401


def test_a_kept_key_is_not_a_pass_for_another_secret(cached_hub: ContactHub, ticks: Ticks) -> None:
    hub = cached_hub
    admin = new_key(hub, Role.ADMIN)
    _, key_id, secret = admin.split("_", 2)  # the secret may hold underscores too
    forged = f"ch_{key_id}_{'A' * 43 if secret != 'A' * 43 else 'B' * 43}"
    with served(hub, ticks) as client:
        assert client.get("/v1/keys", headers=bearer(admin)).status_code == 200
        assert client.get("/v1/keys", headers=bearer(forged)).status_code == 401
        assert client.get("/v1/keys", headers=bearer(admin)).status_code == 200


def test_without_a_cache_every_request_looks_its_key_up(settings: Settings, ticks: Ticks) -> None:
    hub = build(replace(settings, key_cache_s=0))
    try:
        admin = new_key(hub, Role.ADMIN)
        with served(hub, ticks) as client:
            assert client.get("/v1/keys", headers=bearer(admin)).status_code == 200
            revoke_elsewhere(hub, admin)
            assert client.get("/v1/keys", headers=bearer(admin)).status_code == 401
    finally:
        hub.close()


def test_a_recorded_read_whose_entry_cannot_be_written_is_not_answered(
    hub: ContactHub, ticks: Ticks, monkeypatch: pytest.MonkeyPatch
) -> None:
    clerk = new_key(hub, Role.CLERK)
    with served(hub, ticks) as client:
        with_customer(client, hub)
        assert client.get("/v1/customers/C1", headers=bearer(clerk)).status_code == 200

        def broken(*_: Any) -> set[str]:
            raise RuntimeError("the disk is full")

        writer = client.app.state.api_keys.access_writer  # type: ignore[attr-defined]
        monkeypatch.setattr(writer, "_write", broken)
        response = client.get("/v1/customers/C1", headers=bearer(clerk))
        assert response.status_code == 500
        assert response.json() == {"errors": [{"field": "server", "message": "internal error; it has been logged"}]}
        assert "王芳" not in response.text  # nothing of the view
        monkeypatch.undo()
        assert client.get("/v1/customers/C1", headers=bearer(clerk)).status_code == 200
        assert entries(hub, clerk) == 2


def test_each_read_waits_for_its_own_entry(hub: ContactHub, ticks: Ticks) -> None:
    # Many reads at once share commits; every answered read has its entry.
    import concurrent.futures

    clerk = new_key(hub, Role.CLERK)
    with served(hub, ticks) as client:
        with_customer(client, hub)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: client.get("/v1/customers/C1", headers=bearer(clerk)).status_code,
                                     range(40)))
        assert statuses == [200] * 40
        assert entries(hub, clerk) == 40
