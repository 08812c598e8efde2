"""`contacthub serve --workers 2`: two server processes on one port, the projector and the watchers once, in the parent.

A real process tree, started as production starts it (support/processes.py), on SQLite and
on PostgreSQL: reads are answered by both workers, what a worker records becomes visible
(the parent's projector, woken by the worker), a killed worker is replaced, and every read
is in the access log.
"""

from __future__ import annotations

import http.client
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import BOSS, Role
from helpers import contact, registered
from support.auth import new_key
from support.processes import ApiServer, ChannelClient

WORKER = "X-ContactHub-Worker"


def read(port: int, key: str, path: str) -> tuple[int, str | None, bytes]:
    """One GET on a new connection (so it may be answered by any worker): status, worker pid, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        return response.status, response.getheader(WORKER), response.read()
    finally:
        connection.close()


def log_events(path: Path) -> list[str]:
    events = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                events.append(orjson.loads(line)["event"])
            except (orjson.JSONDecodeError, KeyError):
                continue
    return events


def test_two_workers_answer_reads_record_every_read_and_the_projector_runs_once(
    hub: ContactHub, database_url: str, tmp_path: Path
) -> None:
    boss, hotline = new_key(hub, Role.CHANNEL, channel=BOSS), new_key(hub, Role.CHANNEL, channel="hotline")
    clerk = new_key(hub, Role.CLERK, "store-0571-03")
    server = ApiServer(database_url, tmp_path, workers=2, env={"CONTACTHUB_SLA_WATCH_INTERVAL_S": "1"})
    server.start()
    reads = 0
    try:
        # What a worker records becomes visible: the projector runs, in the parent.
        ChannelClient(server.port, boss).post_until_acknowledged([registered("C1")])
        hotline_client = ChannelClient(server.port, hotline)
        for n in range(5):  # read your own write, through whichever worker answers
            position = hotline_client.post_until_acknowledged([contact(channel="hotline")]).body["position"]
            status, _, body = read(server.port, clerk, f"/v1/customers/C1?min_position={position}")
            reads += 1
            assert status == 200, body
            assert orjson.loads(body)["contact_count"] == n + 1

        # Both workers answer reads, neither of them the parent.
        pids: set[str] = set()
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):
                answers = list(pool.map(lambda _: read(server.port, clerk, "/v1/customers/C1"), range(16)))
                reads += len(answers)
                assert {status for status, _, _ in answers} == {200}
                pids |= {pid for _, pid, _ in answers if pid}
                if len(pids) == 2:
                    break
        assert len(pids) == 2, pids
        assert str(server.pid) not in pids

        # A worker that dies is replaced; the other goes on answering meanwhile.
        killed = sorted(pids)[0]
        os.kill(int(killed), signal.SIGKILL)
        deadline = time.monotonic() + 30
        seen: set[str] = set()
        while time.monotonic() < deadline and not (seen - pids):
            try:
                status, pid, _ = read(server.port, clerk, "/v1/customers/C1")
            except OSError:  # a connection the kernel had queued for the killed worker's socket: reset
                time.sleep(0.05)
                continue
            reads += 1
            assert status == 200
            seen.add(str(pid))
        assert seen - pids and killed not in seen, (pids, seen)

        # Every read is in the access log (each answered only once its entry was committed).
        # (A read in flight in the killed worker could not be answered; none was: reads were sequential.)
        recorded = hub.event_log.read_store.query_one(
            "SELECT COUNT(*) AS n FROM access_log WHERE key_id = ?", (clerk.split("_")[1],))
        assert recorded is not None and int(recorded["n"]) == reads
        time.sleep(1.5)  # the watchers' first passes
    finally:
        server.stop()

    assert server.process is not None and server.process.returncode == 0, server.log_tail()
    events = log_events(server.log_path)
    assert events.count("projector_started") == 1, server.log_tail()
    assert events.count("watchers_started") == 1, server.log_tail()
    assert events.count("server_started") == 3, server.log_tail()  # one per worker and the replacement; no projector
    assert events.count("worker_died") == 1
    assert events.count("projector_stopped") == 1 and "serving" in events
