"""Small builders for test events, in the shape channels post them."""

from __future__ import annotations

import itertools
from typing import Any

T0 = "2026-11-02T09:00:00+08:00"
_ids = itertools.count(1)


def eid(prefix: str = "ev") -> str:
    return f"{prefix}-{next(_ids)}"


def registered(customer_id: str = "C1", msisdns: tuple[str, ...] = ("13800138000",), **extra: Any) -> dict[str, Any]:
    return {
        "event_id": eid("reg"), "type": "customer.registered", "occurred_at": T0, "customer_id": customer_id,
        "name": "王芳", "segment": "individual", "tier": "gold", "msisdns": list(msisdns), **extra,
    }


def contact(who: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": eid("contact"), "type": "contact.logged", "occurred_at": T0, **(who or {"msisdn": "13800138000"}),
        "channel": "hotline", "direction": "inbound", "reason": "billing_query", "handled_by": "agent-7",
        "duration_s": 180, "outcome": "unresolved", **extra,
    }


def complaint_opened(complaint_id: str = "K1", who: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": eid("complaint"), "type": "complaint.opened", "occurred_at": T0,
        **(who or {"msisdn": "13800138000"}), "complaint_id": complaint_id, "category": "billing",
        "severity": "high", "summary": "上月账单多扣 30 元", "channel": "hotline", "handled_by": "agent-7", **extra,
    }


def event(type_: str, who: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    if type_.startswith("complaint.") and type_ != "complaint.opened":
        fields = {"by": "agent-7", "channel": "hotline", **fields}  # every complaint step names who and where
    return {"event_id": eid(type_), "type": type_, "occurred_at": T0, **(who or {"customer_id": "C1"}), **fields}


def posted(client: Any, *events: Any) -> int:
    """Post one batch to POST /v1/events, expect it stored, and answer its log position."""
    response = client.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    return int(response.json()["position"])
