"""Headers and assets (issue 16, F9): no framing, nosniff, no-store on personal data, a content policy,
and an API docs page that needs no internet.

The probe found pages without frame protection, `nosniff` or `Cache-Control: no-store`, and `/docs`
loading swagger-ui from a public CDN on the login cookie's origin (broken on an intranet).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import Role
from support.auth import bearer, new_key
from support.browser import headless_chromium, serving


def test_every_answer_forbids_framing_and_sniffing_and_personal_data_is_never_cached(hub: ContactHub) -> None:
    clerk = new_key(hub, Role.CLERK, "store-0571-03")
    with TestClient(create_app(hub)) as client:
        assert client.post("/desk/login", data={"key": clerk}, follow_redirects=False).status_code == 303
        answers = {
            "/desk": client.get("/desk"),
            "/analytics": client.get("/analytics"),
            "/desk/login": client.get("/desk/login"),
            "/v1/complaints": client.get("/v1/complaints", headers=bearer(clerk)),
            "/v1/customers/C404": client.get("/v1/customers/C404", headers=bearer(clerk)),
            "/docs": client.get("/docs"),
            "/openapi.json": client.get("/openapi.json"),
        }
        for path, answer in answers.items():
            assert answer.headers["x-content-type-options"] == "nosniff", path
            assert answer.headers["x-frame-options"] == "DENY", path
            assert answer.headers["cache-control"] == "no-store", path
        for path in ("/desk", "/analytics", "/desk/login", "/docs"):
            policy = answers[path].headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy, path
            assert "http:" not in policy and "https:" not in policy and "*" not in policy, path
        assert "script-src" not in answers["/desk"].headers["content-security-policy"]  # default-src 'none': no script
        stylesheet = client.get("/desk/static/desk.css")
        assert stylesheet.status_code == 200 and "no-store" not in stylesheet.headers.get("cache-control", "")


def test_the_api_docs_page_loads_only_assets_installed_with_the_package(hub: ContactHub, tmp_path: Path) -> None:
    with TestClient(create_app(hub)) as client:
        page = client.get("/docs").text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
        for source in sources:
            assert client.get(source).status_code == 200, source
        assert "cdn" not in page.lower() and "https://" not in page
        redoc = client.get("/redoc").text
        assert "/docs/assets/redoc.standalone.js" in redoc and "https://" not in redoc.split("<body>")[0]

    # In a browser with no route to the internet, under the page's content policy, Swagger UI draws the operations.
    with serving(create_app(hub)) as base, headless_chromium(tmp_path / "profile", "the API docs page", "1200,900",
                                                               ["--proxy-server=http://127.0.0.1:9",
                                                                "--proxy-bypass-list=127.0.0.1"]) as browser:
        browser.get(f"{base}/docs")
        WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert "/v1/events" in paths and "/v1/customers/{customer_id}" in paths
        problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert problems == [], problems
