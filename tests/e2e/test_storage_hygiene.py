"""Storage hygiene (issue 16, F10-F13): owner-only database files, plain erasure reasons, erasure idempotent
without compacting again.

SQLite's `secure_delete` is now set on every connection ContactHub opens (F13); Debian's build has it on
by default, so no test on this machine could tell the setting from the default, and none pretends to."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from contacthub.adapters.cli import main
from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import BOSS, Role
from contacthub.projections.sql import SQLITE
from helpers import registered
from support.auth import bearer, new_key


def test_a_new_sqlite_database_and_its_side_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    """F10: database files were created 0644 (readable by every local user) under the default umask."""
    old = os.umask(0o022)
    try:
        hub = build(Settings(database_url=f"sqlite:///{tmp_path}/contacthub.db", sla_watch_interval_s=0))
        try:
            boss = new_key(hub, Role.CHANNEL, channel=BOSS)
            with TestClient(create_app(hub)) as client:
                assert client.post("/v1/events", json={"events": [registered("C1")]}, headers=bearer(boss)).status_code == 200
            files = sorted(p.name for p in tmp_path.iterdir())
            assert {"contacthub.db", "contacthub.db-wal", "contacthub.db-writers.lock"} <= set(files), files
            for path in tmp_path.iterdir():
                assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path.name, oct(path.stat().st_mode))
        finally:
            hub.close()
    finally:
        os.umask(old)


@pytest.mark.parametrize("reason", ["GDPR-1\u202e2024", "ticket\x07", "line one\nline two", "zero\u200bwidth", " "])
def test_an_erasure_reason_with_unseen_characters_is_refused_and_nothing_is_erased(
    hub: ContactHub, database_url: str, reason: str
) -> None:
    """F11: the erasure reason accepted control and bidi characters (it is stored in clear and read by auditors)."""
    boss, admin = new_key(hub, Role.CHANNEL, channel=BOSS), bearer(new_key(hub, Role.ADMIN))
    with TestClient(create_app(hub)) as client:
        assert client.post("/v1/events", json={"events": [registered("C1")]}, headers=bearer(boss)).status_code == 200
        head = hub.event_log.head_position()
        refused = client.post("/v1/customers/C1/erasure", json={"reason": reason}, headers=admin)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "reason", refused.text
        assert hub.event_log.head_position() == head
    result = CliRunner().invoke(main, ["forget", "C1", "--by", "dpo-wang", "--reason", reason],
                                env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning"})
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "reason" in result.stderr
    assert hub.event_log.head_position() == head


def test_erasing_again_records_nothing_and_does_not_compact_again(hub: ContactHub) -> None:
    """F12: re-erasing an erased customer ran a full VACUUM each time."""
    boss, admin = new_key(hub, Role.CHANNEL, channel=BOSS), bearer(new_key(hub, Role.ADMIN))
    compactions: list[int] = []
    if hub.erasure.compact is not None:
        compact = hub.erasure.compact
        hub.erasure.compact = lambda: (compactions.append(1), compact())[1]
    with TestClient(create_app(hub)) as client:
        assert client.post("/v1/events", json={"events": [registered("C1")]}, headers=bearer(boss)).status_code == 200
        first = client.post("/v1/customers/C1/erasure", json={"reason": "DSR-2026-0042"}, headers=admin).json()
        head = hub.event_log.head_position()
        again = [client.post("/v1/customers/C1/erasure", json={"reason": "DSR-2026-0042"}, headers=admin).json()
                 for _ in range(3)]
    assert first["result"] == "erased" and first["compacted"] == (hub.event_log.dialect == SQLITE)
    assert [a["result"] for a in again] == ["already_erased"] * 3 and not any(a["compacted"] for a in again)
    assert all(a["position"] == first["position"] for a in again) and hub.event_log.head_position() == head
    assert len(compactions) == (1 if hub.event_log.dialect == SQLITE else 0)
