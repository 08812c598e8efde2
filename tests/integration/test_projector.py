"""The projector's promise: every event applied exactly once, also with two projectors racing
and with the projector running as its own process (`contacthub project`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from contacthub.bootstrap import ContactHub, build, read_models
from contacthub.config import Settings
from contacthub.demo import DemoPlan, generate_batches
from contacthub.projections.base import projection_digest
from contacthub.projections.runner import Projector
from helpers import contact, registered


def _load_demo(hub: ContactHub, customers: int = 60) -> None:
    for batch in generate_batches(DemoPlan(customers=customers, months=2, seed=3), batch_size=200):
        hub.ingest.ingest(batch)


def _digest(hub: ContactHub) -> dict[str, dict[str, str]]:
    return {p.name: projection_digest(hub.event_log.read_store, p) for p in hub.projector.projections}


def test_two_projectors_in_separate_processes_apply_each_event_once(hub: ContactHub, settings: Settings) -> None:
    _load_demo(hub)
    hub.projector.catch_up()
    expected = _digest(hub)
    hub.projector.reset()

    # Two independent hubs (own connection pools, as two processes would have), with
    # different batch sizes so their batches overlap without coinciding: the dangerous case.
    others = [build(settings), build(settings)]
    racers = [Projector(h.event_log, read_models(), batch_size=size) for h, size in zip(others, (37, 53))]
    errors: list[BaseException] = []

    def race(projector: Projector) -> None:
        try:
            projector.catch_up()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(p,)) for p in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for h in others:
        h.close()

    assert not errors
    assert hub.projector.caught_up_to() == hub.event_log.head_position()
    assert _digest(hub) == expected


def test_contacthub_project_follows_the_log_as_its_own_process(hub: ContactHub, database_url: str) -> None:
    env = {**os.environ, "CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_FORMAT": "json"}
    process = subprocess.Popen([sys.executable, "-m", "contacthub.adapters.cli", "project"], env=env)
    try:
        outcome = hub.ingest.ingest([registered(), contact(), contact(channel="store")])
        deadline = time.monotonic() + 30
        while hub.projector.caught_up_to() < outcome.position and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.projector.caught_up_to() >= outcome.position
        view = hub.customers.customer_360("C1")
        assert view is not None and view["contact_counts"] == {"hotline": 1, "store": 1}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0  # stops cleanly on SIGTERM
