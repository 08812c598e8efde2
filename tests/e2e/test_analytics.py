"""The analytics page (/analytics): four server-drawn charts, each beside a table of the exact numbers.

Page-level tests through the HTTP app, on SQLite and on PostgreSQL (see conftest.py), over
a small history posted through POST /v1/events whose every count is known. The page in a
real browser: test_analytics_browser.py. The charts and the period on their own, without a
database: tests/unit/test_analytics_charts.py.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacthub.bootstrap import ContactHub
from helpers import complaint_opened, contact, event, registered
from support.clock import ManualClock

PERIOD = {"from": "2026-10-20", "to": "2026-11-02"}
C1, C2, C3 = {"customer_id": "C1"}, {"customer_id": "C2"}, {"customer_id": "C3"}


# --- the history: every number the page shows is counted here by hand ---------------------------


def at(day: str, clock_time: str = "10:00") -> str:
    return f"2026-{day}T{clock_time}:00+08:00"


def history() -> list[dict[str, Any]]:
    """Three customers (gold, VIP, ordinary), three orders, eleven contacts in the period, four complaints.

    Contacts in 2026-10-20 .. 2026-11-02 (Shanghai): hotline 6, technician 1, store 1, app 1, web 1, sms 1 = 11.
    Orders: O1 activated after 3 calls, O2 activated after none, O3 still waiting (in jeopardy by 11-02).
    Complaints: gold met, VIP missed, ordinary overdue and unresolved, ordinary not yet due.
    """
    since = at("01-05")
    return [
        registered("C1", ("13800138000",), tier="gold", occurred_at=since),
        registered("C2", ("13900139000",), tier="vip", occurred_at=since),
        registered("C3", ("13700137000",), tier="ordinary", occurred_at=since),
        # O1: placed 10-20, three inbound hotline calls and a technician visit, activated 10-25
        event("order.placed", C1, order_id="O1", services=["broadband"], occurred_at=at("10-20", "09:00")),
        *[contact(C1, occurred_at=at(f"10-{d}"), reason="装机进度") for d in (21, 22, 23)],
        contact(C1, channel="technician", direction="outbound", handled_by="tech-3", occurred_at=at("10-24")),
        event("service.activated", C1, order_id="O1", service="broadband", occurred_at=at("10-25")),
        # O2: placed and activated without a call
        event("order.placed", C2, order_id="O2", services=["iptv"], occurred_at=at("10-21", "09:00")),
        event("service.activated", C2, order_id="O2", service="iptv", occurred_at=at("10-22")),
        # O3: placed 10-22, still waiting for broadband on 11-02
        event("order.placed", C3, order_id="O3", services=["broadband", "iptv"], occurred_at=at("10-22", "09:00")),
        event("service.activated", C3, order_id="O3", service="iptv", occurred_at=at("10-23")),
        # the period's edges, in the operator's zone: 10-20 01:30 in Shanghai is counted, 10-19 23:30 is not
        contact(C2, channel="sms", direction="outbound", handled_by="sms", occurred_at="2026-10-19T17:30:00+00:00"),
        contact(C2, channel="email", handled_by="mail", occurred_at=at("10-19", "23:30")),
        contact(C1, occurred_at=at("10-30", "09:00")),
        contact(C1, occurred_at=at("10-30", "15:00")),
        contact(C2, channel="store", handled_by="store-0571-03", occurred_at=at("10-30")),
        contact(C3, channel="app", handled_by="app", occurred_at=at("10-31")),
        contact(C2, occurred_at=at("10-31")),
        contact(C3, channel="web", handled_by="web", occurred_at=at("11-01")),
        # complaints (severity high: gold 8 h, VIP 24 h, ordinary 48 h; medium ordinary 72 h)
        complaint_opened("K1", C1, occurred_at=at("10-28")),
        event("complaint.resolved", C1, complaint_id="K1", resolution="已退费", occurred_at=at("10-28", "12:00")),
        complaint_opened("K2", C2, occurred_at=at("10-29")),
        event("complaint.resolved", C2, complaint_id="K2", resolution="已处理", occurred_at=at("10-31")),
        complaint_opened("K3", C3, occurred_at=at("10-30", "09:00")),
        complaint_opened("K4", C3, severity="medium", occurred_at=at("11-01", "09:00")),
    ]


def given_history(client: TestClient, hub: ContactHub) -> None:
    """Post the history as the channels do, let the jeopardy watcher look (at 11-02 09:00), wait for the pages."""
    response = client.post("/v1/events", json={"events": history()})
    assert response.status_code == 200, response.text
    assert hub.projector.wait_for(response.json()["position"], 5)
    assert hub.jeopardy_watcher.run_once().flagged == 1  # O3: waiting past 7 days
    assert hub.projector.wait_for(hub.event_log.head_position(), 5)


# --- small readers -----------------------------------------------------------------------------


def part(page: str, testid: str) -> str:
    """The HTML of one element marked data-testid, up to the end of the section or table it opens."""
    start = page.index(f'data-testid="{testid}"')
    tag = page.rfind("<", 0, start)
    name = re.match(r"<(\w+)", page[tag:])
    assert name
    return page[tag:page.index(f"</{name.group(1)}>", start)]


def cells(fragment: str) -> list[list[str]]:
    """Each row's cells as text (tags removed, entities decoded, spaces collapsed)."""
    rows = []
    for row in re.findall(r"<tr\b.*?</tr>", fragment, re.DOTALL):
        texts = re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", row, re.DOTALL)
        rows.append([" ".join(html.unescape(re.sub(r"<[^>]+>", " ", t)).split()) for t in texts])
    return rows


