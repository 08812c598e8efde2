"""CSV exports of the work queues and every metrics endpoint, and contact metrics per agent and per site
(issue 20). Through the HTTP app, both backends."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from contacthub.bootstrap import ContactHub
from helpers import complaint_opened, contact, registered

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}


def given(hub: ContactHub) -> None:
    """Two customers; contacts by two agents at two sites and one without a site; two complaints."""
    at = MONDAY.isoformat()
    hub.ingest.ingest([
        registered("C1", tier="gold", occurred_at=(MONDAY - timedelta(days=60)).isoformat()),
        registered("C2", msisdns=("13900139000",), tier="silver", occurred_at=(MONDAY - timedelta(days=60)).isoformat()),
        contact(event_id="v1", customer_id="C1", msisdn=None, channel="store", handled_by="clerk-1", site="杭州西湖营业厅",
                outcome="resolved", occurred_at=at),
        contact(event_id="v2", customer_id="C2", msisdn=None, channel="store", handled_by="clerk-1", site="杭州西湖营业厅",
                outcome="unresolved", occurred_at=at),
        contact(event_id="v3", customer_id="C2", msisdn=None, channel="store", handled_by="clerk-2", site="宁波天一营业厅",
                outcome="resolved", occurred_at=(MONDAY + timedelta(hours=1)).isoformat()),
        contact(event_id="c1", customer_id="C1", msisdn=None, channel="hotline", handled_by="agent-7",
                outcome="resolved", occurred_at=(MONDAY + timedelta(hours=2)).isoformat()),
        complaint_opened("K1", {"customer_id": "C1"}, category="计费争议", occurred_at=at),
        complaint_opened("K2", {"customer_id": "C2"}, category="网络质量", occurred_at=at),
    ])
    hub.projector.catch_up()


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheets on Chinese desktops read it as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_the_work_queue_as_csv_has_a_row_per_complaint_with_its_clocks(client: TestClient, hub: ContactHub) -> None:
    given(hub)
    as_json = client.get("/v1/complaints", params={"status": "open", "sort": "oldest"}).json()
    for answer in (client.get("/v1/complaints", params={"status": "open", "sort": "oldest", "format": "csv"}),
                   client.get("/v1/complaints", params={"status": "open", "sort": "oldest"}, headers={"Accept": "text/csv"})):
        table = rows(answer)
        assert [r["complaint_id"] for r in table] == [i["complaint_id"] for i in as_json["items"]] == ["K1", "K2"]
        assert {r["table"] for r in table} == {"items"}
        first = as_json["items"][0]
        assert (table[0]["category"], table[0]["sla.state"], table[0]["sla.deadline"], table[0]["first_response.deadline"]) == (
            "计费争议", first["sla"]["state"], first["sla"]["deadline"], first["first_response"]["deadline"])
        assert table[0]["allowed_actions"] == "|".join(first["allowed_actions"])
        assert answer.headers["x-contacthub-position"] == str(as_json["position"])


@pytest.mark.parametrize("endpoint", ["contacts", "channels", "complaints", "journeys", "value"])
def test_every_metrics_endpoint_answers_csv_with_the_same_figures(client: TestClient, hub: ContactHub, endpoint: str) -> None:
    given(hub)
    params = {"to": "2026-11-30"} if endpoint == "value" else PERIOD
    as_json = client.get(f"/v1/metrics/{endpoint}", params=params).json()
    table = rows(client.get(f"/v1/metrics/{endpoint}", params={**params, "format": "csv"}))
    lists = {k: v for k, v in as_json.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    assert len(table) == len(lists and [i for v in lists.values() for i in v]) + ("totals" in as_json)
    if "totals" in as_json:
        totals = next(r for r in table if r["table"] == "totals")
        first_number = next(k for k, v in as_json["totals"].items() if isinstance(v, int))
        assert totals[first_number] == str(as_json["totals"][first_number])
    for name, items in lists.items():
        assert sum(1 for r in table if r["table"] == name) == len(items)


def test_at_risk_customers_answer_csv(client: TestClient, hub: ContactHub) -> None:
    given(hub)
    answer = client.get("/v1/customers/at-risk", params={"format": "csv"})
    assert answer.status_code == 200 and answer.content.decode("utf-8").startswith("\ufefftable")


def test_an_unknown_format_is_a_clear_422(client: TestClient) -> None:
    answer = client.get("/v1/metrics/contacts", params={"format": "xlsx"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "format"


def test_contact_metrics_per_agent_and_per_site(client: TestClient, hub: ContactHub) -> None:
    given(hub)
    answer = client.get("/v1/metrics/contacts", params={**PERIOD, "by": ["handled_by", "site"]}).json()

    agents = {r["handled_by"]: r for r in answer["by_handled_by"]}
    assert {name: r["contacts"] for name, r in agents.items()} == {"agent-7": 1, "clerk-1": 2, "clerk-2": 1}
    sites = {r["site"]: r["contacts"] for r in answer["by_site"]}
    assert sites == {"": 1, "宁波天一营业厅": 1, "杭州西湖营业厅": 2}
    assert sum(sites.values()) == answer["totals"]["contacts"]
    assert client.get("/v1/metrics/contacts", params=PERIOD).json()["by_site"] is None  # only when asked
    table = rows(client.get("/v1/metrics/contacts", params={**PERIOD, "by": "site", "format": "csv"}))
    assert sorted(r["site"] for r in table if r["table"] == "by_site") == ["", "宁波天一营业厅", "杭州西湖营业厅"]


def test_text_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(client: TestClient, hub: ContactHub) -> None:
    hub.ingest.ingest([
        registered("C1", occurred_at=(MONDAY - timedelta(days=60)).isoformat()),
        complaint_opened("K1", {"customer_id": "C1"}, occurred_at=MONDAY.isoformat(),
                         summary='=HYPERLINK("http://example.invalid","退费")', handled_by="@SUM(1+1)"),
    ])
    hub.projector.catch_up()
    [row] = rows(client.get("/v1/complaints", params={"format": "csv"}))
    assert row["summary"] == '\'=HYPERLINK("http://example.invalid","退费")'
    assert row["owner"] == "'@SUM(1+1)"
    assert row["escalation_level"] == "0"  # numbers stay numbers
