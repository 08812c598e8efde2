"""`GET /v1/customers/at-risk` answered from the risk watcher's snapshot: the documented shape, its own moment
and position, and the live count whenever the read asks for a position the snapshot has not counted. Both backends.

The snapshot against the live count on random populations: tests/integration/test_risk_snapshot.py.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from contacthub.adapters.api.metrics import AtRiskOut
from contacthub.bootstrap import ContactHub
from helpers import contact, registered
from support.clock import ManualClock


def calls(customer_id: str, hour: int) -> list[dict[str, Any]]:
    """Four unresolved inbound hotline calls in October: two rules fire."""
    return [contact({"customer_id": customer_id}, occurred_at=f"2026-10-2{d}T{hour:02d}:00:00+08:00") for d in range(4)]


def read(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/customers/at-risk", params=params)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    AtRiskOut.model_validate(body)
    assert set(body) == set(AtRiskOut.model_fields)
    return body


def test_the_list_comes_from_the_snapshot_until_a_read_needs_later_events(
    clocked_client: TestClient, clocked_hub: ContactHub, clock: ManualClock
) -> None:
    posted = clocked_client.post("/v1/events", json={"events": [
        registered("C1", ("13800138000",), occurred_at="2026-09-01T09:00:00+08:00"),
        registered("C2", ("13900139000",), tier="ordinary", occurred_at="2026-09-01T09:00:00+08:00"),
        *calls("C1", 10),
    ]}).json()
    first = read(clocked_client, min_position=posted["position"])  # counted live: no snapshot yet
    counted = clocked_hub.risk_watcher.run_once()
    assert counted.refreshed and counted.position >= posted["position"]
    clock.advance(seconds=30)

    snapshot = read(clocked_client)
    assert (snapshot["as_of"], snapshot["position"]) == ("2026-11-02T09:00:00+08:00", counted.position)
    assert snapshot["customers"] == first["customers"] and snapshot["total"] == 1
    assert read(clocked_client, tier="gold", rule="frequent_service_calls")["customers"] == first["customers"]
    assert read(clocked_client, tier="ordinary")["total"] == 0

    later = clocked_client.post("/v1/events", json={"events": calls("C2", 11)}).json()["position"]
    assert [c["customer_id"] for c in read(clocked_client)["customers"]] == ["C1"]  # as counted, and says when
    live = read(clocked_client, min_position=later)
    assert (live["as_of"], live["position"]) == ("2026-11-02T09:00:30+08:00", later)
    assert [c["customer_id"] for c in live["customers"]] == ["C1", "C2"]
    # An explicit moment is always counted then.
    assert read(clocked_client, as_of="2026-11-02T09:00:00+08:00", min_position=later)["total"] == 2
