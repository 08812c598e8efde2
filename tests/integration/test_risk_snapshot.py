"""The at-risk list "now" from the risk watcher's snapshot (rm_risk_now): the same answer as the live count. Both backends.

* For a random population, for every filter (tier, rule) and page, the snapshot answers
  exactly what the live count answers for the snapshot's moment, and both list exactly the
  customers the domain's rule book flags (`for_customer`, domain/churn_risk.py).
* A missing, stale, differently judged or rebuilt-over snapshot, or one behind the
  `min_position` asked for, is not served: the live count answers, for now.
* New events show once the watcher counts again, not before (the answer then says its moment).

The watcher's own decisions without a database: tests/unit/test_risk_watch.py; over HTTP:
tests/e2e/test_at_risk_snapshot.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.churn_risk import RULE_NAMES, RiskRules
from contacthub.projections.risk_queries import RiskQueries
from helpers import contact, registered
from histories import histories
from support.clock import ManualClock
from support.databases import fresh_database_url

TIERS = ("diamond", "gold", "silver", "vip", "ordinary")
# The random histories run from 1 September 2026 for about a month: windows ending in it, and after it.
MOMENTS = (datetime(2026, 9, 20, tzinfo=timezone.utc), datetime(2026, 10, 3, 1, 0, tzinfo=timezone.utc),
           datetime(2026, 10, 12, tzinfo=timezone.utc))


@st.composite
def crowd(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to 14 more customers, each with a few contacts: many at risk, many with as many flags as another."""
    events: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 14))):
        customer = {"customer_id": f"P{n:02d}"}
        events.append(registered(customer["customer_id"], (f"1370000{n:04d}",), tier=draw(st.sampled_from(TIERS)),
                                 occurred_at="2026-08-01T09:00:00+08:00"))
        for _ in range(draw(st.integers(0, 12))):
            moment = datetime(2026, 9, 1, tzinfo=timezone.utc) + timedelta(hours=draw(st.integers(0, 30 * 24)))
            events.append(contact(customer, occurred_at=moment.isoformat(),
                                  channel=draw(st.sampled_from(("hotline", "hotline", "app", "store"))),
                                  handled_by=draw(st.sampled_from(("agent-7", "self-service"))),
                                  direction=draw(st.sampled_from(("inbound", "inbound", "outbound"))),
                                  outcome=draw(st.sampled_from(("resolved", "unresolved", "abandoned")))))
    return events


def _served(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without the snapshot's `position` (the live count does not say one: the endpoint adds it)."""
    return {k: v for k, v in answer.items() if k != "position"}


def _every_page(risk: RiskQueries, as_of: datetime | None, page_size: int, **filters: Any) -> list[dict[str, Any]]:
    pages = []
    page = 1
    while True:
        answer = risk.at_risk(as_of, page=page, page_size=page_size, **filters)
        pages.append(answer)
        if not answer["customers"]:
            return pages
        page += 1


@settings(
    max_examples=10, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_the_snapshot_answers_what_the_live_count_answers_for_its_moment(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    events = data.draw(histories(max_customers=6, max_events=70), label="population") + data.draw(crowd(), label="crowd")
    moment = data.draw(st.sampled_from(MOMENTS), label="now")
    clock = ManualClock(datetime(2026, 12, 1, tzinfo=timezone.utc))  # every event in the past as it is recorded
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), sla_watch_interval_s=0),
                clock=clock)
    try:
        assert {r.status for r in hub.ingest.ingest(events).results} == {"recorded"}
        hub.projector.catch_up()
        clock.set(moment)
        refreshed = hub.risk_watcher.run_once()
        assert refreshed.refreshed and refreshed.as_of == moment
        risk = hub.customers.risk
        clock.advance(seconds=data.draw(st.integers(0, 90), label="age"))  # fresh: at most twice 60 s old

        # The domain's verdict, customer by customer, for the snapshot's moment.
        customers = sorted({e["customer_id"] for e in events if e["type"] == "customer.registered"})
        verdicts = {c: hub.customers.risk.for_customer(c, moment) for c in customers}
        flagged = {c: v["flags"] for c, v in verdicts.items() if v["at_risk"]}
        listed = risk.at_risk(page_size=500)
        assert listed["position"] == refreshed.position  # served from the snapshot
        assert {c["customer_id"]: c["flags"] for c in listed["customers"]} == flagged
        assert listed["total"] == len(flagged)

        for tier in (None, *TIERS):
            for rule in (None, *RULE_NAMES):
                snapshot = _every_page(risk, None, 2, tier=tier, rule=rule)
                live = _every_page(risk, moment, 2, tier=tier, rule=rule)
                assert all(page["position"] == refreshed.position for page in snapshot)
                assert [_served(page) for page in snapshot] == live, (tier, rule)
    finally:
        hub.close()


