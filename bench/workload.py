"""The benchmark's synthetic workload: customers, then contact events spread across them.

Deterministic from a seed, and shared by the in-process ingest and the HTTP client, so
both measure the same kind of events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

CHANNELS = ["hotline"] * 5 + ["store", "app", "web", "sms", "technician"]
REASONS = ["billing_query", "network_fault", "plan_change", "activation_status", "broadband_slow"]
OUTCOMES = ["resolved"] * 3 + ["unresolved", "transferred"]


def customer_id(n: int) -> str:
    return f"B{n:07d}"


def msisdn(n: int) -> str:
    return f"139{n:08d}"


def registrations(customers: int, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for n in range(customers):
        batch.append(
            {
                "event_id": f"bench-reg-{n}",
                "type": "customer.registered",
                "occurred_at": "2026-09-01T09:00:00+08:00",
                "customer_id": customer_id(n),
                "name": "测试客户",
                "segment": "individual",
                "tier": ["diamond", "gold", "silver", "vip", "ordinary"][n % 5],
                "msisdns": [msisdn(n)],
            }
        )
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def contacts(prefix: str, count: int, customers: int, batch_size: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """Contact events for random customers; a third name the customer by msisdn, as channels do."""
    rng = random.Random(seed)
    batch: list[dict[str, Any]] = []
    for i in range(count):
        n = rng.randrange(customers)
        who = {"msisdn": msisdn(n)} if i % 3 == 0 else {"customer_id": customer_id(n)}
        day = 1 + i % 28
        batch.append(
            {
                "event_id": f"{prefix}-{i}",
                "type": "contact.logged",
                "occurred_at": f"2026-10-{day:02d}T{9 + i % 10:02d}:{i % 60:02d}:00+08:00",
                **who,
                "channel": CHANNELS[i % len(CHANNELS)],
                "direction": "inbound",
                "reason": REASONS[i % len(REASONS)],
                "handled_by": f"agent-{i % 300}",
                "duration_s": 30 + i % 900,
                "outcome": OUTCOMES[i % len(OUTCOMES)],
            }
        )
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
