"""Fault tests: ContactHub's real processes, killed and starved of their database at random moments.

The promise under test: an event acknowledged is stored exactly once, an event not
acknowledged can be retried safely, no batch is ever partly stored, and the read models
converge to a rebuild of the log. Each test is bounded in time and seeded, so a failure can be
run again as it was.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from contacthub.adapters.store.chain import EventChain
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.demo import DemoPlan, generate_batches
from support.auth import new_key
from support.databases import fresh_database_url
from support.faults import (
    assert_read_models_equal_a_rebuild,
    assert_versions_without_gaps,
    hotline_calls,
    ledger,
    msisdn,
    registrations,
    stored_event_ids,
    wait_for_read_models,
)
from support.processes import ApiServer, ChannelClient, ContactHubProcess, ProjectorProcess
from support.reliability import record_outcome

# --- 1. the API server killed while channels retry -------------------------------------------


def test_api_server_killed_mid_stream_loses_nothing_doubles_nothing_and_stores_no_partial_batch(
    hub: ContactHub, database_url: str, backend: str, tmp_path: Path
) -> None:
    rng = random.Random(61)
    run = "kill-api"
    customers = [f"C-{n}" for n in range(40)]
    boss = new_key(hub, "channel", channel="boss")
    hotline = new_key(hub, "channel", channel="hotline")
    server = ApiServer(database_url, tmp_path)
    server.start()

    # Two channels' systems stream batches; every third batch of the second one is abandoned
    # after its first failure (a channel that gave up), the rest are retried until acknowledged.
    setup = ChannelClient(server.port, boss)
    setup.post_until_acknowledged(registrations(run, customers))
    # Each client streams until the last restart and at least 60 batches, so every kill lands
    # on live traffic however fast the backend is; what it sent is kept in `plans`.
    plans: dict[str, list[list[dict[str, Any]]]] = {"crm": [], "ivr": []}
    killing_done = threading.Event()
    acknowledged: set[str] = set()
    abandoned: list[list[str]] = []
    failures: list[BaseException] = []

    def stream(name: str) -> None:
        client = ChannelClient(server.port, hotline, timeout=10)
        own = random.Random(f"{name}-61")
        try:
            number = 0
            while number < 60 or not killing_done.is_set():
                batch = hotline_calls(f"{run}-{name}", number, customers, own.randint(1, 40), own)
                plans[name].append(batch)
                number += 1
                if name == "ivr" and (number - 1) % 3 == 0:
                    reply = client.request("POST", "/v1/events", {"events": batch})
                    if not 200 <= reply.status < 300:
                        abandoned.append([e["event_id"] for e in batch])
                        continue
                else:
                    reply = client.post_until_acknowledged(batch)
                acknowledged.update(r["event_id"] for r in reply.body["results"])
                time.sleep(rng.uniform(0, 0.02))
        except BaseException as exc:
            failures.append(exc)
        finally:
            statuses[name] = client.statuses
            client.close()

    statuses: dict[str, dict[int, int]] = {}
    threads = [threading.Thread(target=stream, args=(name,)) for name in plans]
    for thread in threads:
        thread.start()
    try:
        while server.kills < 5 and not failures:
            time.sleep(rng.uniform(0.2, 0.8))
            server.kill()
            time.sleep(rng.uniform(0.0, 0.3))
            server.start()
        killing_done.set()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, f"{failures}\nserver log:\n{server.log_tail()}"
        # The kills cut requests off: some went unanswered (and were retried or abandoned).
        assert merged(statuses).get(0, 0) > 0, "no request was cut off by a kill"
        assert_no_server_errors(statuses)
    finally:
        server.stop()

    sent = {e["event_id"] for plan in plans.values() for batch in plan for e in batch} | {f"{run}-reg-{c}" for c in customers}
    stored = stored_event_ids(hub)
    acknowledged |= {f"{run}-reg-{c}" for c in customers}
    record_outcome(f"1-api-server-killed-{backend}", kills=server.kills, answers=merged(statuses),
                   abandoned_batches=len(abandoned), **ledger(sent, acknowledged, stored))
    assert [event_id for event_id, times in stored.items() if times > 1] == []  # nothing doubled
    assert set(stored) <= sent  # nothing invented
    assert acknowledged - set(stored) == set()  # nothing acknowledged lost
    for batch in abandoned:  # all or nothing
        assert len({event_id in stored for event_id in batch}) == 1, f"batch partly stored: {batch}"
    retried = {e["event_id"] for name, plan in plans.items() for n, b in enumerate(plan)
               for e in b if not (name == "ivr" and n % 3 == 0)}
    assert retried <= set(stored)

    # Each customer's stream has no gap, and the timeline holds every call stored for them.
    versions = assert_versions_without_gaps(hub, customers)
    assert sum(versions.values()) == len(stored)
    hub.projector.catch_up()
    calls_stored = Counter(e["msisdn"] for plan in plans.values() for b in plan for e in b if e["event_id"] in stored)
    for customer in customers:
        view = hub.customers.customer_360(customer)
        assert view is not None
        assert view["contact_counts"].get("hotline", 0) == calls_stored[msisdn(customer)], customer
    assert EventChain(hub.event_log.read_store).verify().findings == []


def assert_no_server_errors(statuses: dict[str, dict[int, int]]) -> None:
    """Transport failures (0) and 503s are what a crash looks like; a 500 never is."""
    seen = merged(statuses)
    assert {s for s in seen if s >= 500 and s != 503} == set(), seen


def merged(statuses: dict[str, dict[int, int]]) -> dict[int, int]:
    seen: Counter[int] = Counter()
    for by_status in statuses.values():
        seen.update(by_status)
    return dict(sorted(seen.items()))


# --- 2. the projector killed during catch-up ----------------------------------------------------


def test_projector_killed_during_catch_up_converges_to_a_rebuild(
    hub: ContactHub, database_url: str, backend: str, tmp_path: Path
) -> None:
    rng = random.Random(62)
    for batch in generate_batches(DemoPlan(customers=1500, months=3, seed=62), batch_size=1000):
        hub.ingest.ingest(batch)
    head = hub.event_log.head_position()
    projector = ProjectorProcess(database_url, tmp_path, env={"CONTACTHUB_PROJECTOR_BATCH_SIZE": "50"})
    projector.start()
    try:
        positions_at_kills = []
        while projector.kills < 6:
            # Each kill lands while the projector is applying: once it has moved on since the last one.
            before = hub.projector.positions()
            deadline = time.monotonic() + 30
            while hub.projector.positions() == before:
                assert time.monotonic() < deadline, f"the projector made no progress:\n{projector.log_tail()}"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
            projector.kill()
            positions_at_kills.append(hub.projector.caught_up_to())
            projector.start()
        assert max(positions_at_kills) < head, (positions_at_kills, head)  # killed mid-way each time
        wait_for_read_models(hub)
    finally:
        projector.stop()
    comparisons = hub.audit.compare_read_models()
    record_outcome(f"2-projector-killed-{backend}", events=head, kills=projector.kills, positions_at_kills=positions_at_kills,
                   read_models_differing_from_rebuild=sum(bool(c.differing_tables) for c in comparisons))
    assert_read_models_equal_a_rebuild(hub)


# --- 3. many writers on the same customers through two API processes --------------------------


def test_concurrent_writers_on_the_same_customers_through_two_servers_lose_no_update(
    hub: ContactHub, database_url: str, backend: str, tmp_path: Path
) -> None:
    run = "crowd"
    customers = [f"C-{n}" for n in range(3)]  # a few customers, so nearly every batch collides
    hotline = new_key(hub, "channel", channel="hotline")
    hub.ingest.ingest(registrations(run, customers))
    servers = [ApiServer(database_url, tmp_path, name=f"api-{n}") for n in range(2)]
    for server in servers:
        server.start()
    clients, batches_per_client = 24, 12
    sent: dict[int, list[list[dict[str, Any]]]] = {
        n: [hotline_calls(f"{run}-{n}", b, customers, random.Random(n * 100 + b).randint(1, 4), random.Random(b))
            for b in range(batches_per_client)]
        for n in range(clients)
    }
    statuses: dict[str, dict[int, int]] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(clients)

    def write(n: int) -> None:
        client = ChannelClient(servers[n % 2].port, hotline)
        try:
            start.wait()
            for batch in sent[n]:
                client.post_until_acknowledged(batch, pause=0.01)
        except BaseException as exc:
            failures.append(exc)
        finally:
            statuses[f"client-{n}"] = client.statuses
            client.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(clients)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, f"{failures[:3]}\n{servers[0].log_tail()}\n{servers[1].log_tail()}"
        answers = merged(statuses)
        # Every conflict was settled inside the service: the channels saw only acknowledgements.
        assert set(answers) == {200}, answers
        wait_for_read_models(hub)
    finally:
        for server in servers:
            server.stop()

    calls = [e for batches in sent.values() for b in batches for e in b]
    stored = stored_event_ids(hub)
    everything = {e["event_id"] for e in calls} | {f"{run}-reg-{c}" for c in customers}
    record_outcome(f"3-concurrent-writers-{backend}", clients=clients, servers=len(servers), customers=len(customers),
                   answers=answers, **ledger(everything, everything if set(answers) == {200} else set(), stored))
    assert set(stored) == {e["event_id"] for e in calls} | {f"{run}-reg-{c}" for c in customers}
    assert max(stored.values()) == 1
    versions = assert_versions_without_gaps(hub, customers)
    assert versions == {c: 1 + sum(1 for e in calls if e["msisdn"] == msisdn(c)) for c in customers}
    for customer in customers:
        assert hub.customers.customer_360(customer)["contact_counts"]["hotline"] == versions[customer] - 1
    assert_read_models_equal_a_rebuild(hub)  # two embedded projectors followed the log as it was written


# --- 4. a projector following the log while writers commit late -----------------------------


class _LateCommits:
    """Makes the writer thread named "late-writer" hold its transaction open after its insert.

    That is the window of the sequence-gap problem: the late writer's events already have
    their positions, and a writer that started later commits higher positions first.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, serialised: bool, delay_s: float = 0.4) -> None:
        from contacthub.adapters.store.postgres import PostgresCustomerRecorder

        original = PostgresCustomerRecorder._write_batch

        def write_then_linger(recorder: Any, conn: Any, curs: Any, stored_events: Any, **kwargs: Any) -> Any:
            positions = original(recorder, conn, curs, stored_events, **kwargs)
            if threading.current_thread().name == "late-writer":
                # Sent in the batch's pipeline: the server sleeps after the inserts, before COMMIT.
                curs.execute("SELECT pg_sleep(%s)", (delay_s,))
            return positions

        monkeypatch.setattr(PostgresCustomerRecorder, "_write_batch", write_then_linger)
        if not serialised:  # the control: what the store would do without its table lock
            monkeypatch.setattr(PostgresCustomerRecorder, "_lock_table", lambda recorder, curs: None)


