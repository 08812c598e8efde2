"""The webhook rules (domain/subscriptions.py): where a callback may go, what a query asks for, the
signature, the back-off, and which TMF621 notifications a complaint step gives."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contacthub.contract import DOMAIN_EVENTS
from contacthub.domain.subscriptions import (
    LONGEST_WAIT_S,
    QueryProblem,
    SubscriptionApi,
    callback_problem,
    parse_allowed_hosts,
    parse_query,
    retry_delay,
    signature,
    trouble_ticket_notifications,
)

ALLOWED = parse_allowed_hosts(" Hooks.Example.cn , 10.1.2.3:8443, [::1]:9000 ,")


@pytest.mark.parametrize(("callback", "allowed"), [
    ("https://hooks.example.cn/contacthub", True),
    ("http://HOOKS.example.cn/x?y=1", True),
    ("https://hooks.example.cn:443/x", True),
    ("https://hooks.example.cn:6379/x", False),  # a host alone allows its scheme's own port only
    ("https://10.1.2.3:8443/in", True),
    ("https://10.1.2.3/in", False),
    ("http://[::1]:9000/in", True),
    ("http://[::1]/in", False),
    ("https://hooks.example.cn.evil.com/x", False),
    ("https://evil.com#@hooks.example.cn/", False),
    ("https://hooks.example.cn@evil.com/", False),
    ("https://user:pw@hooks.example.cn/", False),
    ("ftp://hooks.example.cn/", False),
    ("file:///etc/passwd", False),
    (" https://hooks.example.cn/", False),
    ("https://hooks.example.cn/\r\nX: y", False),
    ("https://hooks.example.cn:99999/", False),
    ("//hooks.example.cn/", False),
])
def test_a_callback_goes_only_where_the_operator_allowed(callback: str, allowed: bool) -> None:
    assert (callback_problem(callback, ALLOWED) is None) is allowed


def test_nothing_is_allowed_until_hosts_are_listed() -> None:
    problem = callback_problem("https://hooks.example.cn/", parse_allowed_hosts(""))
    assert problem is not None and "CONTACTHUB_CALLBACK_HOSTS" in problem


def test_a_query_names_types_channels_and_tiers() -> None:
    query = parse_query(SubscriptionApi.CONTACTHUB, "type=complaint.opened,complaint.resolved&tier=gold&tier=diamond",
                        DOMAIN_EVENTS)
    assert query.notifications == {"complaint.opened", "complaint.resolved"} and query.tiers == {"gold", "diamond"}
    assert query.wants("complaint.opened", "hotline", "gold") and not query.wants("complaint.opened", "hotline", "silver")
    assert not query.wants("contact.logged", "hotline", "gold")
    everything = parse_query(SubscriptionApi.TROUBLE_TICKET, None, DOMAIN_EVENTS)
    assert everything.wants("TroubleTicketCreateEvent", None, None)
    for bad in ("type=complaint.opened", "eventType=Nope", "channel=fax", "tier=platinum", "a=b=c&&", "colour=red"):
        with pytest.raises(QueryProblem):
            parse_query(SubscriptionApi.TROUBLE_TICKET, bad, DOMAIN_EVENTS)


@given(st.text(min_size=16, max_size=40), st.integers(0, 2**32), st.binary(max_size=200))
def test_the_signature_is_the_documented_hmac(secret: str, timestamp: int, body: bytes) -> None:
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert signature(secret, timestamp, body) == f"t={timestamp},v1={expected}"
    assert signature(secret, timestamp, body + b" ") != signature(secret, timestamp, body)


def test_the_back_off_doubles_up_to_ten_minutes() -> None:
    assert [retry_delay(n) for n in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert retry_delay(50) == retry_delay(10_000) == LONGEST_WAIT_S
    assert retry_delay(3, first_s=0.05) == pytest.approx(0.2)


@pytest.mark.parametrize(("event_type", "step", "expected"), [
    ("complaint.opened", (None, "acknowledged"), ("TroubleTicketCreateEvent",)),
    ("complaint.started", ("acknowledged", "inProgress"), ("TroubleTicketStatusChangeEvent",)),
    ("complaint.escalated", ("acknowledged", "inProgress"), ("TroubleTicketStatusChangeEvent",)),
    ("complaint.escalated", ("inProgress", "inProgress"), ("TroubleTicketAttributeValueChangeEvent",)),
    ("complaint.pended", ("inProgress", "pending"), ("TroubleTicketStatusChangeEvent", "TroubleTicketInformationRequiredEvent")),
    ("complaint.resolved", ("inProgress", "resolved"), ("TroubleTicketStatusChangeEvent", "TroubleTicketResolvedEvent")),
    ("complaint.noted", ("resolved", "resolved"), ("TroubleTicketAttributeValueChangeEvent",)),
    ("complaint.started", None, ()),  # before its opening: told when recorded again after it
    ("contact.logged", None, ()),
])
def test_what_a_complaint_step_tells_a_trouble_ticket_listener(
    event_type: str, step: tuple[str | None, str] | None, expected: tuple[str, ...]
) -> None:
    assert trouble_ticket_notifications(event_type, step) == expected
