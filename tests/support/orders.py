"""Orders on a ContactHub, for the jeopardy tests (tests/integration/test_jeopardy_watcher.py, tests/e2e/test_jeopardy.py).

Times are days after START, the `clock` fixture's start (Monday 2026-11-02 09:00, Shanghai).
Events go straight to the hub's ingest service; `watch` runs one jeopardy pass on current read models.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from contacthub.bootstrap import ContactHub
from helpers import contact, event, registered

START = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the `clock` fixture's start


def at(days: float) -> str:
    return (START + timedelta(days=days)).isoformat()


def moment(days: float) -> datetime:
    return START + timedelta(days=days)


def who(customer_id: str) -> dict[str, str]:
    return {"customer_id": customer_id}


def setup_customers(hub: ContactHub, *customer_ids: str) -> None:
    hub.ingest.ingest(
        [registered(c, msisdns=(f"1380013800{n}",), occurred_at=at(-30)) for n, c in enumerate(customer_ids)]
    )


def place(hub: ContactHub, order_id: str, days: float = 0, customer_id: str = "C1", services: tuple[str, ...] = ("broadband",)) -> None:
    hub.ingest.ingest([event("order.placed", who(customer_id), order_id=order_id, services=list(services), occurred_at=at(days))])


def activate(hub: ContactHub, order_id: str, service: str, days: float, customer_id: str = "C1") -> None:
    hub.ingest.ingest([event("service.activated", who(customer_id), order_id=order_id, service=service, occurred_at=at(days))])


def call(hub: ContactHub, days: float, customer_id: str = "C1", **extra: Any) -> None:
    fields = {"channel": "hotline", "direction": "inbound", "occurred_at": at(days), **extra}
    hub.ingest.ingest([contact(who(customer_id), **fields)])


def watch(hub: ContactHub) -> int:
    """One jeopardy pass on current read models: how many orders it flagged. It proposes nothing the customer refuses."""
    hub.projector.catch_up()
    outcome = hub.jeopardy_watcher.run_once()
    assert outcome.refused == 0
    return outcome.flagged


def journey(hub: ContactHub, order_id: str) -> dict[str, Any]:
    hub.projector.catch_up()
    found = hub.journeys.order_journey(order_id)
    assert found is not None
    return found


def stored_jeopardies(hub: ContactHub) -> list[dict[str, Any]]:
    """Every order.jeopardy in the log, with its stream."""
    return [
        {**orjson.loads(n.state), "customer": n.originator_id}
        for n in hub.event_log.read_notifications(0, 100_000)
        if n.topic == "order.jeopardy"
    ]