LATE_ROUNDS, CALLS_PER_WRITER = 6, 20


def late_commit_round_trip(database_url: str, rounds: int = LATE_ROUNDS) -> tuple[list[str], dict[str, int]]:
    """Two writers, one committing late, and a projector following. Returns the read-model
    tables that then differ from a rebuild, and the calls the follower's customer view missed."""
    settings = Settings(database_url=database_url, sla_watch_interval_s=0, projector_batch_size=50)
    late, prompt, follower = build(settings), build(settings), build(settings)
    try:
        customers = {"late": [f"L-{n}" for n in range(5)], "prompt": [f"P-{n}" for n in range(5, 10)]}
        late.ingest.ingest(registrations("gap", customers["late"] + customers["prompt"]))
        stop = threading.Event()
        following = threading.Thread(target=follower.projector.run, args=(stop, 0.005), name="follower")
        following.start()
        try:
            for n in range(rounds):
                batch = {who: hotline_calls(f"gap-{who}", n, ids, CALLS_PER_WRITER, random.Random(n)) for who, ids in customers.items()}
                writer = threading.Thread(target=late.ingest.ingest, args=(batch["late"],), name="late-writer")
                writer.start()
                time.sleep(0.1)  # the late writer has its positions and lingers before its commit
                prompt.ingest.ingest(batch["prompt"])
                writer.join(timeout=30)
            deadline = time.monotonic() + 30
            while follower.projector.caught_up_to() < follower.event_log.head_position():
                assert time.monotonic() < deadline, "the follower did not reach the log head"
                time.sleep(0.02)
        finally:
            stop.set()
            follower.projector.wake.set()
            following.join(timeout=30)
        # What the follower's customer view missed: calls in the log but not in its counts.
        missed = {}
        for customer in customers["late"] + customers["prompt"]:
            in_log = len(follower.event_log.customer_events(customer)) - 1
            seen = follower.customers.customer_360(customer)["contact_counts"].get("hotline", 0)
            if seen != in_log:
                missed[customer] = in_log - seen
        differing = sorted({t for c in follower.audit.compare_read_models() for t in c.differing_tables})
        return differing, missed
    finally:
        for hub in (late, prompt, follower):
            hub.close()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database_url("postgresql", request, tmp_path_factory)


