"""Merge then unmerge equals never merged (issue 18, part 4; docs/events.md §3.16), on both backends.

A random valid history is posted twice, into two fresh databases: once as it is, once with one of its
customers merged into another part-way through and unmerged later, so that part of the history is
posted while the records are merged. Afterwards every read model holds the same rows in both (log
positions and recording times aside: the second log holds the merge's four events more), and every
posted event is stored on the record it was posted to. While merged, either id reads the survivor's
unified view of both records.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacthub.bootstrap import build
from contacthub.config import Settings
from histories import histories
from support.databases import fresh_database_url

VOLATILE = {"position", "recorded_at"}
"""Columns that differ between the two logs by construction: where an event sits, when it was recorded."""


def _new_hub(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             hubs: ExitStack) -> Any:
    """A hub on a fresh database, closed when the example ends (three an example: keep few connections open)."""
    hub = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory)))
    hubs.callback(hub.close)
    return hub


def _read_models(hub: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every read model's rows, without the volatile columns, in a stable order."""
    found = {}
    with hub.event_log.read_store.transaction(commit=False) as sql:
        for projection in hub.projector.projections:
            for table, _key in projection.tables:
                rows = sql.execute(f"SELECT * FROM {table}").all()
                found[table] = sorted(
                    (tuple((k, repr(v)) for k, v in sorted(row.items()) if k not in VOLATILE) for row in rows), key=repr)
    return found


def _stored_on(hub: Any) -> dict[str, str]:
    return {row["event_id"]: row["customer_id"] for row in hub.event_log.read_store.query(
        "SELECT event_id, customer_id FROM ingest_keys") if not row["event_id"].startswith("identity-")}


def _identity(kind: str, duplicate: str, survivor: str, at: str) -> dict[str, Any]:
    return {"event_id": f"{kind}-{duplicate}", "type": f"customer.{kind}", "occurred_at": at,
            "customer_id": duplicate, "survivor_id": survivor}


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_merge_then_unmerge_equals_never_merged(backend: str, request: pytest.FixtureRequest,
                                                tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    events = data.draw(histories(max_customers=4, max_events=40, unknown_callers=False))
    registered = [i for i, e in enumerate(events) if e["type"] == "customer.registered"]
    if len(registered) < 2:
        return  # nobody to merge
    start = data.draw(st.integers(registered[1] + 1, len(events)), label="merged from")
    stop = data.draw(st.integers(start, len(events)), label="unmerged at")
    customers = [events[i]["customer_id"] for i in registered if i < start]
    duplicate, survivor = data.draw(st.permutations(customers), label="who").__getitem__(slice(0, 2))
    before, during, after = events[:start], events[start:stop], events[stop:]
    with ExitStack() as hubs:
        _merged_and_unmerged(before, during, after, duplicate, survivor,
                             lambda: _new_hub(backend, request, tmp_path_factory, hubs))


def _merged_and_unmerged(before: list[dict[str, Any]], during: list[dict[str, Any]], after: list[dict[str, Any]],
                         duplicate: str, survivor: str, new_hub: Any) -> None:

    never = new_hub()
    for part in (before, during, after):
        if part:
            never.ingest.ingest(part)
    never.projector.catch_up()

    merged = new_hub()
    if before:
        merged.ingest.ingest(before)
    merged.ingest.ingest([_identity("merged", duplicate, survivor, "2026-09-15T09:00:00+08:00")])
    if during:
        merged.ingest.ingest(during)
    merged.projector.catch_up()
    unified = merged.customers.customer_360(duplicate)
    alone = [never.customers.customer_360(c) for c in (survivor, duplicate)]
    assert unified is not None and unified["customer_id"] == survivor and unified["redirected_from"] == duplicate
    assert unified["merged_records"][0]["customer_id"] == duplicate
    never_during = new_hub()  # the same history up to here, never merged
    for part in (before, during):
        if part:
            never_during.ingest.ingest(part)
    never_during.projector.catch_up()
    alone = [never_during.customers.customer_360(c) for c in (survivor, duplicate)]
    assert unified["contact_count"] == sum(v["contact_count"] for v in alone if v is not None)
    assert sorted(c["complaint_id"] for c in unified["open_complaints"]) == sorted(
        c["complaint_id"] for v in alone if v is not None for c in v["open_complaints"])
    merged.ingest.ingest([_identity("unmerged", duplicate, survivor, "2026-10-15T09:00:00+08:00")])
    if after:
        merged.ingest.ingest(after)
    merged.projector.catch_up()

    assert _read_models(merged) == _read_models(never)
    assert {k: v for k, v in _stored_on(merged).items() if not k.startswith(("merged-", "unmerged-"))} == _stored_on(never)
    for customer_id in (survivor, duplicate):
        view = merged.customers.customer_360(customer_id)
        assert view is not None and view["customer_id"] == customer_id and view["merged_records"] == []
