"""`contacthub audit projections`: the live read models against a rebuild of the log, on the same backend."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.adapters.cli import main
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from helpers import complaint_opened, contact, event, registered
from histories import batch_splits, histories
from support.databases import fresh_database_url


def run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning"}
    )
    return result.exit_code, result.stdout, result.stderr


def _story(hub: ContactHub) -> int:
    hub.ingest.ingest([
        registered("C1", ("13800138001",)), contact({"customer_id": "C1"}),
        complaint_opened("K1", {"customer_id": "C1"}), event("complaint.acknowledged", complaint_id="K1"),
        event("order.placed", order_id="O1", services=["mobile", "broadband"]),
    ])
    hub.projector.catch_up()
    return hub.event_log.head_position()


def test_live_read_models_match_a_rebuild_and_an_edited_one_is_named(hub: ContactHub) -> None:
    position = _story(hub)
    code, out, err = run_cli(hub.settings.database_url, "audit", "projections")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-1] == "all 4 read models match a rebuild of the log"
    assert [line.split()[0] for line in lines[:-1]] == [p.name for p in hub.projector.projections]

    with hub.event_log.read_store.transaction(commit=True) as sql:
        sql.execute("UPDATE rm_complaint SET status = 'closed' WHERE complaint_id = 'K1'")
    code, out, err = run_cli(hub.settings.database_url, "audit", "projections")
    assert code == 1
    assert [line for line in out.splitlines() if "differs" in line] == [
        f"{'complaint_view.v2':<20} position {position:>10}  differs in rm_complaint"
    ]
    assert err.strip().splitlines()[-1] == "contacthub: 1 read models differ from a rebuild of the log: run `contacthub rebuild`"
    # The scratch area is gone afterwards, and the live read models were not touched by the check.
    assert hub.customers.complaints.complaint("K1")["status"] == "closed"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_read_models_caught_up_batch_by_batch_equal_the_rebuild(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    events = data.draw(histories(max_customers=2, max_events=25), label="history")
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), sla_watch_interval_s=0))
    try:
        for batch in data.draw(batch_splits(events), label="batches"):
            hub.ingest.ingest(batch)
            hub.projector.run_once()
        hub.projector.catch_up()
        comparisons = hub.audit.compare_read_models()
        assert [c.differing_tables for c in comparisons] == [[] for _ in comparisons]
        assert {c.position for c in comparisons} == {hub.event_log.head_position()}
    finally:
        hub.close()