# SQLite has one writer at a time by construction (its write lock is held from the first
# insert to the commit): it has no sequence gaps to skip, so these two run on PostgreSQL only.


@pytest.mark.postgres
def test_a_projector_following_the_log_never_skips_an_event_that_commits_late(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _LateCommits(monkeypatch, serialised=True)
    differing, missed = late_commit_round_trip(postgres_url)
    record_outcome("4-late-commits-postgresql", rounds=LATE_ROUNDS, late_calls=LATE_ROUNDS * CALLS_PER_WRITER, missed_by_follower=sum(missed.values()),
                   tables_differing_from_rebuild=differing)
    assert (differing, missed) == ([], {})


@pytest.mark.postgres
def test_without_the_table_lock_the_same_round_trip_skips_events(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the test above fails when writers are not serialised, so its pass means something."""
    _LateCommits(monkeypatch, serialised=False)
    differing, missed = late_commit_round_trip(postgres_url)
    record_outcome("4-late-commits-control-without-table-lock", rounds=LATE_ROUNDS, late_calls=LATE_ROUNDS * CALLS_PER_WRITER,
                   missed_by_follower=sum(missed.values()), tables_differing_from_rebuild=differing)
    assert differing != []  # the live read models are not what the log says
    assert set(missed) <= {f"L-{n}" for n in range(5)} and sum(missed.values()) > 0  # the late writer's calls


# --- 5. PostgreSQL restarted in immediate mode during ingest ----------------------------------


@pytest.mark.postgres
def test_postgresql_crash_restart_during_ingest_answers_503_then_recovers_without_an_api_restart(tmp_path: Path) -> None:
    from support.pgserver import ThrowawayPostgres

    rng = random.Random(65)
    run = "outage"
    customers = [f"C-{n}" for n in range(20)]
    with ThrowawayPostgres() as pg:  # its own server: the others' tests must not see it go down
        url = pg.create_database("outage")
        hub = build(Settings(database_url=url, sla_watch_interval_s=0))
        try:
            hotline = new_key(hub, "channel", channel="hotline")
            clerk = new_key(hub, "clerk")
            hub.ingest.ingest(registrations(run, customers))
            server = ApiServer(url, tmp_path)
            server.start()
            plans = {name: [hotline_calls(f"{run}-{name}", b, customers, rng.randint(1, 30), rng) for b in range(40)]
                     for name in ("crm", "ivr")}
            acknowledged: set[str] = set()
            refusals: list[tuple[str, int, Any]] = []
            failures: list[BaseException] = []
            done = threading.Event()

            def stream(name: str) -> None:
                client = ChannelClient(server.port, hotline, timeout=20)
                try:
                    for batch in plans[name]:
                        while True:  # retried unchanged until acknowledged; every answer kept
                            reply = client.request("POST", "/v1/events", {"events": batch})
                            if 200 <= reply.status < 300:
                                acknowledged.update(r["event_id"] for r in reply.body["results"])
                                break
                            refusals.append(("ingest", reply.status, reply.body))
                            time.sleep(0.1)
                        time.sleep(0.02)
                except BaseException as exc:
                    failures.append(exc)

            def read() -> None:
                client = ChannelClient(server.port, clerk, timeout=20)
                while not done.is_set():
                    reply = client.request("GET", f"/v1/customers/{rng.choice(customers)}")
                    if reply.status != 200:
                        refusals.append(("read", reply.status, reply.body))
                    time.sleep(0.05)

            threads = [threading.Thread(target=stream, args=(name,)) for name in plans]
            reader = threading.Thread(target=read)
            for thread in (*threads, reader):
                thread.start()
            outages = 0
            try:
                while any(t.is_alive() for t in threads) and outages < 2:
                    time.sleep(rng.uniform(0.5, 1.5))
                    pg.halt("immediate")
                    # Gone for longer than the connection pool waits (5 s): requests then get their 503.
                    time.sleep(7)
                    pg.resume()
                    outages += 1
                for thread in threads:
                    thread.join(timeout=120)
                done.set()
                reader.join(timeout=30)
                assert not failures, failures
                assert outages == 2, "the clients finished before the database went down twice"
                assert server.process is not None and server.process.poll() is None, "the API process died"
                # While the database was gone: 503 naming the database, never a 500, never silence.
                assert {status for _, status, _ in refusals} == {503}, refusals[:5]
                assert {kind for kind, _, _ in refusals} == {"ingest", "read"}
                assert {item["field"] for _, _, body in refusals for item in body["errors"]} == {"database"}

                # Recovered by itself: the same process stores, projects and answers again.
                wait_for_read_models(hub)
                reply = ChannelClient(server.port, clerk).request("GET", f"/v1/customers/{customers[0]}")
                assert reply.status == 200
            finally:
                done.set()
                server.stop()

            sent = {e["event_id"] for plan in plans.values() for batch in plan for e in batch}
            stored = stored_event_ids(hub)
            registered = {f"{run}-reg-{c}" for c in customers}
            record_outcome("5-postgresql-crash-restart", outages=outages, outage_s=7,
                           refusals=dict(Counter(f"{kind} {status}" for kind, status, _ in refusals)),
                           **ledger(sent | registered, acknowledged | registered, stored))
            assert max(stored.values()) == 1
            assert set(stored) == sent | {f"{run}-reg-{c}" for c in customers}
            assert acknowledged == sent
            assert_versions_without_gaps(hub, customers)
            assert_read_models_equal_a_rebuild(hub)
        finally:
            hub.close()


# --- 2b. projector workers (one per partition) killed, and their supervisor ------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_projector_workers_killed_converge_to_a_rebuild_and_die_with_their_supervisor(
    hub: ContactHub, database_url: str, backend: str, tmp_path: Path
) -> None:
    rng = random.Random(64)
    for batch in generate_batches(DemoPlan(customers=600, months=2, seed=64), batch_size=1000):
        hub.ingest.ingest(batch)
    head = hub.event_log.head_position()
    hub.projector.reset(partitions=2)
    supervisor = ContactHubProcess(["project", "--workers", "2"], database_url, tmp_path, "workers",
                                   {"CONTACTHUB_PROJECTOR_BATCH_SIZE": "50"})
    supervisor.start()
    try:
        kills = 0
        while kills < 4:
            before = hub.projector.lane_positions()
            deadline = time.monotonic() + 30
            while hub.projector.lane_positions() == before:
                assert time.monotonic() < deadline, f"no worker made progress:\n{supervisor.log_tail()}"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.2))
            workers = _children(supervisor.pid)
            if not workers:
                continue  # between a death and its restart
            os.kill(rng.choice(workers), signal.SIGKILL)
            kills += 1
        assert hub.projector.caught_up_to() < head  # killed mid-way
        wait_for_read_models(hub)
        assert hub.projector.partitions == 2
        workers = _children(supervisor.pid)
        assert len(workers) == 2
        supervisor.kill()  # the supervisor itself: its workers must not outlive it
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers):
            assert time.monotonic() < deadline, "a worker outlived its supervisor"
            time.sleep(0.1)
    finally:
        supervisor.stop()
    assert "projector_worker_restarted" in supervisor.log_tail(400)
    assert_read_models_equal_a_rebuild(hub)


# --- 6. a commit whose answer is lost --------------------------------------------------------


def test_a_batch_whose_commit_succeeded_but_whose_answer_was_lost_is_answered_duplicate_when_retried() -> None:
    """What a failover (or a broken network) does to an unlucky batch, on demand: the server commits,
    the connection dies before the answer arrives (support/cutproxy.py). The batch is answered 503
    (its fate unknown to the service); the channel's retry is answered `duplicate`, never an error or
    a second copy; the service's in-memory state (customers, chain heads) goes on from the truth."""
    from fastapi.testclient import TestClient

    from contacthub.adapters.http.app import create_app
    from support.cutproxy import CommitCutter
    from support.pgserver import ThrowawayPostgres

    rng = random.Random(66)
    customers = [f"L-{n}" for n in range(5)]
    with ThrowawayPostgres() as pg, CommitCutter(pg.port) as cutter:
        pg.create_database("lost_answer")
        hub = build(Settings(database_url=cutter.url("lost_answer"), sla_watch_interval_s=0))
        try:
            hotline = {"Authorization": f"Bearer {new_key(hub, 'channel', channel='hotline')}"}
            hub.ingest.ingest(registrations("lost", customers))
            batch = hotline_calls("lost", 0, customers, 20, rng)
            # The 503 is the error handler's answer, which Starlette then raises on: answer, do not raise.
            with TestClient(create_app(hub, run_projector=False), raise_server_exceptions=False) as client:
                head = hub.event_log.head_position()
                cutter.arm()
                lost = client.post("/v1/events", json={"events": batch}, headers=hotline)
                assert cutter.cuts == 1, "the proxy did not cut a commit"
                assert lost.status_code == 503, lost.text
                assert lost.json()["errors"][0]["field"] == "database"
                assert hub.event_log.head_position() == head + 20  # committed all the same

                retried = client.post("/v1/events", json={"events": batch}, headers=hotline)
                assert retried.status_code == 200, retried.text
                assert {r["status"] for r in retried.json()["results"]} == {"duplicate"}
                following = client.post("/v1/events", json={"events": hotline_calls("lost", 1, customers, 20, rng)},
                                        headers=hotline)
                assert following.status_code == 200, following.text
                assert {r["status"] for r in following.json()["results"]} == {"recorded"}
            stored = stored_event_ids(hub)
            assert max(stored.values()) == 1
            assert len(stored) == len(customers) + 40
            assert_versions_without_gaps(hub, customers)
            assert EventChain(hub.event_log.read_store).verify().findings == []
        finally:
            hub.close()
