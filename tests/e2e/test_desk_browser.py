"""The clerk's desk in a real browser: headless Chromium, driven by Selenium, against the real server.

The story: a customer complained on the hotline; she walks into a store; the clerk logs in
with her key, types the customer's phone number, sees the complaint with its owner and
countdown, and resolves it there. The channels post their events with their own keys.

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian packages chromium and
chromium-driver; `.ci/run` installs them). Set CONTACTHUB_UPDATE_SCREENSHOT=1 to refresh
docs/images/desk.png from this test.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import build
from contacthub.config import Settings
from contacthub.domain.roles import Role
from support.auth import new_key
from support.browser import headless_chromium, serving

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "desk.png"
CLERK = "store-0571-03"


# --- the real server and a real browser ------------------------------------------------------------


@dataclass
class Server:
    url: str
    keys: dict[str, str]
    """API keys by source: `boss`, `app` and `hotline` post events; `clerk` logs in at the desk."""


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    """`contacthub serve` in a thread: uvicorn, the app, its embedded projector; the base URL and keys."""
    hub = build(settings)
    keys = {source: new_key(hub, Role.CHANNEL, f"{source}-system", source) for source in ("boss", "app", "hotline")}
    keys["clerk"] = new_key(hub, Role.CLERK, CLERK)
    try:
        with serving(create_app(hub)) as url:
            yield Server(url, keys)
    finally:
        hub.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with headless_chromium(tmp_path / "chromium", "the desk", "1280,1600") as driver:
        yield driver


# --- the HTTP API, as the hotline uses it ---------------------------------------------------------------


def call(base: str, key: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def post_as_each_channel(server: Server, events: list[dict[str, Any]]) -> int:
    """Each source posts its own events (a channel key posts only its channel's; BOSS the rest); the last position."""
    position = 0
    for source in ("boss", "app", "hotline"):
        own = [e for e in events if e.get("channel", "boss") == source]
        position = call(server.url, server.keys[source], "POST", "/v1/events", {"events": own})["position"]
    return position


def ago(**delta: float) -> str:
    return (datetime.now(timezone(timedelta(hours=8))) - timedelta(**delta)).replace(microsecond=0).isoformat()


def hotline_history() -> list[dict[str, Any]]:
    """A gold customer, an order still waiting for broadband, and this morning's complaint on the hotline."""
    who = {"msisdn": "13800138000"}
    return [
        {"event_id": "reg-1", "type": "customer.registered", "occurred_at": ago(days=400), "customer_id": "C1",
         "name": "王芳", "segment": "individual", "tier": "gold", "msisdns": ["13800138000", "13900139000"]},
        {"event_id": "ord-1", "type": "order.placed", "occurred_at": ago(days=3), **who, "order_id": "ORD-20261120-001",
         "services": ["fiber_1000m", "iptv"]},
        {"event_id": "act-1", "type": "service.activated", "occurred_at": ago(days=2), **who,
         "order_id": "ORD-20261120-001", "service": "iptv"},
        {"event_id": "app-1", "type": "contact.logged", "occurred_at": ago(days=1, hours=2), **who, "channel": "app",
         "direction": "inbound", "reason": "查询本月账单", "handled_by": "app", "outcome": "resolved"},
        {"event_id": "call-1", "type": "contact.logged", "occurred_at": ago(hours=3), **who, "channel": "hotline",
         "direction": "inbound", "reason": "账单多扣费投诉", "handled_by": "10086-agent-7", "duration_s": 420,
         "outcome": "transferred", "complaint_id": "K1"},
        {"event_id": "k1-opened", "type": "complaint.opened", "occurred_at": ago(hours=3), **who, "complaint_id": "K1",
         "category": "计费争议", "severity": "high", "summary": "上月账单多扣 30 元流量费，客户要求退还",
         "channel": "hotline", "handled_by": "10086-agent-7"},
        {"event_id": "k1-handover", "type": "complaint.handed_over", "occurred_at": ago(hours=2, minutes=40), **who,
         "complaint_id": "K1", "to": "billing-backoffice-2", "reason": "需核对计费详单", "by": "10086-agent-7",
         "channel": "hotline"},
    ]


# --- the test ---------------------------------------------------------------------------------------------


def test_a_clerk_finds_and_resolves_a_hotline_complaint(server: Server, browser: WebDriver, tmp_path: Path) -> None:
    position = post_as_each_channel(server, hotline_history())
    call(server.url, server.keys["clerk"], "GET", f"/v1/customers/C1?min_position={position}")  # read our own write
    wait = WebDriverWait(browser, 10)

    browser.get(server.url + "/desk")  # no login yet: the login page
    wait.until(lambda b: "/desk/login" in b.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "登录"
    key = browser.find_element(By.NAME, "key")
    key.send_keys("ch_not_a_key")
    key.submit()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="login-problem"]'))
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="login-problem"]').text == "密钥无效：格式不对、不存在或已被吊销。"
    key = browser.find_element(By.NAME, "key")
    key.send_keys(server.keys["clerk"])
    key.submit()
    wait.until(lambda b: b.current_url == server.url + "/desk")
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="who"]').text == f"{CLERK}（营业员）"

    search = browser.find_element(By.NAME, "q")
    search.send_keys("+86 138 0013 8000")
    search.submit()
    wait.until(lambda b: b.current_url.endswith("/desk/customers/C1"))

    card = browser.find_element(By.CSS_SELECTOR, '[data-complaint-id="K1"]')
    assert card.find_element(By.CSS_SELECTOR, '[data-testid="status"]').text == "已受理"
    assert card.find_element(By.CSS_SELECTOR, '[data-testid="owner"]').text == "billing-backoffice-2"
    countdown = card.find_element(By.CSS_SELECTOR, '[data-testid="sla"]')
    assert countdown.text.startswith("剩余 4小时"), countdown.text  # gold, high: 8 hours, 3 gone
    assert "sla-on_track" in (countdown.get_attribute("class") or "")

    shot = tmp_path / "desk.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CONTACTHUB_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(shot.read_bytes())

    form = card.find_element(By.CSS_SELECTOR, 'form[data-action="resolve"]')
    form.find_element(By.NAME, "resolution").send_keys("已核实多扣 30 元，当场办理退费")
    assert form.find_element(By.CSS_SELECTOR, '[data-testid="acting-as"]').text == CLERK  # acts as the logged-in clerk
    assert form.find_element(By.CSS_SELECTOR, 'select[name="channel"] option:checked').get_attribute("value") == "store"
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()

    def resolved(b: WebDriver) -> bool:
        try:
            return b.find_element(By.CSS_SELECTOR, '[data-complaint-id="K1"]').get_attribute("data-status") == "resolved"
        except StaleElementReferenceException:
            return False
        except WebDriverException as e:
            # The form's POST reloads the page: between finding the card and reading it,
            # Chromium may report the old node as gone this way instead. Not resolved yet.
            if "does not belong to the document" in str(e):
                return False
            raise

    wait.until(resolved)
    card = browser.find_element(By.CSS_SELECTOR, '[data-complaint-id="K1"]')
    assert card.find_element(By.CSS_SELECTOR, '[data-testid="status"]').text == "已解决"
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="flash"]').text == "已办理：解决（K1）"
    assert card.find_elements(By.CSS_SELECTOR, 'form[data-action="follow_up"]')

    complaint = call(server.url, server.keys["clerk"], "GET", "/v1/complaints/K1")
    assert complaint["status"] == "resolved"
    last = complaint["history"][-1]
    assert (last["type"], last["by"], last["channel"]) == ("complaint.resolved", CLERK, "store")


