"""Processes that start together on one empty database (`serve --workers N`, several hosts at a
deploy, `project --workers N`) all open the log: creating the tables and applying the migrations is
serialised, so none of them fails on PostgreSQL's catalog ("tuple concurrently updated") or on
SQLite's write lock ("database is locked"). Hubs in threads: each has its own pool, as a process would.

Found by a CI run of tests/e2e/test_serve_workers.py, where one of two workers died at startup.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from contacthub.bootstrap import build
from contacthub.config import Settings
from support.databases import fresh_database_url

STARTS = 6


def test_hubs_starting_together_on_an_empty_database_all_open_it(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for _ in range(3):  # the race needs the catalog to be empty: a new database each round
        failures, hubs = _start_together(fresh_database_url(backend, request, tmp_path_factory))
        for hub in hubs:
            hub.close()
        assert failures == [], [repr(f) for f in failures]
        assert len(hubs) == STARTS


def _start_together(url: str) -> tuple[list[BaseException], list[Any]]:
    together = threading.Barrier(STARTS)
    failures: list[BaseException] = []
    hubs: list[Any] = []

    def start() -> None:
        together.wait()
        try:
            hubs.append(build(Settings(database_url=url)))
        except BaseException as failure:  # noqa: BLE001 - every failure is the finding
            failures.append(failure)

    threads = [threading.Thread(target=start) for _ in range(STARTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return failures, hubs
