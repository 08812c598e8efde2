"""The metrics endpoints and churn-risk signals on a small history whose every number is worked out by hand. Both backends.

Two customers over ten days of October 2026 (Shanghai time); "now" is 2026-11-02 09:00.
The hand count is written beside each contact; the tier change of C1 arrives last, after
everything it re-tiers, as a late channel would deliver it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import contact, event, registered

C1 = {"customer_id": "C1"}
C2 = {"customer_id": "C2"}


def at(day: int, hour: int, minute: int = 0) -> str:
    return f"2026-10-{day:02d}T{hour:02d}:{minute:02d}:00+08:00"


def history() -> list[dict[str, Any]]:
    return [
        registered("C1", ("13800138000",), tier="gold", occurred_at="2026-09-01T09:00:00+08:00"),
        registered("C2", ("13900139000",), tier="ordinary", occurred_at="2026-09-01T09:00:00+08:00"),
        event("customer.tier_changed", C2, tier="silver", arpu=80.0, occurred_at="2026-10-01T00:00:00+08:00"),
        event("order.placed", C1, order_id="O1", services=["mobile", "broadband"], occurred_at=at(20, 9)),
        # C1. a: billing issue starts; b repeats it within 7 days, so a is no FCR.
        contact(C1, event_id="a", occurred_at=at(20, 10), outcome="resolved", duration_s=100),
        event("complaint.opened", C1, complaint_id="K1", category="billing", severity="high", summary="多扣费",
              channel="hotline", handled_by="agent-7", occurred_at=at(20, 10, 5)),
        event("complaint.pended", C1, complaint_id="K1", reason="等客户提供账单", occurred_at=at(20, 11)),
        event("complaint.resumed", C1, complaint_id="K1", occurred_at=at(20, 12)),
        event("complaint.resolved", C1, complaint_id="K1", resolution="已退费", occurred_at=at(20, 15, 5)),
        event("complaint.followed_up", C1, complaint_id="K1", satisfaction=5, occurred_at=at(21, 10)),
        event("service.activated", C1, order_id="O1", service="mobile", occurred_at=at(21, 9)),
        contact(C1, event_id="g", occurred_at=at(21, 9, 30), channel="sms", direction="outbound",
                handled_by="sms-platform", outcome="resolved", duration_s=0),
        contact(C1, event_id="b", occurred_at=at(22, 10), outcome="unresolved", duration_s=200),
        # d: an app session nobody assisted within 24 h: contained (and an issue resolved at once).
        contact(C1, event_id="d", occurred_at=at(25, 9), channel="app", reason="account", handled_by="self-service",
                outcome="resolved", duration_s=0),
        contact(C1, event_id="t", occurred_at=at(25, 14), channel="technician", direction="outbound",
                reason="installation", handled_by="tech-001", outcome="resolved", duration_s=3600),
        # e: a web session followed by a hotline call 12 h later: not contained; f repeats e's reason.
        contact(C1, event_id="e", occurred_at=at(28, 20), channel="web", reason="plan_change",
                handled_by="self-service", outcome="resolved", duration_s=60),
        contact(C1, event_id="f", occurred_at=at(29, 8), reason="plan_change", outcome="abandoned", duration_s=30),
        event("service.activated", C1, order_id="O1", service="broadband", occurred_at=at(29, 12)),
        # c: billing again 8 days after b: a new issue, resolved at first contact.
        contact(C1, event_id="c", occurred_at=at(30, 10), channel="store", handled_by="clerk-1", outcome="resolved",
                duration_s=300),
        # C2: four hotline calls on one network fault in four days, three unresolved.
        contact(C2, event_id="h", occurred_at="2026-10-26T00:30:00+08:00", reason="network", duration_s=400),
        contact(C2, event_id="i", occurred_at=at(27, 10), reason="network", duration_s=500),
        event("order.placed", C2, order_id="O2", services=["iptv"], occurred_at=at(28, 9)),
        event("complaint.opened", C2, complaint_id="K2", category="network", severity="high", summary="网络差",
              channel="store", handled_by="clerk-1", occurred_at=at(28, 10)),
        contact(C2, event_id="j", occurred_at=at(28, 11), reason="network", duration_s=600),
        contact(C2, event_id="k", occurred_at=at(29, 9), reason="network", outcome="resolved", duration_s=100),
        event("complaint.resolved", C2, complaint_id="K2", resolution="换基站参数", occurred_at=at(29, 10)),
        event("complaint.reopened", C2, complaint_id="K2", reason="仍然很差", occurred_at=at(29, 12)),
        event("complaint.resolved", C2, complaint_id="K2", resolution="修复光缆", occurred_at=at(29, 14)),
        event("complaint.followed_up", C2, complaint_id="K2", satisfaction=2, occurred_at=at(29, 16)),
        event("complaint.opened", C2, complaint_id="K3", category="billing", severity="medium", summary="套餐不符",
              channel="hotline", handled_by="agent-9", occurred_at=at(29, 10)),
        # Late: C1 became diamond on 27 October; e, f and c (after it) count for diamond.
        event("customer.tier_changed", C1, tier="diamond", arpu=500.0, occurred_at="2026-10-27T00:00:00+08:00"),
    ]


@pytest.fixture
def loaded(clocked_client: TestClient) -> tuple[TestClient, int]:
    response = clocked_client.post("/v1/events", json={"events": history()})
    assert response.status_code == 200, response.text
    return clocked_client, int(response.json()["position"])


def get(loaded: tuple[TestClient, int], path: str, **params: Any) -> dict[str, Any]:
    client, position = loaded
    response = client.get(path, params={"min_position": position, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


PERIOD = {"from": "2026-10-20", "to": "2026-10-30"}


def test_contact_quality_counts_every_figure_with_its_parts(loaded: tuple[TestClient, int]) -> None:
    totals = get(loaded, "/v1/metrics/contacts", **PERIOD)["totals"]
    assert totals["contacts"] == 12 and totals["inbound"] == 10  # g and t are outbound
    # Issues: a, d, e, c (C1) and h (C2); resolved at first contact: d and c.
    assert totals["first_contact_resolution"] == {"issues": 5, "resolved_first_contact": 2, "rate": 0.4}
    # Repeated within 7 days on the same reason: a (by b), e (by f), h, i, j.
    assert totals["repeat_contact"] == {"contacts": 10, "repeated": 5, "rate": 0.5}
    # Handled: all but the abandoned f; 100+200+300+0+60+0+3600+400+500+600+100 seconds.
    assert totals["handling"] == {"handled": 11, "handled_s": 5860, "average_s": 532.7}
    assert totals["self_service"] == {"sessions": 2, "contained": 1, "containment_rate": 0.5}


def test_contact_quality_splits_by_channel_reason_and_the_tier_in_force_at_each_contact(
    loaded: tuple[TestClient, int],
) -> None:
    body = get(loaded, "/v1/metrics/contacts", **PERIOD)
    by_tier = {row["tier"]: row["contacts"] for row in body["by_tier"]}
    assert by_tier == {"gold": 5, "diamond": 3, "silver": 4}  # a b d g t | e f c | h i j k
    by_channel = {row["channel"]: row["contacts"] for row in body["by_channel"]}
    assert by_channel == {"hotline": 7, "sms": 1, "app": 1, "technician": 1, "web": 1, "store": 1}
    network = next(row for row in body["by_reason"] if row["reason"] == "network")
    assert network["first_contact_resolution"]["issues"] == 1 and network["repeat_contact"]["repeated"] == 3
    diamond = get(loaded, "/v1/metrics/contacts", tier="diamond", **PERIOD)["totals"]
    assert diamond["first_contact_resolution"] == {"issues": 2, "resolved_first_contact": 1, "rate": 0.5}
    hotline = get(loaded, "/v1/metrics/contacts", channel="hotline", **PERIOD)
    assert hotline["totals"]["contacts"] == 7 and hotline["filters"]["channel"] == "hotline"
    # A period of one local day: 20 October holds contact a only.
    assert get(loaded, "/v1/metrics/contacts", **{"from": "2026-10-20", "to": "2026-10-20"})["totals"]["contacts"] == 1


def test_channels_give_daily_volume_on_the_local_day(loaded: tuple[TestClient, int]) -> None:
    days = get(loaded, "/v1/metrics/channels", **PERIOD)["days"]
    volume = {(d["day"], d["channel"]): d["contacts"] for d in days}
    # h happened at 00:30 on 26 October in Shanghai (25 October in UTC): it is 26 October's.
    assert volume[("2026-10-26", "hotline")] == 1 and ("2026-10-25", "hotline") not in volume
    assert volume[("2026-10-29", "hotline")] == 2  # f and k
    assert sum(volume.values()) == 12


def test_complaint_quality_sla_compliance_time_to_resolve_reopen_and_satisfaction(loaded: tuple[TestClient, int]) -> None:
    body = get(loaded, "/v1/metrics/complaints", **PERIOD)
    totals = body["totals"]
    assert totals["complaints"] == 3 and totals["open"] == 1
    # K1 met (4 h net of the hour pending, limit 8 h); K2 missed (24 h, limit 12 h); K3 open and overdue.
    assert totals["sla"] == {"met": 1, "missed": 1, "overdue_unresolved": 1, "compliance": 0.3333}
    assert totals["time_to_resolve_s"] == {"resolved": 2, "median": 14400.0, "p90": 86400.0, "mean": 50400.0}
    assert totals["reopen"] == {"resolved": 2, "reopened": 1, "rate": 0.5}
    assert totals["satisfaction"] == {"responses": 2, "satisfied": 1, "csat": 0.5, "mean": 3.5}
    by_tier = {row["tier"]: row["complaints"] for row in body["by_tier"]}
    assert by_tier == {"gold": 1, "silver": 2}  # K1 was accepted while C1 was gold
    store = next(row for row in body["by_channel"] if row["channel"] == "store")
    assert store["sla"]["missed"] == 1 and store["satisfaction"]["mean"] == 2.0
    assert get(loaded, "/v1/metrics/complaints", category="billing", **PERIOD)["totals"]["complaints"] == 2


def test_journey_metrics_count_calls_contacts_and_visits_to_activation(loaded: tuple[TestClient, int]) -> None:
    body = get(loaded, "/v1/metrics/journeys", **PERIOD)
    assert body["orders"]["placed"] == 2 and body["orders"]["activated"] == 1 and body["orders"]["inProgress"] == 1
    calls = body["calls_to_activation"]
    assert (calls["count"], calls["total"], calls["median"]) == (1, 3, 3)  # a, b and f
    assert {b["calls"]: b["orders"] for b in calls["distribution"]}["3"] == 1
    assert body["contacts_to_activation"]["total"] == 7  # a g b d t e f
    assert body["technician_visits_to_activation"]["total"] == 1
    assert body["order_to_activation_s"]["median"] == 9 * 86400 + 3 * 3600
    # By the tier the customer had when the order was placed: C1 gold (its diamond came later), C2 silver.
    assert get(loaded, "/v1/metrics/journeys", tier="gold", **PERIOD)["orders"]["activated"] == 1
    assert get(loaded, "/v1/metrics/journeys", tier="silver", **PERIOD)["orders"]["inProgress"] == 1
    # A late tier change dated before O1 was placed moves O1 to that tier.
    client, _ = loaded
    late = event("customer.tier_changed", C1, tier="vip", arpu=150.0, occurred_at="2026-10-19T00:00:00+08:00")
    response = client.post("/v1/events", json={"events": [late]})
    position = int(response.json()["position"])
    assert get((client, position), "/v1/metrics/journeys", tier="gold", **PERIOD)["orders"]["placed"] == 0
    assert get((client, position), "/v1/metrics/journeys", tier="vip", **PERIOD)["orders"]["activated"] == 1


def test_value_is_the_latest_arpu_by_event_time_and_its_concentration(loaded: tuple[TestClient, int]) -> None:
    now = get(loaded, "/v1/metrics/value")
    assert (now["customers"], now["customers_with_arpu"], now["arpu_total"]) == (2, 2, 580.0)
    assert now["concentration"] == {"top_fraction": 0.2, "top_customers": 1, "top_arpu": 500.0, "share": 0.8621}
    assert {t["tier"]: t["arpu_total"] for t in now["by_tier"]} == {"diamond": 500.0, "silver": 80.0}
    # As of 26 October C1 was still gold with no ARPU known.
    before = get(loaded, "/v1/metrics/value", to="2026-10-26")
    assert (before["customers_with_arpu"], before["arpu_total"]) == (1, 80.0)
    assert {t["tier"] for t in before["by_tier"]} == {"gold", "silver"}
    assert get(loaded, "/v1/metrics/value", tier="diamond")["customers"] == 1


def test_churn_risk_lists_who_and_why_and_shows_in_the_360_view(loaded: tuple[TestClient, int]) -> None:
    body = get(loaded, "/v1/customers/at-risk")
    assert body["total"] == 1
    flagged = body["customers"][0]
    assert flagged["customer_id"] == "C2" and flagged["tier"] == "silver"
    counts = {f["rule"]: f["count"] for f in flagged["flags"]}
    assert counts == {
        "repeat_complaints": 2,  # K2, K3
        "valued_tier_sla_breach": 2,  # K2 resolved late, K3 past its deadline
        "repeated_unresolved_contacts": 3,  # h, i, j
        "frequent_service_calls": 4,  # h, i, j, k
    }
    view = get(loaded, "/v1/customers/C2")["churn_risk"]
    assert view["at_risk"] is True and [f["rule"] for f in view["flags"]] == list(counts)
    assert get(loaded, "/v1/customers/C1")["churn_risk"] == {**view, "at_risk": False, "flags": []}
    assert get(loaded, "/v1/customers/at-risk", rule="frequent_service_calls")["total"] == 1
    assert get(loaded, "/v1/customers/at-risk", tier="gold")["total"] == 0
    # A month later the window has moved past all of it.
    assert get(loaded, "/v1/customers/at-risk", as_of="2026-12-15T00:00:00+08:00")["total"] == 0


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/metrics/contacts", {"from": "2026-10-30", "to": "2026-10-01"}, "from"),
        ("/v1/metrics/contacts", {"from": "2026-13-01"}, "from"),
        ("/v1/metrics/contacts", {"channel": "pigeon"}, "channel"),
        ("/v1/metrics/complaints", {"tier": "platinum"}, "tier"),
        ("/v1/metrics/journeys", {"channel": "hotline"}, "channel"),
        ("/v1/metrics/value", {"from": "2026-10-01"}, "from"),
        ("/v1/metrics/value", {"channel": "store"}, "channel"),
        ("/v1/metrics/channels", {"from": "2000-01-01", "to": "2026-10-01"}, "from"),
        ("/v1/customers/at-risk", {"as_of": "2026-11-01T09:00:00"}, "as_of"),
        ("/v1/customers/at-risk", {"rule": "bad_luck"}, "rule"),
        ("/v1/customers/at-risk", {"page_size": "0"}, "page_size"),
    ],
)
def test_bad_filters_get_a_422_naming_the_field(
    clocked_client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    response = clocked_client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
