"""Tamper evidence: per-customer hash chains, checked after direct SQL edits of the log. Both backends.

The chain formula on its own (links, verification, anchors) is tested in tests/unit/test_event_chain_formula.py.

Each tamper test edits the database the way someone with write access would (UPDATE,
DELETE, INSERT on the events and chain tables) and asserts that `contacthub audit verify`,
GET /v1/customers/{id}/verify and the offline verifier name exactly the edited event.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.adapters.cli import main
from contacthub.adapters.store.chain import EVENTS_TABLE, POSITION, EventChain
from contacthub.adapters.store.migrations import migrate
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.event_chain import GENESIS, ChainLink, extend_chain
from helpers import contact, registered
from histories import batch_splits, histories
from support.databases import fresh_database_url

VERIFIER = Path(__file__).resolve().parents[2] / "scripts" / "verify_export.py"


def run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning"}
    )
    return result.exit_code, result.stdout, result.stderr


# --- the chain in the database --------------------------------------------------------------

def _story(hub: ContactHub) -> None:
    hub.ingest.ingest([registered("C1", ("13800138001",)), registered("C2", ("13800138002",))])
    for i in range(4):
        hub.ingest.ingest([contact({"customer_id": "C1"}, outcome="resolved" if i == 3 else "unresolved"),
                           contact({"customer_id": "C2"})])


def _edit(hub: ContactHub, statement: str, params: tuple[Any, ...] = ()) -> None:
    with hub.event_log.read_store.transaction(commit=True) as sql:
        sql.execute(statement.format(events=EVENTS_TABLE[hub.event_log.dialect],
                                     position=POSITION[hub.event_log.dialect]), params)


def _position(hub: ContactHub, customer: str, version: int) -> int:
    rows = [p for p, e in hub.event_log.customer_history(customer) if e.originator_version == version]
    return rows[0]


def _verify(hub: ContactHub, *customers: str, anchor: Path | None = None) -> tuple[int, str, str]:
    args = ["audit", "verify", *[a for c in customers for a in ("--customer", c)]]
    if anchor is not None:
        args += ["--anchor", str(anchor)]
    return run_cli(hub.settings.database_url, *args)


def test_an_untouched_log_verifies(hub: ContactHub) -> None:
    _story(hub)
    code, out, err = _verify(hub)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == "intact: 10 events of 2 customers"
    # Links are exactly the formula over the stored rows, in each customer's version order.
    for customer in ("C1", "C2"):
        chain = EventChain(hub.event_log.read_store).customer(customer)
        assert chain.links == extend_chain(GENESIS, customer, chain.records)


def test_a_changed_payload_is_pinpointed(hub: ContactHub, client: TestClient) -> None:
    _story(hub)
    position = _position(hub, "C1", 3)
    _edit(hub, "UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?",
          (b'{"channel":"store","forged":true}', "C1", 3))
    code, out, err = _verify(hub)
    assert code == 1
    assert out.splitlines() == [
        f"CHANGED   C1 version 3 position {position}: contact.logged at position {position} no longer matches its chain link"
    ]
    assert err.strip().splitlines()[-1] == "contacthub: 1 findings in 10 events of 2 customers"
    body = client.get("/v1/customers/C1/verify").json()
    assert body["intact"] is False
    assert [(f["version"], f["position"], f["problem"]) for f in body["findings"]] == [(3, position, "changed")]
    assert client.get("/v1/customers/C2/verify").json()["intact"] is True


def test_a_changed_type_and_a_moved_position_are_pinpointed(hub: ContactHub) -> None:
    _story(hub)
    _edit(hub, "UPDATE {events} SET topic = 'complaint.noted' WHERE originator_id = 'C1' AND originator_version = 2")
    _edit(hub, "UPDATE {events} SET {position} = 900000 WHERE originator_id = 'C2' AND originator_version = 4")
    code, out, _ = _verify(hub)
    assert code == 1
    assert [line.split(":")[0] for line in out.splitlines()] == [
        f"CHANGED   C1 version 2 position {_position(hub, 'C1', 2)}",
        "CHANGED   C2 version 4 position 900000",
    ]


def test_a_deleted_event_is_pinpointed_with_or_without_its_link(hub: ContactHub) -> None:
    _story(hub)
    position = _position(hub, "C1", 2)
    _edit(hub, "DELETE FROM {events} WHERE originator_id = 'C1' AND originator_version = 2")
    _edit(hub, "DELETE FROM {events} WHERE originator_id = 'C2' AND originator_version = 3")
    _edit(hub, "DELETE FROM event_chain WHERE customer_id = 'C2' AND version = 3")
    code, out, _ = _verify(hub)
    assert code == 1
    assert out.splitlines() == [
        f"REMOVED   C1 version 2 position {position}: the chain records version 2 at position {position}; "
        "the log no longer has it",
        "REMOVED   C2 version 3: version missing from the log and from the chain",
    ]


def test_an_inserted_event_is_pinpointed(hub: ContactHub) -> None:
    _story(hub)
    _edit(hub, "INSERT INTO {events} (originator_id, originator_version, topic, state) "
               "SELECT originator_id, 6, topic, state FROM {events} WHERE originator_id = 'C1' AND originator_version = 5")
    code, out, _ = _verify(hub, "C1")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith("INSERTED  C1 version 6 position ") and line.endswith("is not covered by the chain")


def test_an_anchor_finds_dropped_latest_events_and_recomputed_links(hub: ContactHub, tmp_path: Path) -> None:
    _story(hub)
    anchor = tmp_path / "anchor.json"
    code, out, err = run_cli(hub.settings.database_url, "audit", "anchor", "--out", str(anchor))
    assert code == 0, err
    document = orjson.loads(anchor.read_bytes())
    assert {h["customer_id"]: h["version"] for h in document["heads"]} == {"C1": 5, "C2": 5}
    assert out.startswith(f"anchored 2 chains at log position {hub.event_log.head_position()}: root {document['root']}")
    assert _verify(hub, anchor=anchor)[0] == 0

    # C1: the latest event and its link removed. C2: event 2 rewritten and the links after it recomputed.
    _edit(hub, "DELETE FROM {events} WHERE originator_id = 'C1' AND originator_version = 5")
    _edit(hub, "DELETE FROM event_chain WHERE customer_id = 'C1' AND version = 5")
    _edit(hub, "UPDATE {events} SET state = ? WHERE originator_id = 'C2' AND originator_version = 2", (b'{"forged":1}',))
    chain = EventChain(hub.event_log.read_store).customer("C2")
    for link in extend_chain(GENESIS, "C2", chain.records):
        _edit(hub, "UPDATE event_chain SET hash = ? WHERE customer_id = 'C2' AND version = ?", (link.hash, link.version))
    assert _verify(hub)[0] == 0  # without the anchor the forgery is self-consistent
    code, out, _ = _verify(hub, anchor=anchor)
    assert code == 1
    assert [line.split()[:4] for line in out.splitlines()] == [
        ["TRUNCATED", "C1", "version", "5:"], ["REWRITTEN", "C2", "version", "5"],
    ]


def test_an_altered_anchor_file_is_refused_in_one_line(hub: ContactHub, tmp_path: Path) -> None:
    _story(hub)
    anchor = tmp_path / "anchor.json"
    run_cli(hub.settings.database_url, "audit", "anchor", "--out", str(anchor))
    document = orjson.loads(anchor.read_bytes())
    document["heads"][0]["hash"] = "0" * 64
    anchor.write_bytes(orjson.dumps(document))
    code, out, err = _verify(hub, anchor=anchor)
    assert code != 0 and out == ""
    assert err.strip().splitlines()[-1] == f"contacthub: --anchor {anchor}: its root does not match its heads; the anchor file itself was altered"
    code, _, err = _verify(hub, anchor=tmp_path / "missing.json")
    assert code != 0 and err.strip().startswith("contacthub: --anchor ") and len(err.strip().splitlines()) == 1


def test_unknown_customer_verify_and_export_are_404(client: TestClient) -> None:
    for path in ("/v1/customers/NOPE/verify", "/v1/customers/NOPE/export"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["errors"][0]["field"] == "customer_id"


def _verifier(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(VERIFIER), str(path), *extra], capture_output=True, text=True, timeout=60)


def test_an_export_verifies_offline_and_an_edit_of_it_is_found(hub: ContactHub, client: TestClient, tmp_path: Path) -> None:
    _story(hub)
    response = client.get("/v1/customers/C1/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    header = lines[0]
    head = client.get("/v1/customers/C1/verify").json()["head"]
    assert header["customer_id"] == "C1" and header["versions"] == 5 and header["head"] == head
    assert [line["version"] for line in lines[1:]] == [1, 2, 3, 4, 5]
    exported = tmp_path / "C1.jsonl"
    exported.write_bytes(response.content)
    result = _verifier(exported, "--head", head["hash"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"C1: intact, 5 events, head {head['hash']}"

    # One byte of one event's payload changed in the file.
    forged = [dict(line) for line in lines]
    forged[3]["state"] = forged[3]["state"].replace("hotline", "store")
    exported.write_bytes(b"\n".join(orjson.dumps(line) for line in forged))
    result = _verifier(exported)
    assert result.returncode == 1
    assert result.stdout.strip() == f"C1: version 3 (position {lines[3]['position']}): the event does not match its link (changed)"

    # A head written down earlier that the chain no longer reaches.
    exported.write_bytes(b"\n".join(orjson.dumps(line) for line in lines[:4]))
    result = _verifier(exported, "--head", head["hash"])
    assert result.returncode == 1 and "does not contain the expected head" in result.stdout


def test_an_export_of_a_tampered_log_fails_offline_verification_too(hub: ContactHub, client: TestClient,
                                                                    tmp_path: Path) -> None:
    _story(hub)
    _edit(hub, "UPDATE {events} SET state = ? WHERE originator_id = 'C2' AND originator_version = 4", (b"\xff\xfe",))
    exported = tmp_path / "C2.jsonl"
    exported.write_bytes(client.get("/v1/customers/C2/export").content)
    result = _verifier(exported)
    assert result.returncode == 1
    assert "version 4" in result.stdout and "(changed)" in result.stdout


def test_migration_0008_links_the_events_stored_before_it(hub: ContactHub) -> None:
    _story(hub)
    store = hub.event_log.read_store
    before = {c: EventChain(store).customer(c).links for c in ("C1", "C2")}
    with store.transaction(commit=True) as sql:
        sql.execute("DROP TABLE event_chain")
        sql.execute("DELETE FROM schema_migrations WHERE name = '0008_event_chain.sql'")
    assert migrate(store, announce=False) == ["0008_event_chain.sql"]
    assert {c: EventChain(store).customer(c).links for c in ("C1", "C2")} == before
    assert _verify(hub)[0] == 0


# --- property: links written batch by batch are the links of the whole log ----------------------

@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_links_written_with_each_batch_equal_the_chain_of_the_whole_log(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    events = data.draw(histories(max_customers=3, max_events=30), label="history")
    batches = data.draw(batch_splits(events), label="batches")
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), sla_watch_interval_s=0))
    try:
        for batch in batches:
            hub.ingest.ingest(batch)
            hub.ingest.ingest(batch)  # a channel's retry stores nothing, so links nothing
        chain = EventChain(hub.event_log.read_store)
        report = chain.verify()
        assert report.findings == []
        # every stored event: the posted ones and what ContactHub recorded itself (unknown callers' parties, joins)
        assert report.events == len(hub.event_log.read_notifications(0, 100_000)) >= len(events)
        for customer in chain.customer_ids():
            stored = chain.customer(customer)
            assert [r.version for r in stored.records] == list(range(1, len(stored.records) + 1))
            assert stored.links == extend_chain(GENESIS, customer, stored.records)
            assert stored.links == [ChainLink(r.version, r.position, stored.links[i].hash)
                                    for i, r in enumerate(stored.records)]
    finally:
        hub.close()


def test_two_writers_on_one_customer_keep_one_unbroken_chain(settings: Settings) -> None:
    # Two servers on one database: each remembers the chain heads it wrote, and neither may
    # chain from a head the other has moved past (nor from a link whose write was refused).
    first, second = build(settings), build(settings)
    try:
        first.ingest.ingest([registered("C1", ("13800138001",))])
        for i in range(6):
            writer = first if i % 3 else second
            writer.ingest.ingest([contact({"customer_id": "C1"}), contact({"customer_id": "C1"})])
        report = EventChain(first.event_log.read_store).verify()
        assert (report.findings, report.events) == ([], 13)
    finally:
        first.close()
        second.close()
