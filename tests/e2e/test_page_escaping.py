"""The pages (the desk and the analytics page) escape everything they show.

Every free-text field a channel can post (a customer's name, a contact's reason, handler and
site, a complaint's category, summary, owner, handover, every step's reason, note and
resolution and who took it), every key name, and every value a request carries back into a
page (the search, the login's next page, the analytics period, a form refused with what was
typed, the desk's staff-id cookie) holds HTML and script: `<script>`, a tag closing an
attribute, both kinds of quote, an ampersand. Each page that shows one must show it escaped
and never as markup. The pages have no JavaScript at all, so no `<script` or `<img` may
appear in them. Logged in with real keys, on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import Role
from helpers import complaint_opened, contact, event, registered
from support.auth import new_key
from support.databases import BACKENDS, fresh_database_url


def hostile(where: str) -> str:
    """Text that is markup if a page forgets to escape it, different for every field so each can be found."""
    return f"<script>alert('{where}')</script>\"'><img src=x onerror=alert(1)>&amp;"


KEY_NAME = "<script>alert(1)</script>\"'&"
"""A key's name (at most 64 characters): shown as who is logged in on every page. New keys may no longer be
named so (adapters/store/api_keys.py, `name_problem`); keys named before that rule still are (`named_key`)."""


def named_key(hub: ContactHub, role: Role, name: str) -> str:
    """A key whose name is `name` whatever the naming rule: made with a plain name, then renamed in the database."""
    key = new_key(hub, role, f"plain-{role.value}-{len(name)}")
    with hub.event_log.read_store.transaction(commit=True) as sql:
        sql.execute("UPDATE api_keys SET name = ? WHERE key_id = ?", (name, key.split("_")[1]))
    return key

CUSTOMER, NUMBER = "C-esc", "13800138000"
ACTIVE, FINISHED, OPEN = "K-esc-active", "K-esc-finished", "K-esc-open"
WHO = {"customer_id": CUSTOMER}
TEXT = {field: hostile(field) for field in (
    "name", "contact reason", "handler", "site", "category", "summary", "owner", "handover to", "handover reason",
    "handover by", "pend reason", "resume reason", "note", "escalation reason", "resolution", "resolution by",
    "finished category", "finished summary", "open owner",
)}


def history() -> list[dict[str, Any]]:
    """A customer all of whose free text is hostile: an active complaint with every kind of step, a finished one, an open one."""
    def step(type_: str, complaint: str = ACTIVE, by: str = "agent-7", **fields: Any) -> dict[str, Any]:
        return event(type_, WHO, complaint_id=complaint, **{**fields, "by": by})

    return [
        registered(CUSTOMER, (NUMBER,), name=TEXT["name"]),
        contact(WHO, reason=TEXT["contact reason"], handled_by=TEXT["handler"], site=TEXT["site"], complaint_id=ACTIVE),
        complaint_opened(ACTIVE, WHO, category=TEXT["category"], summary=TEXT["summary"], handled_by=TEXT["owner"]),
        step("complaint.handed_over", to=TEXT["handover to"], reason=TEXT["handover reason"], by=TEXT["handover by"]),
        step("complaint.pended", reason=TEXT["pend reason"]),
        step("complaint.resumed", reason=TEXT["resume reason"]),
        step("complaint.noted", text=TEXT["note"]),
        step("complaint.escalated", reason=TEXT["escalation reason"]),
        step("complaint.resolved", resolution=TEXT["resolution"], by=TEXT["resolution by"]),
        complaint_opened(FINISHED, WHO, category=TEXT["finished category"], summary=TEXT["finished summary"]),
        step("complaint.resolved", FINISHED, resolution="done"),
        step("complaint.closed", FINISHED),
        complaint_opened(OPEN, WHO, handled_by=TEXT["open owner"]),
    ]


@dataclass
class Pages:
    hub: ContactHub
    client: TestClient
    """Logged in at /desk/login with a clerk key named KEY_NAME."""


@pytest.fixture(scope="module", params=BACKENDS)
def pages(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    url = fresh_database_url(str(request.param), request, tmp_path_factory)
    hub = build(Settings(database_url=url, read_wait_timeout_s=3.0, log_format="console", sla_watch_interval_s=0))
    try:
        position = hub.ingest.ingest(history()).position
        clerk = named_key(hub, Role.CLERK, KEY_NAME)
        with TestClient(create_app(hub)) as client:
            assert hub.projector.wait_for(position, 10)
            login = client.post("/desk/login", data={"key": clerk, "next": "/desk"}, follow_redirects=False)
            assert login.status_code == 303, login.text
            yield Pages(hub, client)
    finally:
        hub.close()


def assert_escaped(page: str, *shown: str) -> None:
    """`page` shows each of `shown` escaped, and no hostile text anywhere as markup."""
    assert "<script" not in page and "<img" not in page, "markup from data in the page"
    for text in (*TEXT.values(), KEY_NAME, *shown):
        assert text not in page, f"unescaped: {text!r}"
    for text in shown:
        assert str(escape(text)) in page, f"not shown (escaped): {text!r}"


def test_the_customer_page_escapes_every_text_of_the_customer(pages: Pages) -> None:
    page = pages.client.get(f"/desk/customers/{CUSTOMER}")

    assert page.status_code == 200, page.text
    assert_escaped(page.text, KEY_NAME, *(TEXT[f] for f in (
        "name", "contact reason", "handler", "site", "category", "summary", "handover to", "handover reason", "owner",
        "resolution", "finished category", "finished summary", "open owner")))


def test_the_complaint_page_escapes_every_step_and_who_took_it(pages: Pages) -> None:
    page = pages.client.get(f"/desk/complaints/{ACTIVE}")

    assert page.status_code == 200, page.text
    assert_escaped(page.text, KEY_NAME, *(TEXT[f] for f in (
        "name", "contact reason", "handler", "site", "category", "summary", "owner", "handover to", "handover reason",
        "handover by", "pend reason", "resume reason", "note", "escalation reason", "resolution", "resolution by")))


def test_the_search_echoes_what_was_typed_escaped(pages: Pages) -> None:
    typed = hostile("search")
    page = pages.client.get("/desk", params={"q": typed})

    assert page.status_code == 422, page.text
    assert_escaped(page.text, typed, KEY_NAME)


def test_an_unknown_customer_or_complaint_in_the_path_is_echoed_escaped(pages: Pages) -> None:
    for kind in ("customers", "complaints"):
        asked = f"<img src=x onerror=alert('{kind}')>\"'&amp;"  # no `/`: the page's route takes one path segment
        page = pages.client.get(f"/desk/{kind}/{quote(asked, safe='')}")

        assert page.status_code == 404, page.text
        assert_escaped(page.text, asked)


def test_a_refused_form_shows_what_was_typed_and_why_escaped(pages: Pages) -> None:
    typed = {"reason": hostile("form reason")}
    # A handover to the owner it already has: 409 on `to`, the message naming that owner.
    page = pages.client.post(f"/desk/complaints/{OPEN}/actions", follow_redirects=False, data={
        "action": "handover", "to": TEXT["open owner"], "channel": "store", "return_to": f"/desk/complaints/{OPEN}",
        "event_id": "desk-escape-handover", **typed,
    })

    assert page.status_code == 409, page.text
    assert 'data-field="to"' in page.text
    assert_escaped(page.text, TEXT["open owner"], *typed.values())


def test_a_step_at_the_desk_is_recorded_as_the_logged_in_clerk_escaped_whatever_the_form_says(pages: Pages) -> None:
    """A desk step is taken by whoever is logged in (issue 16, F4): a `by` slipped into the form is not recorded."""
    staff = hostile("staff")
    noted = pages.client.post(f"/desk/complaints/{OPEN}/actions", follow_redirects=False, data={
        "action": "note", "text": "called back", "by": staff, "channel": "store", "return_to": f"/desk/customers/{CUSTOMER}",
        "event_id": "desk-escape-note",
    })
    assert noted.status_code == 303, noted.text

    page = pages.client.get(f"/desk/complaints/{OPEN}")

    assert page.status_code == 200, page.text
    assert_escaped(page.text, KEY_NAME)
    assert f'data-by="{escape(KEY_NAME)}"' in page.text and escape(staff) not in page.text


def test_the_analytics_page_echoes_its_period_and_tier_escaped(pages: Pages) -> None:
    for name in ("from", "to", "tier"):
        asked = hostile(name)[:40]  # the page echoes at most 40 characters of a bad value in its message
        page = pages.client.get("/analytics", params={name: asked})

        assert page.status_code == 422, page.text
        assert_escaped(page.text, asked, KEY_NAME)


def test_the_analytics_page_shows_the_period_escaped(pages: Pages) -> None:
    page = pages.client.get("/analytics", params={"from": "2026-10-01", "to": "2026-11-30"})

    assert page.status_code == 200, page.text
    assert_escaped(page.text, KEY_NAME)


def test_the_login_page_escapes_where_it_leads_and_who_may_not_log_in(pages: Pages) -> None:
    next_page = f"/desk?q={hostile('next')}"
    login = pages.client.get("/desk/login", params={"next": next_page})
    assert login.status_code == 200, login.text
    assert_escaped(login.text, next_page)

    admin = named_key(pages.hub, Role.ADMIN, KEY_NAME + "admin")
    refused = pages.client.post("/desk/login", data={"key": admin, "next": next_page}, follow_redirects=False)
    assert refused.status_code == 403, refused.text
    assert_escaped(refused.text, KEY_NAME + "admin", next_page)


def test_a_page_refused_to_a_role_names_the_key_escaped(pages: Pages) -> None:
    auditor = named_key(pages.hub, Role.AUDITOR, KEY_NAME + "auditor")
    with TestClient(create_app(pages.hub)) as client:
        assert client.post("/desk/login", data={"key": auditor}, follow_redirects=False).status_code == 303
        page = client.post(f"/desk/complaints/{OPEN}/actions", follow_redirects=False,
                           data={"action": "note", "text": "n", "by": "b", "channel": "store"})

    assert page.status_code == 403, page.text
    assert 'data-reason="forbidden"' in page.text
    assert_escaped(page.text, KEY_NAME + "auditor")