# --- when the snapshot answers, and when the live count does --------------------------------


@pytest.fixture
def clocked(settings: Settings, clock: ManualClock) -> Iterator[ContactHub]:
    """The clocked ContactHub with C1 (gold) and C2 (ordinary), C1 at risk: four unresolved hotline calls."""
    hub = build(settings, clock=clock)
    try:
        hub.ingest.ingest([
            registered("C1", ("13800138000",), occurred_at="2026-09-01T09:00:00+08:00"),
            registered("C2", ("13900139000",), tier="ordinary", occurred_at="2026-09-01T09:00:00+08:00"),
            *(contact({"customer_id": "C1"}, occurred_at=f"2026-10-2{d}T10:00:00+08:00") for d in range(4)),
        ])
        hub.projector.catch_up()
        yield hub
    finally:
        hub.close()


def _ids(answer: dict[str, Any]) -> list[str]:
    return [c["customer_id"] for c in answer["customers"]]


def test_without_a_snapshot_the_live_count_answers_for_now(clocked: ContactHub, clock: ManualClock) -> None:
    answer = clocked.customers.risk.at_risk()
    assert "position" not in answer and _ids(answer) == ["C1"]
    assert answer["as_of"] == clock().isoformat()


def test_a_fresh_snapshot_answers_with_its_own_moment_and_position(clocked: ContactHub, clock: ManualClock) -> None:
    counted = clocked.risk_watcher.run_once()
    counted_at = clock()
    clock.advance(seconds=119)  # younger than twice CONTACTHUB_RISK_REFRESH_S (60 s)
    answer = clocked.customers.risk.at_risk()
    assert (answer["as_of"], answer["position"], _ids(answer)) == (counted_at.isoformat(), counted.position, ["C1"])
    assert clocked.customers.risk.at_risk(min_position=counted.position)["position"] == counted.position


def test_a_stale_snapshot_is_not_served(clocked: ContactHub, clock: ManualClock) -> None:
    clocked.risk_watcher.run_once()
    clock.advance(seconds=121)
    answer = clocked.customers.risk.at_risk()
    assert "position" not in answer and answer["as_of"] == clock().isoformat()
    # ... nor one dated after now (another machine's clock ahead of this one's).
    clocked.risk_watcher.run_once()
    clock.advance(seconds=-1)
    assert "position" not in clocked.customers.risk.at_risk()


def test_an_explicit_moment_is_always_counted_live(clocked: ContactHub, clock: ManualClock) -> None:
    clocked.risk_watcher.run_once()
    answer = clocked.customers.risk.at_risk(clock())
    assert "position" not in answer and _ids(answer) == ["C1"]
    assert clocked.customers.risk.at_risk(clock() + timedelta(days=40))["total"] == 0


def test_a_read_that_needs_a_later_position_gets_the_live_count(clocked: ContactHub, clock: ManualClock) -> None:
    counted = clocked.risk_watcher.run_once()
    position = clocked.ingest.ingest(
        [contact({"customer_id": "C2"}, occurred_at=f"2026-10-2{d}T11:00:00+08:00") for d in range(4)]
    ).position
    clocked.projector.catch_up()
    assert position > counted.position
    assert _ids(clocked.customers.risk.at_risk()) == ["C1"]  # the snapshot, as counted before
    answer = clocked.customers.risk.at_risk(min_position=position)
    assert "position" not in answer and _ids(answer) == ["C1", "C2"]


