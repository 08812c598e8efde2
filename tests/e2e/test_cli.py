"""The `contacthub` command, run as a user would (click's runner, real databases)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from contacthub.adapters.cli import main
from contacthub.bootstrap import build
from contacthub.config import Settings
from contacthub.projections.base import projection_digest
from helpers import complaint_opened, registered


def run(database_url: str, *args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning", **env}
    )
    return result.exit_code, result.stdout, result.stderr


def test_demo_loads_once_and_a_second_run_stores_nothing_new(database_url: str) -> None:
    end = "2026-11-20T18:00:00+08:00"
    code, out, _ = run(database_url, "demo", "--customers", "40", "--months", "2", "--end", end)
    assert code == 0, out
    assert "events recorded, 0 already stored" in out
    recorded = int(out.split("demo loaded: ")[1].split(" events")[0])
    assert recorded > 40 * 5

    code, out, _ = run(database_url, "demo", "--customers", "40", "--months", "2", "--end", end)
    assert code == 0
    assert f"demo loaded: 0 events recorded, {recorded} already stored" in out
    # Without --end (a history ending now) a database that holds the demo is left as it is
    code, out, _ = run(database_url, "demo", "--customers", "40", "--months", "2")
    assert (code, out.splitlines()[0]) == (0, "demo already loaded in this database: nothing recorded (start from an "
                                                "empty database for a history ending now, or give the first load's "
                                                "--end to load it again)")

    hub = build(Settings(database_url=database_url))
    try:
        assert hub.event_log.head_position() >= recorded
        assert hub.projector.caught_up_to() == hub.event_log.head_position()  # demo leaves the views current
        assert hub.customers.customer_360("C000001") is not None
    finally:
        hub.close()


def test_rebuild_reproduces_the_read_models(database_url: str) -> None:
    assert run(database_url, "demo", "--customers", "30", "--months", "2")[0] == 0
    hub = build(Settings(database_url=database_url))
    before = {p.name: projection_digest(hub.event_log.read_store, p) for p in hub.projector.projections}
    hub.close()

    code, out, _ = run(database_url, "rebuild")

    assert code == 0, out
    assert "rebuilt 4 read model(s)" in out
    hub = build(Settings(database_url=database_url))
    try:
        assert {p.name: projection_digest(hub.event_log.read_store, p) for p in hub.projector.projections} == before
    finally:
        hub.close()


def test_migrate_is_idempotent(database_url: str) -> None:
    for _ in range(2):
        code, out, _ = run(database_url, "migrate")
        assert code == 0
        assert "schema is current" in out


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CONTACTHUB_DATABASE_URL": "mysql://nowhere/db"}, "CONTACTHUB_DATABASE_URL must start with"),
        ({"CONTACTHUB_DATABASE_URL": "sqlite:////no/such/folder/x.db"}, "does not exist"),
        ({"CONTACTHUB_TIMEZONE": "Mars/Olympus"}, "not a known time zone"),
        ({"CONTACTHUB_READ_WAIT_TIMEOUT_S": "soon"}, "is not a valid float"),
        ({"CONTACTHUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}, "cannot open the database"),
        ({"CONTACTHUB_SLA_POLICY": "/no/such/policy.toml"}, "CONTACTHUB_SLA_POLICY='/no/such/policy.toml'"),
        ({"CONTACTHUB_SLA_WATCH_INTERVAL_S": "-1"}, "CONTACTHUB_SLA_WATCH_INTERVAL_S must be 0"),
        ({"CONTACTHUB_DATABASE_URL": "postgresql://postgres@h1:5432,h2:x/db"}, "not a number between 1 and 65535"),
        ({"CONTACTHUB_READ_DATABASE_URL": "sqlite:///standby.db"}, "CONTACTHUB_READ_DATABASE_URL must be empty or start"),
        ({"CONTACTHUB_READ_DATABASE_URL": "postgresql://127.0.0.1/db"}, "need CONTACTHUB_DATABASE_URL on PostgreSQL"),
    ],
)
def test_bad_configuration_ends_with_one_readable_line(env: dict[str, str], expected: str, tmp_path: object) -> None:
    result = CliRunner().invoke(main, ["migrate"], env={"CONTACTHUB_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", **env})
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("contacthub: ")
    assert expected in lines[0]


def test_sla_watch_once_records_what_is_due_and_a_second_pass_records_nothing(database_url: str) -> None:
    hub = build(Settings(database_url=database_url))
    try:
        # An open complaint opened long ago: its warning and breach are both due now
        hub.ingest.ingest([registered("C1"), complaint_opened("K1", {"customer_id": "C1"})])
    finally:
        hub.close()

    code, out, _ = run(database_url, "sla-watch", "--once")
    assert code == 0, out
    assert out.strip() == "sla watch: 2 warning(s), 2 breach(es) recorded"  # first response and resolution

    code, out, _ = run(database_url, "sla-watch", "--once")
    assert (code, out.strip()) == (0, "sla watch: 0 warning(s), 0 breach(es) recorded")


def test_the_demo_history_ends_near_the_day_it_is_loaded(database_url: str) -> None:
    from datetime import datetime, timedelta, timezone

    assert run(database_url, "demo", "--customers", "20", "--months", "1")[0] == 0
    hub = build(Settings(database_url=database_url))
    try:
        latest = hub.event_log.read_store.query_one("SELECT MAX(occurred_at) AS m FROM rm_contact")
        assert latest is not None
        age = datetime.now(timezone.utc) - datetime.fromisoformat(latest["m"])
        assert timedelta(0) <= age < timedelta(days=2), age
    finally:
        hub.close()
