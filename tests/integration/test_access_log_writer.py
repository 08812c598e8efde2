"""The access log's writer (adapters/http/access_log.py): entries committed in groups, each future told its fate.

Every test runs on SQLite and on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import pytest

from contacthub.adapters.http.access_log import AccessLogWriter
from contacthub.adapters.store.api_keys import AccessEntry as Entry
from contacthub.adapters.store.api_keys import ApiKeys
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import Principal, Role


def clerk(hub: ContactHub, name: str = "store-0571-03") -> Principal:
    keys = ApiKeys(hub.event_log.read_store)
    _, plaintext = keys.create(Role.CLERK, name)
    principal = keys.authenticate(plaintext)
    assert principal is not None
    return principal


def rows(hub: ContactHub) -> list[dict[str, Any]]:
    return hub.event_log.read_store.query("SELECT * FROM access_log ORDER BY at, entry_id")


def test_entries_waiting_together_are_committed_together(hub: ContactHub) -> None:
    writer = AccessLogWriter(hub.event_log.read_store, hub.clock)
    who = clerk(hub)
    commits: list[int] = []
    first_commit_started, go_on = threading.Event(), threading.Event()
    write = writer._write

    def counted(entries: Sequence[Entry]) -> set[str]:
        commits.append(len(entries))
        if len(commits) == 1:
            first_commit_started.set()
            go_on.wait(5)
        return write(entries)

    writer._write = counted  # type: ignore[method-assign]
    first = writer.submit(who, "GET", "/v1/customers/C0", "", "C0", None)
    assert first_commit_started.wait(5)
    waiting = [writer.submit(who, "GET", f"/v1/customers/C{i}", "min_position=3", f"C{i}", None) for i in range(1, 150)]
    go_on.set()

    assert all(f.result(10) is True for f in [first, *waiting])
    assert commits == [1, 149]  # 149 entries, two INSERT statements (90 rows each at most), one commit
    stored = rows(hub)
    assert len(stored) == 150 and {r["customer_id"] for r in stored} == {f"C{i}" for i in range(150)}
    assert {(r["key_id"], r["key_name"], r["role"], r["method"]) for r in stored} == {(who.key_id, who.name, "clerk", "GET")}
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["entry_id"]) for r in stored)
    ids = [r["entry_id"] for r in hub.event_log.read_store.query("SELECT entry_id FROM access_log")]
    assert len(set(ids)) == 150


def test_an_entry_for_a_revoked_key_is_not_written_and_its_read_is_told(hub: ContactHub) -> None:
    writer = AccessLogWriter(hub.event_log.read_store, hub.clock)
    active, revoked = clerk(hub, "clerk-a"), clerk(hub, "clerk-b")
    ApiKeys(hub.event_log.read_store).revoke(revoked.key_id)

    outcomes = [writer.submit(p, "GET", "/v1/customers/C1", "", "C1", None) for p in (active, revoked, active)]

    assert [f.result(10) for f in outcomes] == [True, False, True]
    assert [r["key_name"] for r in rows(hub)] == ["clerk-a", "clerk-a"]


def test_a_failed_commit_fails_every_entry_in_it_and_the_writer_goes_on(hub: ContactHub) -> None:
    writer = AccessLogWriter(hub.event_log.read_store, hub.clock)
    who = clerk(hub)
    write = writer._write
    failing = [True]

    def sometimes(entries: Sequence[Entry]) -> set[str]:
        if failing.pop() if failing else False:
            raise RuntimeError("the disk is full")
        return write(entries)

    writer._write = sometimes  # type: ignore[method-assign]
    lost: Future[bool] = writer.submit(who, "GET", "/v1/customers/C1")
    with pytest.raises(RuntimeError, match="the disk is full"):
        lost.result(10)
    assert writer.submit(who, "GET", "/v1/customers/C2").result(10) is True
    assert [r["path"] for r in rows(hub)] == ["/v1/customers/C2"]


def test_the_writer_thread_ends_when_idle_and_comes_back(hub: ContactHub) -> None:
    writer = AccessLogWriter(hub.event_log.read_store, hub.clock, idle_s=0.05)
    who = clerk(hub)
    assert writer.record(who, "GET", "/v1/customers/C1") is True
    thread = writer._thread
    if thread is not None:
        thread.join(5)
    assert writer._thread is None
    assert writer.record(who, "GET", "/v1/customers/C2") is True
    assert len(rows(hub)) == 2