def svgs(page: str) -> dict[str, str]:
    """The page's charts by kind, in page order."""
    return {kind: svg for svg, kind in re.findall(r'(<svg class="chart" data-chart="(\w+)".*?</svg>)', page, re.DOTALL)}


# --- what the page shows -------------------------------------------------------------------------------


def test_every_chart_has_its_exact_numbers_beside_it(clocked_client: TestClient, clocked_hub: ContactHub) -> None:
    given_history(clocked_client, clocked_hub)

    response = clocked_client.get("/analytics", params=PERIOD)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="zh-CN">' in page and "<h1>运营分析</h1>" in page
    assert "统计期：2026-10-20 至 2026-11-02（14 天）" in page

    # 1. contacts per channel, per day
    assert part(page, "volume").count('data-granularity="day"') == 1
    assert cells(part(page, "volume-totals")) == [
        ["渠道", "接触次数", "占比"],
        ["热线", "6", "54.5%"], ["营业厅", "1", "9.1%"], ["网厅", "1", "9.1%"], ["手机营业厅（APP）", "1", "9.1%"],
        ["短信", "1", "9.1%"], ["邮件", "0", "0.0%"], ["装维", "1", "9.1%"], ["自助终端", "0", "0.0%"],
        ["客户经理", "0", "0.0%"],
        ["合计", "11", ""],
    ]
    detail = cells(part(page, "volume-detail"))
    assert detail[0] == ["日期", "热线", "营业厅", "网厅", "手机营业厅（APP）", "短信", "装维", "合计"]
    assert len(detail) == 1 + 14  # every day of the period, also the quiet ones
    by_day = {row[0]: row[1:] for row in detail[1:]}
    assert by_day["2026-10-20"] == ["0", "0", "0", "0", "1", "0", "1"]  # 17:30 UTC on the 19th is the 20th here
    assert by_day["2026-10-30"] == ["2", "1", "0", "0", "0", "0", "3"]
    assert by_day["2026-11-02"] == ["0"] * 7

    # 2. calls to activation: O1 after 3 calls, O2 after none; O3 is not activated
    calls = {row[0]: row[1] for row in cells(part(page, "calls-table"))[1:]}
    assert calls == {"0": "1", "1": "0", "2": "0", "3": "1", "4": "0", "5": "0", "6-7": "0", "8-10": "0",
                     "11-15": "0", "16-20": "0", "21+": "0"}
    spread = part(page, "calls-spread")
    assert re.search(r'data-value="count">2<', spread) and re.search(r'data-value="total">3<', spread)

    # 3. SLA compliance by tier: met / (met + missed + overdue); K4 is not due yet
    assert cells(part(page, "compliance-table")) == [
        ["客户等级", "投诉数", "按时办结", "超时办结", "超时未结", "达成率"],
        ["钻石", "0", "0", "0", "0", "—"],
        ["金卡", "1", "1", "0", "0", "100.0% (1/1)"],
        ["银卡", "0", "0", "0", "0", "—"],
        ["贵宾", "1", "0", "1", "0", "0.0% (0/1)"],
        ["普通", "2", "0", "0", "1", "0.0% (0/1)"],
        ["合计", "4", "1", "1", "1", "33.3% (1/3)"],
    ]

    # 4. orders in jeopardy: O3, linked to its journey
    jeopardy = part(page, "jeopardy")
    assert 'data-testid="jeopardy-total" data-value="1"' in jeopardy
    assert "统计期内下单的订单中：1 个曾被预警，1 个仍在途。" in jeopardy
    [header, o3] = cells(part(page, "jeopardy-table"))
    assert header[0] == "订单号"
    assert o3 == ["O3", "C3", "部分开通", "2026-10-22 09:00", "11天", "0", "2", "0", "宽带", "等待超时",
                  "2026-10-29 09:00"]
    assert '<a href="/v1/orders/O3/journey"' in jeopardy and '<a href="/desk/customers/C3"' in jeopardy
    assert clocked_client.get("/v1/orders/O3/journey").json()["jeopardy"]["reasons"] == ["days"]

    kpis = part(page, "kpis")
    for kpi, value in {"contacts": "11", "orders": "3", "activated": "2", "flagged": "1", "complaints": "4"}.items():
        assert f'data-kpi="{kpi}">{value}<' in kpis

    # the four charts: matplotlib's SVG, inline, named for screen readers, Chinese text left as text
    drawn = svgs(page)
    assert list(drawn) == ["volume", "calls", "sla", "jeopardy"]
    for kind, svg in drawn.items():
        assert "Matplotlib v" in svg, kind  # the library's own signature in the SVG metadata
        assert 'role="img" aria-label="' in svg
        assert "<path" in svg and "<text" in svg
    assert ">热线</text>" in drawn["volume"] and ">装维</text>" in drawn["volume"]
    assert ">开通前客户热线来电次数</text>" in drawn["calls"]
    assert ">1/1 · 100%</text>" in drawn["sla"] and ">0/1 · 0%</text>" in drawn["sla"]
    assert ">O3</text>" in drawn["jeopardy"] and ">0 次来电</text>" in drawn["jeopardy"]
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids are unique across the charts"


