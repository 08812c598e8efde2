"""The reports that add up in SQL give what the domain's definitions give. Both backends.

* Value as of a day (GET /v1/metrics/value?to=): each customer counts with the tier and the
  ARPU in force at the end of that day, whatever order the tier changes arrived in (ties
  at one instant included) — checked against a direct computation from the events, both
  as the projection keeps `rm_tier_history` and as migration 0007 fills it for rows stored
  before it existed.
* The at-risk list evaluates the churn rule book in SQL: for any evidence, the number of
  rules SQL counts as firing and which ones equals domain/churn_risk.py's verdict.
"""

from __future__ import annotations

import math
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.adapters.store.database import parse_database_url
from contacthub.adapters.store.eventlog import CustomerLog
from contacthub.adapters.store.migrations import migrate, migrations_dir
from contacthub.bootstrap import build
from contacthub.config import Settings
from contacthub.domain.churn_risk import EVIDENCE_COUNTS, RULE_NAMES, RiskEvidence, RiskRules, risk_flags, rule_book
from contacthub.projections.base import utc_text
from contacthub.projections.metrics_queries import MetricsFilter, MetricsQueries
from contacthub.projections.risk_queries import _fires
from support.databases import fresh_database_url

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIERS = ("diamond", "gold", "silver", "vip", "ordinary")
PROPERTY = settings(
    max_examples=12, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def tier_histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Registrations, then tier changes on a few instants (so several share one), some customers changed often."""
    events: list[dict[str, Any]] = []
    for c in range(draw(st.integers(1, 4))):
        customer = f"C{c}"
        events.append({
            "event_id": f"reg-{c}", "type": "customer.registered", "customer_id": customer,
            "msisdns": [f"1390000000{c}"], "name": "客户", "segment": "individual", "tier": draw(st.sampled_from(TIERS)),
            # a registration can be dated after tier changes delivered later (its tier has no ARPU)
            "occurred_at": f"2026-09-{draw(st.integers(1, 3)):02d}T{draw(st.sampled_from((0, 12))):02d}:00:00+08:00",
        })
        for k in range(draw(st.integers(0, 4))):
            day, hour = draw(st.integers(1, 6)), draw(st.sampled_from((0, 12)))
            events.append({
                # the prefix varies which of two changes at one instant sorts last
                "event_id": f"t{draw(st.integers(10, 99))}-{c}-{k}", "type": "customer.tier_changed",
                "customer_id": customer, "tier": draw(st.sampled_from(TIERS)),
                "arpu": draw(st.sampled_from((10.0, 25.5, 80.0, 150.25, 300.0))),
                "occurred_at": f"2026-09-{day:02d}T{hour:02d}:00:00+08:00",
            })
    return events


def expected_value(events: list[dict[str, Any]], end: datetime) -> dict[str, Any]:
    """Straight from the events: the last tier and last stated ARPU before `end`, per customer."""
    state: dict[str, dict[str, Any]] = {}
    known = [e for e in events if datetime.fromisoformat(e["occurred_at"]) < end]
    for e in sorted(known, key=lambda e: (datetime.fromisoformat(e["occurred_at"]), e["event_id"])):
        now = state.setdefault(e["customer_id"], {"arpu": None})
        now["tier"] = e["tier"]
        if e.get("arpu") is not None:
            now["arpu"] = e["arpu"]
    priced = sorted((s["arpu"] for s in state.values() if s["arpu"] is not None), reverse=True)
    top_n = math.ceil(0.2 * len(priced))
    by_tier: dict[str, list[Any]] = {}
    for s in state.values():
        by_tier.setdefault(s["tier"], []).append(s["arpu"])
    return {
        "customers": len(state),
        "customers_with_arpu": len(priced),
        "arpu_total": round(sum(priced), 2),
        "top": (top_n, round(sum(priced[:top_n]), 2)),
        "by_tier": {
            t: (len(v), sum(1 for a in v if a is not None), round(sum(a for a in v if a is not None), 2))
            for t, v in by_tier.items()
        },
    }


def answered_value(queries: MetricsQueries, day: date | None) -> dict[str, Any]:
    f = MetricsFilter(first_day=day or date(2026, 12, 31), last_day=day or date(2026, 12, 31))
    body = queries.value(f, as_of_today=day is None)
    return {
        "customers": body["customers"],
        "customers_with_arpu": body["customers_with_arpu"],
        "arpu_total": body["arpu_total"],
        "top": (body["concentration"]["top_customers"], body["concentration"]["top_arpu"]),
        "by_tier": {t["tier"]: (t["customers"], t["customers_with_arpu"], t["arpu_total"]) for t in body["by_tier"]},
    }


def check_every_day(queries: MetricsQueries, events: list[dict[str, Any]]) -> None:
    for offset in range(0, 8):
        day = date(2026, 8, 31) + timedelta(days=offset)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI)
        assert answered_value(queries, day) == expected_value(events, end), day
    assert answered_value(queries, None) == expected_value(events, datetime(2027, 1, 1, tzinfo=SHANGHAI))


@PROPERTY
@given(data=st.data())
def test_value_as_of_any_day_whatever_order_tier_changes_arrive_in(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    events = data.draw(tier_histories(), label="history")
    registrations = [e for e in events if e["type"] == "customer.registered"]
    changes = data.draw(st.permutations([e for e in events if e["type"] != "customer.registered"]), label="delivery")
    cut = data.draw(st.integers(0, len(changes)), label="first batch")
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), sla_watch_interval_s=0))
    try:
        for batch in (registrations, changes[:cut], changes[cut:]):
            if batch:
                assert {r.status for r in hub.ingest.ingest(batch).results} == {"recorded"}
                hub.projector.catch_up()  # each batch on its own: late changes meet stored history
        check_every_day(hub.metrics, events)
    finally:
        hub.close()


@PROPERTY
@given(events=tier_histories())
def test_migration_0007_fills_the_value_columns_of_rows_stored_before_it(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]
) -> None:
    before_0007 = tmp_path_factory.mktemp("migrations")
    for path in sorted(migrations_dir().glob("000[1-6]_*.sql")):
        shutil.copy(path, before_0007)
    log = CustomerLog(parse_database_url(fresh_database_url(backend, request, tmp_path_factory)))
    try:
        migrate(log.read_store, Path(before_0007))
        with log.read_store.transaction(commit=True) as sql:
            sql.executemany(
                "INSERT INTO rm_tier_history (customer_id, effective_at, event_id, tier, arpu) VALUES (?, ?, ?, ?, ?)",
                [(e["customer_id"], utc_text(datetime.fromisoformat(e["occurred_at"])), e["event_id"], e["tier"],
                  e.get("arpu")) for e in events],
            )
        assert migrate(log.read_store)[0] == "0007_value_as_of.sql"
        queries = MetricsQueries(log.read_store, SHANGHAI)
        for offset in range(0, 8):
            day = date(2026, 8, 31) + timedelta(days=offset)
            end = datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI)
            assert answered_value(queries, day) == expected_value(events, end), day
    finally:
        log.close()


evidence = st.builds(
    RiskEvidence, tier=st.sampled_from(TIERS),
    **{name: st.integers(0, 6) for name in EVIDENCE_COUNTS},  # type: ignore[arg-type]
)


@PROPERTY
@given(cases=st.lists(evidence, min_size=1, max_size=20), rules=st.builds(
    RiskRules, complaints=st.integers(1, 4), unresolved_contacts=st.integers(1, 5), service_calls=st.integers(1, 5)
))
def test_the_rule_book_in_sql_fires_exactly_the_domain_rules(
    database_url: str, cases: list[RiskEvidence], rules: RiskRules
) -> None:
    log = CustomerLog(parse_database_url(database_url))
    try:
        book = rule_book(rules)
        columns = ", ".join(f"CASE WHEN {_fires(r)} THEN 1 ELSE 0 END AS {r.name}" for r in book)
        for case in cases:
            names = ("tier", *EVIDENCE_COUNTS)
            given_row = ", ".join(f"? AS {n}" if n == "tier" else f"CAST(? AS BIGINT) AS {n}" for n in names)
            row = log.read_store.query_one(
                f"SELECT {columns} FROM (SELECT {given_row}) AS evidence", [getattr(case, n) for n in names]
            )
            assert row is not None
            fired_in_sql = [name for name in RULE_NAMES if int(row[name]) == 1]
            assert fired_in_sql == [f.rule for f in risk_flags(case, rules)], case
    finally:
        log.close()