def test_a_snapshot_judged_by_another_rule_book_is_not_served(clocked: ContactHub) -> None:
    clocked.risk_watcher.run_once()
    other = RiskQueries(clocked.event_log.read_store, clocked.settings.zone, clocked.clock,
                        RiskRules(unresolved_contacts=5, service_calls=5))
    other.snapshot_use = clocked.customers.risk.snapshot_use
    assert other.basis != clocked.customers.risk.basis
    answer = other.at_risk()
    assert "position" not in answer and answer["total"] == 0  # four unresolved calls: not enough for this book


def test_a_rebuild_stops_the_snapshot_being_served_and_the_watcher_drops_it(clocked: ContactHub) -> None:
    counted = clocked.risk_watcher.run_once()
    # Nobody projects in this test: "current" is caught up with the log (the hub's own check waits for a projector).
    clocked.risk_watcher.read_models_current = lambda: clocked.projector.caught_up_to() >= clocked.event_log.head_position()
    clocked.projector.reset()  # as `contacthub rebuild` starts: the read models empty, at position 0
    answer = clocked.customers.risk.at_risk()
    assert "position" not in answer and answer["total"] == 0  # what the (empty) read models say
    skipped = clocked.risk_watcher.run_once()  # read models catching up: dropped, not counted again
    assert not skipped.refreshed and clocked.customers.risk.snapshot_head() is None
    clocked.projector.catch_up()
    again = clocked.risk_watcher.run_once()
    assert again.refreshed and again.position == counted.position
    assert clocked.customers.risk.at_risk()["position"] == again.position


def test_new_events_show_once_the_watcher_counts_again(clocked: ContactHub, clock: ManualClock) -> None:
    watcher = clocked.risk_watcher
    assert watcher.run_once().refreshed  # a process's first pass counts, whatever the snapshot's age
    clocked.ingest.ingest([contact({"customer_id": "C2"}, occurred_at=f"2026-10-2{d}T11:00:00+08:00")
                           for d in range(4)])
    clocked.projector.catch_up()
    clock.advance(seconds=59)
    assert not watcher.run_once().refreshed  # younger than CONTACTHUB_RISK_REFRESH_S
    assert _ids(clocked.customers.risk.at_risk()) == ["C1"]
    clock.advance(seconds=1)
    counted = watcher.run_once()
    assert counted.refreshed and counted.at_risk == 2
    answer = clocked.customers.risk.at_risk()
    assert (_ids(answer), answer["as_of"], answer["position"]) == (["C1", "C2"], clock().isoformat(), counted.position)
    # Thirty days after the calls, nobody is at risk any more: the next count says so.
    clock.advance(days=31)
    assert watcher.run_once().at_risk == 0
    assert clocked.customers.risk.at_risk()["customers"] == []


def test_a_later_snapshot_is_not_replaced_by_an_earlier_count(clocked: ContactHub, clock: ManualClock) -> None:
    risk = clocked.customers.risk
    position = clocked.projector.caught_up_to()
    assert risk.refresh_snapshot(clock(), position) == 1
    assert risk.refresh_snapshot(clock() - timedelta(seconds=5), position) is None  # a slower rival's count
    head = risk.snapshot_head()
    assert head is not None and head.as_of == clock()


def test_no_snapshot_when_the_refresh_is_off(database_url: str, clock: ManualClock) -> None:
    hub = build(Settings(database_url=database_url, sla_watch_interval_s=0, risk_refresh_s=0), clock=clock)
    try:
        assert hub.risk_watcher.run_once().reason == "off"
        assert hub.customers.risk.snapshot_use is None and hub.customers.risk.snapshot_head() is None
    finally:
        hub.close()