def test_english_is_a_switch_away_and_remembered(clocked_client: TestClient, clocked_hub: ContactHub) -> None:
    given_history(clocked_client, clocked_hub)
    chinese = clocked_client.get("/analytics", params=PERIOD).text
    assert 'href="/analytics?from=2026-10-20&amp;to=2026-11-02&amp;lang=en"' in chinese

    english = clocked_client.get("/analytics", params={**PERIOD, "lang": "en"})

    assert english.status_code == 200
    page = english.text
    assert '<html lang="en">' in page and "<h1>Analytics</h1>" in page
    assert "Period: 2026-10-20 to 2026-11-02 (14 days)" in page
    assert cells(part(page, "volume-totals"))[1] == ["Hotline", "6", "54.5%"]
    assert cells(part(page, "compliance-table"))[2] == ["Gold", "1", "1", "0", "0", "100.0% (1/1)"]
    assert ">Inbound hotline calls before activation</text>" in svgs(page)["calls"]
    assert ">0 calls</text>" in svgs(page)["jeopardy"]
    assert "运营分析" not in page.replace('lang="zh-CN"', "") and "热线" not in page
    assert 'href="/analytics?from=2026-10-20&amp;to=2026-11-02&amp;lang=zh"' in page

    remembered = clocked_client.get("/analytics", params=PERIOD)  # no ?lang: the cookie
    assert '<html lang="en">' in remembered.text
    assert '<html lang="zh-CN">' in clocked_client.get("/analytics", params={"lang": "zh"}).text


