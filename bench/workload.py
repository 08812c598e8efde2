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


SERVICES = ["mobile", "broadband", "iptv"]
CATEGORIES = ["billing", "network", "service", "installation"]
SEVERITIES = ["low", "medium", "medium", "high", "critical"]
TIERS = ["diamond", "gold", "silver", "vip", "ordinary"]


def journeys(customers: int, orders: int, complaints: int, batch_size: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """What the metrics read besides contacts: a tier change (with ARPU) per customer, orders
    with their activations (some left open or cancelled), complaints through pending,
    resolution and a follow-up call. September and October 2026, Shanghai time."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []

    def at(day: float) -> str:
        minutes = int(day * 1440)
        month, day_of = (9, minutes // 1440 + 1) if minutes < 30 * 1440 else (10, minutes // 1440 - 29)
        hour, minute = divmod(minutes % 1440, 60)
        return f"2026-{month:02d}-{min(day_of, 31):02d}T{hour:02d}:{minute:02d}:00+08:00"

    for n in range(customers):
        events.append({
            "event_id": f"bench-tier-{n}", "type": "customer.tier_changed", "occurred_at": at(rng.uniform(0, 60)),
            "customer_id": customer_id(n), "tier": TIERS[n % 5], "arpu": round(rng.lognormvariate(4.2, 0.8), 2),
        })
    for i in range(orders):
        who = {"customer_id": customer_id(rng.randrange(customers))}
        placed = rng.uniform(0, 45)
        order_id = f"BO{i:07d}"
        services = rng.sample(SERVICES, rng.randint(1, 3))
        events.append({"event_id": f"bench-order-{i}", "type": "order.placed", "occurred_at": at(placed), **who,
                       "order_id": order_id, "services": services})
        fate = rng.random()
        done = services if fate < 0.85 else services[: len(services) // 2]
        for k, service in enumerate(done):
            events.append({"event_id": f"bench-act-{i}-{k}", "type": "service.activated",
                           "occurred_at": at(placed + rng.uniform(0.1, 14)), **who, "order_id": order_id, "service": service})
        if fate > 0.95 and len(done) < len(services):
            events.append({"event_id": f"bench-cancel-{i}", "type": "order.cancelled", "occurred_at": at(placed + 14.5),
                           **who, "order_id": order_id, "reason": "客户取消"})
    for i in range(complaints):
        who = {"customer_id": customer_id(rng.randrange(customers))}
        opened = rng.uniform(0, 55)
        complaint_id = f"BK{i:07d}"
        step = {"by": f"agent-{i % 300}", "channel": "hotline", **who, "complaint_id": complaint_id}
        events.append({"event_id": f"bench-k-{i}", "type": "complaint.opened", "occurred_at": at(opened), **who,
                       "complaint_id": complaint_id, "category": CATEGORIES[i % 4], "severity": SEVERITIES[i % 5],
                       "summary": "基准测试投诉", "channel": CHANNELS[i % len(CHANNELS)], "handled_by": f"agent-{i % 300}"})
        t = opened
        if rng.random() < 0.2:
            t += rng.uniform(0.01, 0.5)
            events.append({"event_id": f"bench-kp-{i}", "type": "complaint.pended", "occurred_at": at(t), **step,
                           "reason": "等待客户回复"})
            t += rng.uniform(0.1, 2)
            events.append({"event_id": f"bench-kr-{i}", "type": "complaint.resumed", "occurred_at": at(t), **step})
        if rng.random() < 0.9:
            t += rng.uniform(0.02, 4)
            events.append({"event_id": f"bench-ks-{i}", "type": "complaint.resolved", "occurred_at": at(t), **step,
                           "resolution": "已处理"})
            if rng.random() < 0.7:
                events.append({"event_id": f"bench-kf-{i}", "type": "complaint.followed_up",
                               "occurred_at": at(t + 0.5), **step, "satisfaction": rng.randint(1, 5)})
    for start in range(0, len(events), batch_size):
        yield events[start : start + batch_size]


def ingest_population(hub: Any, customers: int, contact_events: int, prefix: str) -> int:
    """Registrations, contacts, then orders and complaints, through `hub.ingest` in batches
    of 1,000 (as bench/profile_projection.py and bench/load.py seed); returns the log head."""
    for batch in registrations(customers, 1000):
        hub.ingest.ingest(batch)
    for batch in contacts(prefix, contact_events, customers, 1000, 1):
        hub.ingest.ingest(batch)
    for batch in journeys(customers, customers * 3 // 10, customers // 5, 1000, 2):
        hub.ingest.ingest(batch)
    return int(hub.event_log.head_position())
