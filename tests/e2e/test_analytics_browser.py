"""The analytics page in a real browser: headless Chromium, driven by Selenium, against the real server.

The demo population (two months) plus a few orders stuck this month, the jeopardy watcher's
pass, then /analytics as a supervisor opens it: the login page first (an auditor's key), then
four charts drawn, in Chinese; the period form (plain GET, no JavaScript); English one click away.

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian packages chromium and
chromium-driver; `.ci/run` installs them) and a Chinese font (fonts-wqy-microhei). Set
CONTACTHUB_UPDATE_SCREENSHOT=1 to refresh docs/images/analytics.png from this test.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import build
from contacthub.config import Settings
from contacthub.demo import DEFAULT_END, DemoPlan, generate_batches
from contacthub.domain.roles import Role
from support.auth import new_key
from support.browser import headless_chromium, serving

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "analytics.png"
TODAY = DEFAULT_END  # the demo's last moment: "now" for the server, so the page is the same on every run
STUCK = 5


@pytest.fixture
def backend() -> str:
    """SQLite only: the page's numbers are checked on both backends in test_analytics.py."""
    return "sqlite"


def stuck_orders() -> list[dict[str, Any]]:
    """A few customers whose orders have been waiting 9 to 17 days, calling the hotline about them."""
    events: list[dict[str, Any]] = []
    for n in range(1, STUCK + 1):
        who = {"customer_id": f"X{n:04d}"}
        placed = TODAY - timedelta(days=7 + 2 * n, hours=n)
        events += [
            {"event_id": f"x-reg-{n}", "type": "customer.registered",
             "occurred_at": (TODAY - timedelta(days=400)).isoformat(), **who, "name": f"测试客户{n}",
             "segment": "individual", "tier": ("gold", "ordinary", "vip")[n % 3], "msisdns": [f"1709999000{n}"]},
            {"event_id": f"x-ord-{n}", "type": "order.placed", "occurred_at": placed.isoformat(), **who,
             "order_id": f"ORD-X-{n:03d}", "services": ["broadband", "iptv"]},
        ]
        for c in range(n):  # the n-th customer has called n times, a day apart
            events.append({"event_id": f"x-call-{n}-{c}", "type": "contact.logged",
                           "occurred_at": (placed + timedelta(days=1 + c, hours=2)).isoformat(), **who,
                           "channel": "hotline", "direction": "inbound", "reason": "装机进度",
                           "handled_by": "10086-agent-7", "duration_s": 300, "outcome": "unresolved",
                           "order_id": f"ORD-X-{n:03d}"})
    return events


@dataclass
class Server:
    url: str
    key: str
    """The supervisor's key: an auditor's (reads everything, changes nothing)."""


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    """`contacthub serve` over the loaded demo, in a thread; the base URL and the supervisor's key."""
    hub = build(settings, clock=lambda: TODAY)
    for batch in generate_batches(DemoPlan(customers=800, months=2, seed=3), 1000):
        hub.ingest.ingest(batch)
    hub.ingest.ingest(stuck_orders())
    key = new_key(hub, Role.AUDITOR, "audit-li")
    try:
        with serving(create_app(hub)) as url:
            assert hub.projector.wait_for(hub.event_log.head_position(), 30)  # the embedded projector caught up
            assert hub.jeopardy_watcher.run_once().flagged >= STUCK
            assert hub.projector.wait_for(hub.event_log.head_position(), 10)
            yield Server(url, key)
    finally:
        hub.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with headless_chromium(tmp_path / "chromium", "the analytics page", "1280,2700", extra=('--hide-scrollbars', '--lang=zh-CN')) as driver:
        yield driver


def charts_shown(browser: WebDriver) -> list[str]:
    """The kinds of the charts on the page that are displayed at a readable size."""
    shown = []
    for svg in browser.find_elements(By.CSS_SELECTOR, "svg.chart"):
        if svg.is_displayed() and svg.size["width"] >= 400 and svg.size["height"] >= 150:
            shown.append(svg.get_attribute("data-chart") or "")
    return shown


def chart_texts(browser: WebDriver, kind: str) -> list[str]:
    return [t.text for t in browser.find_elements(By.CSS_SELECTOR, f'svg[data-chart="{kind}"] text')]


def test_a_supervisor_reads_the_analytics_page(server: Server, browser: WebDriver, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 10)
    browser.get(server.url + "/analytics")  # not logged in: the login page, then back here
    wait.until(lambda b: "/desk/login?next=%2Fanalytics" in b.current_url)
    key = browser.find_element(By.NAME, "key")
    key.send_keys(server.key)
    key.submit()
    wait.until(lambda b: b.current_url == server.url + "/analytics")

    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert browser.find_element(By.TAG_NAME, "h1").text == "运营分析"
    period = browser.find_element(By.CSS_SELECTOR, '[data-testid="period"]').text
    assert period == "统计期：2026-10-22 至 2026-11-20（30 天）"  # the 30 days up to the server's today
    assert charts_shown(browser) == ["volume", "calls", "sla", "jeopardy"]
    assert "热线" in chart_texts(browser, "volume") and "金卡" in chart_texts(browser, "sla")
    label = browser.find_element(By.CSS_SELECTOR, 'svg[data-chart="volume"] text')
    assert "WenQuanYi Micro Hei" in label.value_of_css_property("font-family")
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")  # no overflow

    orders = browser.find_elements(By.CSS_SELECTOR, '[data-testid="jeopardy-table"] tbody tr')
    assert len(orders) >= STUCK
    assert "ORD-X-005" in chart_texts(browser, "jeopardy")
    link = browser.find_element(By.CSS_SELECTOR, '[data-order-id="ORD-X-005"] a')
    assert link.get_attribute("href") == server.url + "/v1/orders/ORD-X-005/journey"
    request = urllib.request.Request(link.get_attribute("href"), headers={"Authorization": f"Bearer {server.key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        journey = json.loads(response.read())
    assert (journey["calls_to_activation"], journey["jeopardy"]["reasons"]) == (5, ["days", "calls"])

    shot = tmp_path / "analytics.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CONTACTHUB_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(shot.read_bytes())

    # the period form: a plain GET, no script
    Select(browser.find_element(By.NAME, "tier")).select_by_value("gold")
    browser.find_element(By.CSS_SELECTOR, '[data-testid="period-form"] button[type="submit"]').click()
    wait.until(lambda b: "tier=gold" in b.current_url)
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="period"]').text.endswith("· 客户等级：金卡")
    assert charts_shown(browser) == ["volume", "calls", "sla", "jeopardy"]

    browser.find_element(By.CSS_SELECTOR, '[data-testid="lang-switch"]').click()
    wait.until(lambda b: b.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Analytics"
    assert charts_shown(browser) == ["volume", "calls", "sla", "jeopardy"]
    assert "Hotline" in chart_texts(browser, "volume") and "Gold" in chart_texts(browser, "sla")
    assert "tier=gold" in browser.current_url  # the period and tier are kept

    browser.find_element(By.CSS_SELECTOR, '[data-testid="sections"] a[href^="/desk"]').click()
    wait.until(lambda b: "/desk" in b.current_url)
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="analytics-link"]').text == "Analytics"  # still English