def test_a_tier_narrows_every_chart_but_the_open_jeopardy_list(clocked_client: TestClient,
                                                               clocked_hub: ContactHub) -> None:
    given_history(clocked_client, clocked_hub)

    page = clocked_client.get("/analytics", params={**PERIOD, "tier": "gold"}).text

    assert "· 客户等级：金卡" in page
    assert re.search(r'<option value="gold" selected>', page)
    totals = {row[0]: row[1] for row in cells(part(page, "volume-totals"))[1:]}
    assert (totals["热线"], totals["装维"], totals["营业厅"], totals["合计"]) == ("5", "1", "0", "6")  # C1's contacts
    assert [row[0] for row in cells(part(page, "compliance-table"))[1:]] == ["金卡", "合计"]
    calls = {row[0]: row[1] for row in cells(part(page, "calls-table"))[1:]}
    assert (calls["0"], calls["3"]) == ("0", "1")
    assert 'data-testid="jeopardy-total" data-value="1"' in page  # every open order in jeopardy now


def test_the_default_period_and_longer_periods(clocked_client: TestClient, clock: ManualClock) -> None:
    empty = clocked_client.get("/analytics")

    assert empty.status_code == 200
    assert "统计期：2026-10-04 至 2026-11-02（30 天）" in empty.text  # the 30 days up to today, as /v1/metrics
    assert 'name="from" value="2026-10-04"' in empty.text and 'name="to" value="2026-11-02"' in empty.text
    assert list(svgs(empty.text)) == ["volume", "calls", "sla", "jeopardy"]
    assert empty.text.count(">统计期内暂无数据</text>") == 3 and ">目前没有预警中的在途订单</text>" in empty.text
    assert 'data-testid="volume-detail"' not in empty.text

    weeks = clocked_client.get("/analytics", params={"from": "2026-07-01", "to": "2026-11-02"}).text
    assert 'data-granularity="week"' in weeks and "各渠道接触量（按周）" in weeks
    months = clocked_client.get("/analytics", params={"from": "2024-11-01", "to": "2026-11-02"}).text
    assert 'data-granularity="month"' in months


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"from": "2026-13-01"}, "「2026-13-01」不是有效的日期。", id="month-13"),
        pytest.param({"to": "yesterday"}, "「yesterday」不是有效的日期。", id="words"),
        pytest.param({"from": "20261102"}, "「20261102」不是有效的日期。", id="basic-iso-format"),
        pytest.param({"from": "0001-01-01"}, "「0001-01-01」不是有效的日期。", id="year-1"),
        pytest.param({"from": "2026-11-02", "to": "2026-10-20"}, "开始日期（2026-11-02）晚于结束日期（2026-10-20）。",
                     id="reversed"),
        pytest.param({"from": "2026-11-03"}, "开始日期（2026-11-03）晚于结束日期（2026-11-02）。", id="from-tomorrow"),
        pytest.param({"from": "2000-01-01", "to": "2026-11-02"}, "统计期最长 3660 天。", id="too-long"),
        pytest.param({"tier": "platinum"}, "「platinum」不是客户等级。", id="tier"),
        pytest.param({"from": '<script>alert("x")</script>'}, "「<script>alert(\"x\")</script>」不是有效的日期。",
                     id="markup"),
    ],
)
def test_input_that_is_not_a_period_is_refused_with_one_message(clocked_client: TestClient, params: dict[str, str],
                                                                 message: str) -> None:
    response = clocked_client.get("/analytics", params=params)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    problem = part(response.text, "error")
    assert [html.unescape(m) for m in re.findall(r'<p class="problem-text">(.*?)</p>', problem)] == [message]
    assert "<svg" not in response.text and "<script>" not in response.text
    assert 'data-testid="period-form"' in response.text  # the form, to correct it


def test_a_bad_period_in_english(client: TestClient) -> None:
    response = client.get("/analytics", params={"from": "2026-02-30", "lang": "en"})

    assert response.status_code == 422
    assert '"2026-02-30" is not a valid date.' in html.unescape(response.text)


def test_the_desk_and_the_analytics_page_link_to_each_other(client: TestClient) -> None:
    desk = client.get("/desk").text
    assert re.search(r'<a href="/analytics\?lang=zh"[^>]*>运营分析</a>', desk)
    assert re.search(r'<a href="/desk\?lang=zh" aria-current="page">服务台</a>', desk)
    analytics = client.get("/analytics", params={"lang": "en"}).text
    assert re.search(r'<a href="/desk\?lang=en">Desk</a>', analytics)
    assert re.search(r'<a href="/analytics\?lang=en" aria-current="page"[^>]*>Analytics</a>', analytics)
    assert 'href="/desk/static/desk.css"' in analytics
