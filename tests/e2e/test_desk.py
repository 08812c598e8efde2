"""The store clerk's desk (/desk): find the customer, see the complaint and its clock, act on it.

Page-level tests through the HTTP app, on SQLite and on PostgreSQL (see conftest.py). The
same journey in a real browser: test_desk_browser.py.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacthub.bootstrap import ContactHub
from helpers import complaint_opened, contact, event, registered
from support.clock import ManualClock

CLERK = "store-0571-03"


# --- small readers ------------------------------------------------------------------------


def given(client: TestClient, hub: ContactHub, *events: dict[str, Any]) -> int:
    """Post events as the channels do, and wait until the pages can show them."""
    response = client.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    position = response.json()["position"]
    assert hub.projector.wait_for(position, 5)
    return int(position)


def hotline_complaint(complaint_id: str = "K1", **extra: Any) -> list[dict[str, Any]]:
    """A gold customer who called the hotline and complained (the first half of the story)."""
    return [
        registered(),
        contact(complaint_id=complaint_id),
        complaint_opened(complaint_id, **extra),
    ]


def card(page: str, complaint_id: str) -> str:
    """The HTML of one complaint card."""
    match = re.search(rf'<article[^>]*data-complaint-id="{re.escape(complaint_id)}".*?</article>', page, re.DOTALL)
    assert match, f"no card for {complaint_id}"
    return match.group(0)


def form_action(client: TestClient, complaint_id: str, **fields: Any) -> Any:
    return client.post(f"/desk/complaints/{complaint_id}/actions", data=fields, follow_redirects=False)


def log_head(client: TestClient) -> int:
    return int(client.get("/v1/status").json()["log_position"])


def at(clock: ManualClock) -> str:
    return clock.now.isoformat()


# --- finding the customer ---------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["13800138000", "+8613800138000", "0086 138 0013 8000", " 138-0013-8000 "])
def test_a_phone_number_leads_to_the_customer(client: TestClient, hub: ContactHub, typed: str) -> None:
    given(client, hub, *hotline_complaint())

    response = client.get("/desk", params={"q": typed}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/desk/customers/C1"
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "王芳" in page.text and 'data-complaint-id="K1"' in page.text


def test_a_customer_id_or_a_complaint_id_leads_to_the_customer(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())

    assert client.get("/desk", params={"q": "C1"}, follow_redirects=False).headers["location"] == "/desk/customers/C1"
    by_complaint = client.get("/desk", params={"q": "K1"}, follow_redirects=False)
    assert by_complaint.status_code == 303
    assert by_complaint.headers["location"] == "/desk/customers/C1#complaint-K1"


def test_the_desk_opens_on_a_search_box(client: TestClient) -> None:
    response = client.get("/desk")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in response.text
    assert re.search(r'<input[^>]*name="q"', response.text)
    assert 'href="/desk/static/desk.css"' in response.text
    assert client.get("/desk/static/desk.css").status_code == 200


def test_an_unknown_number_says_so(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())

    response = client.get("/desk", params={"q": "13900000000"})

    assert response.status_code == 404
    assert "未找到与「13900000000」匹配的客户或投诉" in response.text
    english = client.get("/desk", params={"q": "+8613900000000", "lang": "en"})
    assert english.status_code == 404
    assert 'No customer or complaint matches "+8613900000000"' in html.unescape(english.text)


def test_input_that_cannot_match_is_refused(client: TestClient) -> None:
    response = client.get("/desk", params={"q": "王芳 <b>"})

    assert response.status_code == 422
    assert "不是手机号码、客户编号或投诉单号" in response.text
    assert "<b>" not in response.text  # the input is shown back, escaped
    assert "王芳 &lt;b&gt;" in response.text


def test_unknown_customer_and_complaint_pages_are_404_pages(client: TestClient) -> None:
    for url, text in (("/desk/customers/C404", "没有编号为「C404」的客户"), ("/desk/complaints/K404", "没有单号为「K404」的投诉")):
        response = client.get(url)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert text in response.text


# --- what the clerk sees -----------------------------------------------------------------------


def test_the_complaint_card_shows_owner_clock_and_every_channel(clocked_client: TestClient, clocked_hub: ContactHub,
                                                                clock: ManualClock) -> None:
    """The story: a hotline complaint, handed to the back office, seen two hours later at the store."""
    given(clocked_client, clocked_hub,
          registered(occurred_at=at(clock)),
          contact(complaint_id="K1", occurred_at=at(clock)),
          complaint_opened("K1", occurred_at=at(clock)))
    clock.advance(minutes=30)
    given(clocked_client, clocked_hub,
          event("complaint.handed_over", complaint_id="K1", to="billing-backoffice-2", reason="需核对计费记录",
                occurred_at=at(clock)),
          contact({"customer_id": "C1"}, channel="app", reason="查询账单", handled_by="app", occurred_at=at(clock)))
    clock.advance(hours=1, minutes=18)

    page = clocked_client.get("/desk/customers/C1")

    assert page.status_code == 200
    k1 = card(page.text, "K1")
    assert 'data-testid="owner">billing-backoffice-2<' in k1
    assert "agent-7 → <strong>billing-backoffice-2</strong> · 需核对计费记录" in k1  # the ownership change
    assert re.search(r'class="sla sla-on_track"[^>]*>剩余 6小时12分<', k1)  # gold, high: 8 hours
    assert "上月账单多扣 30 元" in k1
    assert "2026-11-02 09:00 · 热线" in k1  # opened: when and where
    assert "已受理" in k1
    assert re.findall(r'data-action="(\w+)"', k1) == ["resolve", "handover", "note"]
    timeline = page.text[page.text.index('data-testid="timeline"'):]
    assert timeline.index('data-channel="app"') < timeline.index('data-channel="hotline"')  # newest first
    assert 'href="/desk/complaints/K1"' in timeline


def test_the_clock_turns_amber_then_red_and_grey_while_pending(clocked_client: TestClient, clocked_hub: ContactHub,
                                                               clock: ManualClock) -> None:
    given(clocked_client, clocked_hub, registered(occurred_at=at(clock)), complaint_opened("K1", occurred_at=at(clock)))

    def sla() -> tuple[str, str]:
        k1 = card(clocked_client.get("/desk/customers/C1").text, "K1")
        match = re.search(r'class="sla sla-(\w+)"[^>]*>([^<]*)<', k1)
        assert match
        return match.group(1), match.group(2)

    assert sla() == ("on_track", "剩余 8小时")
    clock.advance(hours=6, minutes=30)
    assert sla() == ("due_soon", "剩余 1小时30分")
    clock.advance(hours=3, minutes=45)
    assert sla() == ("breached", "已超时 2小时15分")
    clock.advance(days=2)
    assert sla() == ("breached", "已超时 2天2小时")
    assert 'class="complaint card sla-edge-breached"' in clocked_client.get("/desk/customers/C1").text

    given(clocked_client, clocked_hub, registered("C2", ("13900139000",), occurred_at=at(clock)),
          complaint_opened("K2", {"customer_id": "C2"}, occurred_at=at(clock)))
    clock.advance(hours=1)
    given(clocked_client, clocked_hub,
          event("complaint.pended", {"customer_id": "C2"}, complaint_id="K2", reason="请客户提供缴费凭证",
                occurred_at=at(clock)))
    clock.advance(hours=5)
    k2 = card(clocked_client.get("/desk/customers/C2").text, "K2")
    assert re.search(r'class="sla sla-paused"[^>]*>已暂停 · 剩余 7小时<', k2)


def test_the_complaint_page_shows_its_whole_history(clocked_client: TestClient, clocked_hub: ContactHub,
                                                    clock: ManualClock) -> None:
    given(clocked_client, clocked_hub, registered(occurred_at=at(clock)),
          contact(complaint_id="K1", occurred_at=at(clock)), complaint_opened("K1", occurred_at=at(clock)))
    clock.advance(hours=1)
    given(clocked_client, clocked_hub,
          event("complaint.handed_over", complaint_id="K1", to="billing-backoffice-2", reason="需核对计费记录",
                occurred_at=at(clock)),
          contact(complaint_id="K1", channel="store", site="杭州西湖营业厅", handled_by=CLERK, reason="催办投诉",
                  occurred_at=at(clock)))
    form_action(clocked_client, "K1", action="note", text="客户到厅催办，已电话联系后台", by=CLERK, channel="store")

    page = clocked_client.get("/desk/complaints/K1")

    assert page.status_code == 200
    text = page.text
    sla = text[text.index('data-testid="sla-detail"'):text.index('data-testid="status-history"')]
    assert "cn-default-2026-12" in sla and "8小时" in sla and "2026-11-02 17:00" in sla
    ownership = text[text.index('data-testid="ownership-history"'):text.index('data-testid="related-contacts"')]
    assert ownership.count("<tr>") == 3  # header, opened by agent-7, handed to the back office
    assert "billing-backoffice-2" in ownership and "需核对计费记录" in ownership
    related = text[text.index('data-testid="related-contacts"'):text.index('data-testid="history"')]
    assert 'data-channel="hotline"' in related and 'data-channel="store"' in related and "杭州西湖营业厅" in related
    history = text[text.index('data-testid="history"'):]
    assert "客户到厅催办，已电话联系后台" in history and f'data-by="{CLERK}" data-channel="store"' in history


def test_complaint_text_is_escaped(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint(summary='<script>alert("x")</script> & <b>多扣</b>'))

    for url in ("/desk/customers/C1", "/desk/complaints/K1"):
        page = client.get(url).text
        assert "<script>" not in page and "<b>" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;多扣&lt;/b&gt;" in page


def test_english_is_a_switch_away_and_remembered(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())

    chinese = client.get("/desk/customers/C1")
    assert '<html lang="zh-CN">' in chinese.text and "已受理" in chinese.text and "金卡" in chinese.text
    assert 'href="/desk/customers/C1?lang=en"' in chinese.text

    english = client.get("/desk/customers/C1", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "Acknowledged" in english.text and "Gold" in english.text and "Hotline" in english.text
    assert "已受理" not in english.text

    remembered = client.get("/desk/complaints/K1")  # no ?lang: the cookie
    assert '<html lang="en">' in remembered.text and "Status history" in remembered.text
    back = client.get("/desk", params={"lang": "zh"})
    assert '<html lang="zh-CN">' in back.text
    assert '<html lang="zh-CN">' in client.get("/desk/customers/C1").text


# --- acting at the counter ------------------------------------------------------------------------


def test_a_hotline_complaint_is_resolved_at_the_store(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())
    k1 = card(client.get("/desk/customers/C1").text, "K1")
    assert 'data-action="resolve"' in k1 and 'data-action="follow_up"' not in k1

    response = form_action(client, "K1", action="resolve", resolution="已退回多扣的 30 元话费", by=CLERK, channel="store",
                           return_to="/desk/customers/C1#complaint-K1")

    assert response.status_code == 303
    assert response.headers["location"] == "/desk/customers/C1#complaint-K1"
    complaint = client.get("/v1/complaints/K1").json()
    assert complaint["status"] == "resolved"
    assert complaint["resolution"] == "已退回多扣的 30 元话费"
    last = complaint["history"][-1]
    assert (last["type"], last["by"], last["channel"]) == ("complaint.resolved", CLERK, "store")
    assert complaint["status_change_history"][-1]["channel"] == "store"

    page = client.get("/desk/customers/C1")
    assert "已办理：解决（K1）" in page.text  # the flash, once
    k1 = card(page.text, "K1")
    assert 'data-status="resolved"' in k1 and "已解决" in k1
    assert 'data-action="follow_up"' in k1 and 'data-action="resolve"' not in k1
    assert f'data-testid="acting-as">{CLERK}<' in k1  # the step is taken as the logged-in clerk
    assert "已办理" not in client.get("/desk/customers/C1").text


def test_follow_up_and_handover_through_the_forms(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())

    handed = form_action(client, "K1", action="handover", to="billing-backoffice-2", reason="需核对计费记录",
                         by=CLERK, channel="store")
    assert handed.status_code == 303 and handed.headers["location"] == "/desk/complaints/K1"
    assert form_action(client, "K1", action="resolve", resolution="已退费", by=CLERK, channel="store").status_code == 303
    assert form_action(client, "K1", action="follow_up", satisfaction="5", by=CLERK, channel="hotline").status_code == 303

    complaint = client.get("/v1/complaints/K1").json()
    assert complaint["owner"] == "billing-backoffice-2"
    assert complaint["satisfaction"] == 5
    assert [h["type"] for h in complaint["history"]][-3:] == [
        "complaint.handed_over", "complaint.resolved", "complaint.followed_up"]
    k1 = card(client.get("/desk/complaints/K1").text, "K1")
    assert 'data-testid="owner">billing-backoffice-2<' in k1 and "5 / 5" in k1


def test_an_illegal_action_is_refused_with_409_and_nothing_is_stored(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())
    before = log_head(client)

    response = form_action(client, "K1", action="follow_up", satisfaction="4", by=CLERK, channel="store",
                           return_to="/desk/customers/C1#complaint-K1")

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-testid="form-error" data-status="409"' in response.text
    assert "未能办理「回访」（K1），未作任何记录" in response.text
    assert '<li data-field="action"><strong>操作</strong> <code>action</code>' in response.text
    assert "投诉当前状态为「已受理」，不能办理「回访」" in response.text
    assert 'data-testid="customer"' in response.text  # the page the clerk was on
    assert log_head(client) == before
    assert client.get("/v1/complaints/K1").json()["status"] == "acknowledged"

    client.get("/desk", params={"lang": "en"})
    english = form_action(client, "K1", action="follow_up", satisfaction="4", by=CLERK, channel="store")
    assert english.status_code == 409
    assert "Could not follow up K1; nothing was recorded" in english.text
    assert 'The complaint is Acknowledged; "follow up" is not allowed.' in html.unescape(english.text)
    assert log_head(client) == before


def test_a_missing_field_is_named_and_what_was_typed_is_kept(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())
    before = log_head(client)

    response = form_action(client, "K1", action="handover", to="billing-backoffice-2", reason=" ", by=CLERK,
                           channel="store")

    assert response.status_code == 422
    assert '<li data-field="reason"><strong>原因</strong> <code>reason</code>: 必填' in response.text
    failed = re.search(r'<form class="action-form action-handover failed".*?</form>', response.text, re.DOTALL)
    assert failed, "the handover form is marked"
    assert 'value="billing-backoffice-2"' in failed.group(0) and f'acting-as">{CLERK}<' in failed.group(0)
    assert re.search(r'name="reason"[^>]*aria-invalid="true"', failed.group(0))
    bad_channel = form_action(client, "K1", action="resolve", resolution="ok", by=CLERK, channel="shop")
    assert bad_channel.status_code == 422 and 'data-field="channel"' in bad_channel.text
    assert log_head(client) == before


def test_unknown_complaint_and_unsafe_return_addresses(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())

    assert form_action(client, "K404", action="note", text="x", by=CLERK, channel="store").status_code == 404
    for unsafe in ("https://example.com/desk/", "//example.com/desk/", "/v1/complaints/K1", "/desk/../v1/status"):
        response = form_action(client, "K1", action="note", text="客户来电催办", by=CLERK, channel="store",
                               return_to=unsafe)
        assert response.status_code == 303
        assert response.headers["location"] == "/desk/complaints/K1"
    not_a_form = client.post("/desk/complaints/K1/actions", json={"action": "note"})
    assert not_a_form.status_code == 422


def test_the_api_and_the_desk_agree_on_the_clock(clocked_client: TestClient, clocked_hub: ContactHub,
                                                 clock: ManualClock) -> None:
    given(clocked_client, clocked_hub, registered(occurred_at=at(clock)), complaint_opened("K1", occurred_at=at(clock)))
    clock.advance(hours=9)

    api = clocked_client.get("/v1/complaints/K1").json()["sla"]
    k1 = card(clocked_client.get("/desk/customers/C1").text, "K1")

    assert api["state"] == "breached" and api["overdue_s"] == int(timedelta(hours=1).total_seconds())
    assert re.search(r'class="sla sla-breached"[^>]*>已超时 1小时<', k1)


def test_a_form_submitted_twice_records_one_note(client: TestClient, hub: ContactHub) -> None:
    given(client, hub, *hotline_complaint())
    k1 = card(client.get("/desk/customers/C1").text, "K1")
    note_form = re.search(r'<form[^>]*data-action="note".*?</form>', k1, re.DOTALL)
    assert note_form
    key = re.search(r'name="event_id" value="([^"]+)"', note_form.group(0))
    assert key

    for _ in range(2):  # a double click, or the browser resubmitting
        response = form_action(client, "K1", action="note", text="客户到厅询问进度", by=CLERK, channel="store",
                               event_id=key.group(1))
        assert response.status_code == 303

    history = client.get("/v1/complaints/K1").json()["history"]
    assert [h["type"] for h in history].count("complaint.noted") == 1


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}],
)
def test_a_form_posted_from_another_site_is_refused_and_stores_nothing(
    client: TestClient, hub: ContactHub, headers: dict[str, str]
) -> None:
    given(client, hub, *hotline_complaint())
    before = log_head(client)

    response = client.post("/desk/complaints/K1/actions", headers=headers, follow_redirects=False,
                           data={"action": "resolve", "resolution": "x", "by": CLERK, "channel": "store"})

    assert response.status_code == 403
    assert log_head(client) == before
    same_site = client.post("/desk/complaints/K1/actions", follow_redirects=False,
                            headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
                            data={"action": "note", "text": "x", "by": CLERK, "channel": "store"})
    assert same_site.status_code == 303