def test_a_clerk_opens_a_complaint_and_logs_the_visit_at_the_counter(server: Server, browser: WebDriver) -> None:
    """A customer walks in with a new problem: the clerk accepts the complaint (and owns it), then logs the visit."""
    position = call(server.url, server.keys["boss"], "POST", "/v1/events", {"events": hotline_history()[:1]})["position"]
    call(server.url, server.keys["clerk"], "GET", f"/v1/customers/C1?min_position={position}")
    wait = WebDriverWait(browser, 10)
    browser.get(server.url + "/desk/login")
    key = browser.find_element(By.NAME, "key")
    key.send_keys(server.keys["clerk"])
    key.submit()
    wait.until(lambda b: b.current_url == server.url + "/desk")
    browser.get(server.url + "/desk/customers/C1?lang=en")  # English from here on (the choice is remembered)

    opening = browser.find_element(By.CSS_SELECTOR, 'form[data-form="open"]')
    assert opening.find_element(By.TAG_NAME, "h3").text == "Open a complaint (you own it)"
    opening.find_element(By.NAME, "category").send_keys("网络质量")
    opening.find_element(By.CSS_SELECTOR, 'select[name="severity"] option[value="high"]').click()
    opening.find_element(By.NAME, "summary").send_keys("家中宽带晚间频繁掉线")
    opening.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait.until(lambda b: "/desk/complaints/CP" in b.current_url)
    complaint_id = browser.current_url.rsplit("/", 1)[1]
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="flash"]').text == f"Done: complaint opened ({complaint_id})"
    card = browser.find_element(By.CSS_SELECTOR, f'[data-complaint-id="{complaint_id}"]')
    assert card.find_element(By.CSS_SELECTOR, '[data-testid="owner"]').text == CLERK
    assert card.find_element(By.CSS_SELECTOR, '[data-testid="first-response"]').get_attribute("data-state") == "on_track"

    browser.get(server.url + "/desk/customers/C1")
    visit = browser.find_element(By.CSS_SELECTOR, 'form[data-form="visit"]')
    visit.find_element(By.NAME, "reason").send_keys("报障并受理投诉")
    visit.find_element(By.CSS_SELECTOR, 'select[name="outcome"] option[value="transferred"]').click()
    visit.find_element(By.CSS_SELECTOR, f'select[name="complaint_id"] option[value="{complaint_id}"]').click()
    visit.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="flash"]'))
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="flash"]').text == "Done: visit logged (C1)"
    row = browser.find_element(By.CSS_SELECTOR, '[data-testid="timeline"] tr[data-channel="store"]')
    assert CLERK in row.text and "报障并受理投诉" in row.text and complaint_id in row.text

    complaint = call(server.url, server.keys["clerk"], "GET", f"/v1/complaints/{complaint_id}")
    assert (complaint["owner"], complaint["opened_channel"], complaint["severity"]) == (CLERK, "store", "high")
    assert [c["reason"] for c in complaint["related_contacts"]] == ["报障并受理投诉"]
