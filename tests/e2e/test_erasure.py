"""Erasure without breaking the log: per-customer keys, `contacthub forget`. Both backends.

The proof is read off the database itself: after `forget`, none of the customer's personal
values occurs anywhere in it (the SQLite file and its write-ahead log byte by byte; every
row of every PostgreSQL table as text), while the hash chains still verify, the read
models still equal a rebuild of the log, and metrics still count the customer's contacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.adapters.cli import main
from contacthub.adapters.http.app import create_app
from contacthub.adapters.store.chain import EventChain
from contacthub.adapters.store.database import parse_database_url
from contacthub.adapters.store.keyring import PREFIX
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.personal_data import ERASED
from contacthub.services.ingest import IngestRejected
from helpers import complaint_opened, contact, event, registered
from histories import batch_splits, histories
from support.auth import bearer, new_key
from support.databases import fresh_database_url

NAME = "欧阳明哲"
MSISDN = "13912345678"
SUMMARY = "宽带断网三天，家住翠湖小区七栋"
RESOLUTION = "上门更换光猫，赔偿话费五十元"
NOTE = "客户要求回电至备用号码"
CANCEL = "客户搬家至滨江花园"
SECRETS = (NAME, MSISDN, SUMMARY, RESOLUTION, NOTE, CANCEL)


def run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning"}
    )
    return result.exit_code, result.stdout, result.stderr


def _story(hub: ContactHub) -> dict[str, Any]:
    c1 = {"customer_id": "C1"}
    story = [
        registered("C1", (MSISDN,), name=NAME), registered("C2", ("13800000002",), name="李四"),
        contact({"msisdn": MSISDN}), contact(c1, channel="store"),
        complaint_opened("K1", c1, summary=SUMMARY),
        event("complaint.resolved", c1, complaint_id="K1", resolution=RESOLUTION),
        event("complaint.noted", c1, complaint_id="K1", text=NOTE),
        event("order.placed", c1, order_id="O1", services=["broadband"]),
        event("order.cancelled", c1, order_id="O1", reason=CANCEL),
        contact({"customer_id": "C2"}),
    ]
    hub.ingest.ingest(story)
    hub.projector.catch_up()
    return {e["event_id"]: e for e in story}


def _raw_database_text(hub: ContactHub) -> str:
    """Everything stored, as text: the SQLite files' bytes, or every row of every PostgreSQL table."""
    if hub.event_log.dialect == "sqlite":
        path = Path(parse_database_url(hub.settings.database_url).es_env["SQLITE_DBNAME"])
        data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        return data.decode("utf-8", errors="replace")
    with hub.event_log.read_store.transaction(commit=False) as sql:
        tables = [r["table_name"] for r in sql.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").all()]
        return "\n".join(str(r["row"]) for t in tables for r in sql.execute(f"SELECT t::text AS row FROM {t} t").all())


def test_personal_fields_are_never_stored_in_clear_in_the_log(hub: ContactHub) -> None:
    _story(hub)
    stored = b"".join(r.state for c in ("C1", "C2") for r in EventChain(hub.event_log.read_store).customer(c).records)
    for value in SECRETS:
        assert value.encode() not in stored
    assert stored.count(PREFIX.encode()) >= 6
    # ...while every reader sees them decrypted.
    assert hub.customers.customer_360("C1")["name"] == NAME
    assert hub.complaints.complaint("K1")["summary"] == SUMMARY


def test_forget_leaves_no_personal_data_a_verifying_chain_and_the_anonymous_facts(hub: ContactHub) -> None:
    # She rang the hotline the day before her account was opened: an unknown caller's touchpoint,
    # kept on her number's unidentified party and joined to her at the registration.
    hub.ingest.ingest([contact({"msisdn": MSISDN}, occurred_at="2026-11-01T09:00:00+08:00")])
    party = hub.event_log.lookup_claims("unidentified", [MSISDN])[MSISDN]
    posted = _story(hub)
    before = hub.customers.customer_360("C1")
    assert before["name"] == NAME and before["msisdns"] == [MSISDN]
    assert any(value in _raw_database_text(hub) for value in SECRETS)  # the read models hold them in clear

    code, out, err = run_cli(hub.settings.database_url, "forget", "C1", "--by", "admin-li", "--reason", "工单 RQ-88")
    assert code == 0, err
    assert out.startswith("C1 erased at log position ")

    raw = _raw_database_text(hub)
    assert [value for value in SECRETS if value in raw] == []
    assert "李四" in raw  # the other customer is untouched

    after = hub.customers.customer_360("C1")
    assert (after["name"], after["msisdns"], after["erased_at"] is not None) == (ERASED, [], True)
    assert after["contact_counts"] == before["contact_counts"]  # the facts still count
    assert hub.event_log.load_customers([party])[party].erased_at is not None  # her number's party went with her
    complaint = hub.complaints.complaint("K1")
    assert (complaint["summary"], complaint["resolution"], complaint["status"]) == (ERASED, ERASED, "resolved")
    assert hub.customers.customer_360("C2")["name"] == "李四"

    assert run_cli(hub.settings.database_url, "audit", "verify")[0] == 0
    assert [c.differing_tables for c in hub.audit.compare_read_models()] == [[], [], [], []]

    # The log keeps the events: a channel's retry is still a duplicate, not a conflict...
    first_contact = next(e for e in posted.values() if e.get("msisdn") == MSISDN)
    outcome = hub.ingest.ingest([first_contact])
    assert [r.status for r in outcome.results] == ["duplicate"]
    # ...but nothing new is recorded about the customer, and the number no longer leads to them.
    with pytest.raises(IngestRejected) as refused:
        hub.ingest.ingest([contact({"customer_id": "C1"})])
    assert refused.value.errors[0].field == "customer_id" and "erased" in refused.value.errors[0].message
    # A touchpoint from the number now is an unknown caller's, on a new party
    unknown = hub.ingest.ingest([contact({"msisdn": MSISDN})])
    assert [r.status for r in unknown.results] == ["recorded"]
    assert hub.event_log.lookup_claims("unidentified", [MSISDN])[MSISDN] != party
    assert hub.event_log.customer_history("C1")[-1][1].TOPIC == "customer.erased"

    code, out, _ = run_cli(hub.settings.database_url, "forget", "C1", "--by", "admin-li", "--reason", "again")
    assert code == 0 and out.startswith("C1 was already erased")


def test_forget_refuses_bad_input_in_one_line(hub: ContactHub) -> None:
    code, _, err = run_cli(hub.settings.database_url, "forget", "NOPE", "--by", "admin", "--reason", "x")
    assert code != 0 and err.strip().splitlines()[-1] == "contacthub: no customer NOPE"
    code, _, err = run_cli(hub.settings.database_url, "forget", "C1", "--by", " ", "--reason", "x")
    assert code != 0 and err.strip().splitlines()[-1] == "contacthub: --by and --reason must not be empty"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_after_any_erasure_the_chain_verifies_and_live_equals_rebuild(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    events = data.draw(histories(max_customers=3, max_events=30), label="history")
    batches = data.draw(batch_splits(events), label="batches")
    customers = sorted(e["customer_id"] for e in events if e["type"] == "customer.registered")
    erased = data.draw(st.sampled_from(customers), label="erased")
    owner_of = {m: e["customer_id"] for e in events if e["type"] == "customer.registered" for m in e["msisdns"]}
    registered_in = next(i for i, b in enumerate(batches) for e in b
                         if e["type"] == "customer.registered" and e["customer_id"] == erased)
    cut = data.draw(st.integers(registered_in + 1, len(batches)), label="erased before batch")
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), sla_watch_interval_s=0))
    try:
        for i, batch in enumerate([*batches, []]):
            if i == cut:
                assert hub.ingest.erase(erased, by="admin", reason="request")[0] == "recorded"
            if i >= cut:  # nothing more is accepted about the erased customer
                batch = [e for e in batch if (e.get("customer_id") or owner_of.get(e.get("msisdn"))) != erased]
            if batch:
                hub.ingest.ingest(batch)
            hub.projector.run_once()
        hub.projector.catch_up()
        assert EventChain(hub.event_log.read_store).verify().findings == []
        assert [c.differing_tables for c in hub.audit.compare_read_models()] == [[] for _ in hub.projector.projections]
        view = hub.customers.customer_360(erased)
        assert (view["name"], view["msisdns"]) == (ERASED, [])
    finally:
        hub.close()


