"""Linking a duplicate complaint to its primary (issue 20): the duplicate stops its clocks, follows the
primary's resolution in the same decision, and counts once in the metrics. Both backends."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from contacthub.bootstrap import ContactHub
from contacthub.projections.complaint_queries import QueueFilter
from contacthub.projections.metrics_queries import MetricsFilter
from contacthub.services.ingest import IngestRejected
from helpers import complaint_opened, registered
from support.clock import ManualClock


def open_both(hub: ContactHub, clock: ManualClock) -> None:
    """The same billing issue lodged on the hotline (K1) and an hour later in a store (K2)."""
    hub.ingest.ingest([
        registered("C1", tier="gold", occurred_at=(clock.now - timedelta(days=30)).isoformat()),
        complaint_opened("K1", {"customer_id": "C1"}, severity="high", occurred_at=clock.now.isoformat(), channel="hotline"),
        complaint_opened("K2", {"customer_id": "C1"}, severity="high", channel="store", handled_by="store-0571-03",
                         occurred_at=(clock.now + timedelta(hours=1)).isoformat()),
    ])
    clock.advance(hours=2)


def act(hub: ContactHub, complaint_id: str, **body: Any) -> None:
    hub.complaint_actions.take(complaint_id, {"by": "store-0571-03", "channel": "store", **body})


def seen(hub: ContactHub, complaint_id: str) -> dict[str, Any]:
    hub.projector.catch_up()
    found = hub.complaints.complaint(complaint_id)
    assert found is not None
    return found


def test_a_duplicate_follows_its_primarys_resolution_and_counts_once(clocked_hub: ContactHub, clock: ManualClock) -> None:
    open_both(clocked_hub, clock)
    act(clocked_hub, "K2", action="link", primary_id="K1", reason="客户到厅反映同一扣费问题")

    k2 = seen(clocked_hub, "K2")
    assert (k2["linked_to"], k2["status"], k2["sla"]["stopped_at"]) == ("K1", "acknowledged", clock.now.isoformat())
    assert k2["history"][-1]["details"]["primary_id"] == "K1"
    assert seen(clocked_hub, "K1")["duplicates"] == ["K2"]
    queue, total = clocked_hub.complaints.queue(_open(), 1, 20)
    assert ([c["complaint_id"] for c in queue], total) == (["K1"], 1)  # the work is done once, on the primary
    figures = clocked_hub.metrics.complaints(_month())["totals"]
    assert (figures["complaints"], figures["open"]) == (1, 1)

    clock.advance(hours=9)  # past both deadlines: only the primary breaches
    clocked_hub.projector.catch_up()
    clocked_hub.sla_watcher.run_once()
    assert seen(clocked_hub, "K1")["sla"]["breach_recorded"] and not seen(clocked_hub, "K2")["sla"]["breach_recorded"]

    act(clocked_hub, "K1", action="resolve", resolution="已退还多扣的 30 元")
    k2 = seen(clocked_hub, "K2")
    last = k2["history"][-1]
    assert (k2["status"], k2["resolution"]) == ("resolved", "resolved with K1: 已退还多扣的 30 元")
    assert (last["type"], last["by"], last["at"]) == ("complaint.resolved", "contacthub", clock.now.isoformat())
    assert last["event_id"].startswith("linked-")


def test_linking_to_a_primary_already_resolved_resolves_the_duplicate_at_once(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_both(clocked_hub, clock)
    act(clocked_hub, "K1", action="resolve", resolution="已处理")
    act(clocked_hub, "K2", action="link", primary_id="K1")
    assert seen(clocked_hub, "K2")["status"] == "resolved"


@pytest.mark.parametrize(
    ("prepare", "complaint_id", "primary_id", "message"),
    [
        ([], "K2", "K9", "complaint K9 is not known for customer C1"),
        ([], "K2", "K2", "a complaint cannot duplicate itself"),
        ([("K2", {"action": "link", "primary_id": "K1"})], "K2", "K1", "complaint K2 is already linked to K1"),
        ([("K2", {"action": "link", "primary_id": "K1"})], "K1", "K2", "complaint K1 is the primary of K2"),
        ([("K1", {"action": "cancel", "reason": "客户撤诉"})], "K2", "K1", "complaint K1 is cancelled"),
    ],
)
def test_a_link_that_would_make_no_sense_is_refused_naming_the_primary(
    clocked_hub: ContactHub, clock: ManualClock, prepare: list[tuple[str, dict[str, Any]]], complaint_id: str,
    primary_id: str, message: str,
) -> None:
    open_both(clocked_hub, clock)
    for target, body in prepare:
        act(clocked_hub, target, **body)
    before = clocked_hub.event_log.head_position()
    with pytest.raises(IngestRejected) as refused:
        act(clocked_hub, complaint_id, action="link", primary_id=primary_id)
    assert refused.value.status_code == 409
    assert [(e.field, message in e.message) for e in refused.value.errors] == [("primary_id", True)]
    assert clocked_hub.event_log.head_position() == before


def test_rebuilt_read_models_equal_the_ones_kept_as_links_came(clocked_hub: ContactHub, clock: ManualClock) -> None:
    open_both(clocked_hub, clock)
    act(clocked_hub, "K2", action="link", primary_id="K1")
    act(clocked_hub, "K1", action="resolve", resolution="已处理")
    clocked_hub.projector.catch_up()
    store = clocked_hub.event_log.read_store
    kept = store.query("SELECT * FROM rm_complaint ORDER BY complaint_id")
    clocked_hub.projector.reset(partitions=1)
    clocked_hub.projector.catch_up()
    assert store.query("SELECT * FROM rm_complaint ORDER BY complaint_id") == kept


def _open() -> QueueFilter:
    return QueueFilter(statuses=("open",))


def _month() -> MetricsFilter:
    return MetricsFilter(first_day=date(2026, 11, 1), last_day=date(2026, 11, 30))


def test_a_duplicate_follows_its_primarys_cancellation_and_cannot_be_reopened_on_its_own(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_both(clocked_hub, clock)
    act(clocked_hub, "K2", action="link", primary_id="K1")
    assert seen(clocked_hub, "K2")["follow_up"] is None  # the primary's call to make
    act(clocked_hub, "K1", action="cancel", reason="客户撤诉")
    k2 = seen(clocked_hub, "K2")
    assert (k2["status"], k2["history"][-1]["by"], k2["history"][-1]["reason"]) == (
        "cancelled", "contacthub", "cancelled with K1: 客户撤诉")


def test_a_resolved_duplicate_is_reopened_through_its_primary(clocked_hub: ContactHub, clock: ManualClock) -> None:
    open_both(clocked_hub, clock)
    act(clocked_hub, "K2", action="link", primary_id="K1")
    act(clocked_hub, "K1", action="resolve", resolution="已处理")
    with pytest.raises(IngestRejected) as refused:
        act(clocked_hub, "K2", action="reopen", reason="又扣费")
    assert "reopen K1 instead" in refused.value.errors[0].message


def test_a_primarys_back_dated_resolution_never_dates_the_duplicates_before_its_link(
    clocked_hub: ContactHub, clock: ManualClock
) -> None:
    open_both(clocked_hub, clock)
    act(clocked_hub, "K2", action="link", primary_id="K1")
    linked_at = clock.now
    clock.advance(hours=1)
    # The hotline's system delivers K1's resolution late, dated before the link
    clocked_hub.ingest.ingest([{"type": "complaint.resolved", "event_id": "hl-res-1", "customer_id": "C1",
                                "complaint_id": "K1", "occurred_at": (linked_at - timedelta(minutes=30)).isoformat(),
                                "by": "agent-7", "channel": "hotline", "resolution": "已退费"}])
    k2 = seen(clocked_hub, "K2")
    assert (k2["status"], k2["resolved_at"]) == ("resolved", linked_at.isoformat())
