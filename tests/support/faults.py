"""What the fault tests (test_faults.py, test_cluster.py) send and what they check the log holds afterwards:
channels' batches, the ledger of sent / acknowledged / stored / doubled / lost, and the log's
and read models' integrity."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import ID_SCOPE_SEPARATOR

T0 = "2026-11-02T09:00:00+08:00"


# --- what the channels send ---------------------------------------------------------------


def registrations(run: str, customers: list[str]) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{run}-reg-{c}", "type": "customer.registered", "occurred_at": T0, "customer_id": c,
         "name": f"客户{c}", "segment": "individual", "tier": "silver", "msisdns": [msisdn(c)]}
        for c in customers
    ]


def msisdn(customer_id: str) -> str:
    """The customer's number: from the number in its id, so ids within a test need distinct numbers."""
    return f"139{int(customer_id.rsplit('-', 1)[1]):08d}"


def hotline_calls(run: str, batch: int, customers: list[str], size: int, rng: random.Random) -> list[dict[str, Any]]:
    calls = []
    for i in range(size):
        customer = rng.choice(customers)
        calls.append({
            "event_id": f"{run}-call-{batch}-{i}", "type": "contact.logged",
            "occurred_at": f"2026-11-{3 + batch % 20:02d}T{8 + i % 12:02d}:{i % 60:02d}:00+08:00",
            "msisdn": msisdn(customer), "channel": "hotline", "direction": "inbound", "reason": "billing_query",
            "handled_by": f"agent-{i % 7}", "duration_s": 60 + i, "outcome": "resolved",
        })
    return calls


# --- what the log must hold afterwards ----------------------------------------------------------


def stored_event_ids(hub: ContactHub) -> Counter[str]:
    """Every event in the log, by event_id as posted, read through the notification log (what projectors see).

    Stored ids are scoped by the posting channel (`hotline/<id>`); the ids these tests send are
    unique across their channels, so the part after the scope is the id as posted."""
    seen: Counter[str] = Counter()
    after = 0
    while True:
        notifications = hub.event_log.read_notifications(after, 5000)
        if not notifications:
            return seen
        seen.update(_as_posted(e) for e in hub.event_log.decode(notifications))
        after = notifications[-1].id


def _as_posted(event: Any) -> str:
    event_id = getattr(event, "event_id", None)
    return event_id.split(ID_SCOPE_SEPARATOR, 1)[-1] if event_id else f"<internal {type(event).__name__}>"


def ledger(sent: set[str], acknowledged: set[str], stored: Counter[str]) -> dict[str, int]:
    """The reliability table's columns: events sent, acknowledged, stored, doubled, and acknowledged but lost."""
    return {
        "sent": len(sent),
        "acknowledged": len(acknowledged),
        "stored": sum(stored.values()),
        "doubled": sum(n - 1 for n in stored.values() if n > 1),
        "lost": len(acknowledged - set(stored)),
    }


def assert_versions_without_gaps(hub: ContactHub, customers: list[str]) -> dict[str, int]:
    counts = {}
    for customer in customers:
        versions = [event.originator_version for event in hub.event_log.customer_events(customer)]
        assert versions == list(range(1, len(versions) + 1)), f"{customer}: versions {versions}"
        counts[customer] = len(versions)
    return counts


def assert_read_models_equal_a_rebuild(hub: ContactHub) -> None:
    comparisons = hub.audit.compare_read_models()
    head = hub.event_log.head_position()
    assert {c.name: c.position for c in comparisons} == {c.name: head for c in comparisons}
    assert {c.name: c.differing_tables for c in comparisons} == {c.name: [] for c in comparisons}


def wait_for_read_models(hub: ContactHub, timeout: float = 60.0) -> None:
    head = hub.event_log.head_position()
    deadline = time.monotonic() + timeout
    while min(hub.projector.positions().values()) < head:
        assert time.monotonic() < deadline, f"read models at {hub.projector.positions()}, log head {head}"
        time.sleep(0.1)