def test_the_admin_erases_over_http_and_the_clerk_sees_it_erased(hub: ContactHub) -> None:
    _story(hub)
    admin, clerk, auditor = (new_key(hub, role) for role in ("admin", "clerk", "auditor"))
    with TestClient(create_app(hub)) as client:
        path = "/v1/customers/C1/erasure"
        assert client.post(path, json={"reason": "RQ-88"}, headers=bearer(auditor)).status_code == 403
        assert client.post(path, json={"reason": "RQ-88"}, headers=bearer(clerk)).status_code == 403
        bad = client.post(path, json={"reason": ""}, headers=bearer(admin))
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
        unknown = client.post("/v1/customers/NOPE/erasure", json={"reason": "x"}, headers=bearer(admin))
        assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "customer_id"

        done = client.post(path, json={"reason": "RQ-88"}, headers=bearer(admin))
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["result"], body["read_models_updated"]) == ("erased", True)
        assert body["compacted"] is (hub.event_log.dialect == "sqlite")
        again = client.post(path, json={"reason": "RQ-88"}, headers=bearer(admin)).json()
        assert (again["result"], again["position"]) == ("already_erased", body["position"])

        view = client.get("/v1/customers/C1", headers=bearer(clerk)).json()
        assert (view["name"], view["msisdns"]) == (ERASED, [])
        assert view["erased_at"] is not None
        assert client.get("/v1/customers", params={"msisdn": MSISDN}, headers=bearer(clerk)).status_code == 404
        history = client.get("/v1/customers/C1/history", headers=bearer(auditor)).json()["events"]
        assert history[0]["payload"]["name"] == ERASED and history[-1]["type"] == "customer.erased"
        assert history[-1]["payload"]["by"].startswith("test-admin (") and history[-1]["payload"]["reason"] == "RQ-88"
        assert client.get("/v1/customers/C1/verify", headers=bearer(auditor)).json()["intact"] is True
    assert [value for value in SECRETS if value in _raw_database_text(hub)] == []
