"""Webhook delivery against a real receiving HTTP server (tests/support/listener.py), on both backends:
at least once, in log order, none skipped, through a receiver that fails for a while or is killed and
comes back; signed; a slow subscriber delays nobody else; the allow-list is checked at each request; two
deliverers (two processes) share a subscription by its lease; queries filter by type, channel and tier;
the TMF APIs' notifications.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from contacthub.adapters.store.api_keys import ApiKeys
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.domain.roles import Role
from contacthub.domain.subscriptions import signature
from contacthub.services.hub_delivery import HubDelivery
from helpers import complaint_opened, contact, event, registered
from support.databases import fresh_database_url
from support.listener import Listener, Received


@pytest.fixture
def listener() -> Iterator[Listener]:
    started = Listener().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def hub(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        listener: Listener) -> Iterator[ContactHub]:
    built = build(Settings(database_url=fresh_database_url(backend, request, tmp_path_factory), log_format="console",
                           sla_watch_interval_s=0, callback_hosts=f"{listener.host},127.0.0.2",
                           webhook_first_retry_s=0.05, webhook_timeout_s=2.0))
    try:
        yield built
    finally:
        built.close()


class Running:
    """The projector and the webhook deliverers in threads, as the server runs them."""

    def __init__(self, hub: ContactHub, *deliverers: HubDelivery) -> None:
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=hub.projector.run, args=(self.stop,), daemon=True)]
        self.threads += [threading.Thread(target=d.run, args=(self.stop, 0.05), daemon=True)
                         for d in (deliverers or (hub.hub_delivery,))]

    def __enter__(self) -> Running:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def store(hub: ContactHub, *events: dict[str, Any]) -> int:
    return hub.ingest.ingest(list(events)).position


OWNER = "warehouse"


def subscribe(hub: ContactHub, listener: Listener, *, api: str = "contacthub", query: str = "", path: str = "/in",
              after: int = 0, secret: str = "s3cret-s3cret-s3cret") -> str:
    keys = ApiKeys(hub.event_log.read_store)
    if not any(k.name == OWNER for k in keys.list_keys(include_revoked=False)):
        keys.create(Role.INTEGRATION, OWNER, None)  # a subscription is delivered while its owner's key is active
    return hub.subscriptions.create(api, listener.url(path), query, secret, OWNER, f"{OWNER} (test)", after,
                                    hub.clock()).subscription_id


def calls(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [contact(occurred_at=f"2026-11-02T{9 + (start + i) // 60:02d}:{(start + i) % 60:02d}:00+08:00") for i in range(n)]


def logged_ids(hub: ContactHub) -> list[str]:
    """The dedupe key of each stored event (its stream and version), in log order."""
    return [f"{e.originator_id}/{e.originator_version}" for _, e in hub.event_log.read_events(0, 10_000)]


def ids(received: list[Received]) -> list[str]:
    return [r.headers["x-contacthub-event-id"] for r in received]


def in_log_order_none_skipped(received: list[Received], logged: list[str]) -> None:
    """Every logged event arrived; repeats only of the event just sent (a retry), never going back further."""
    order = {event_id: i for i, event_id in enumerate(logged)}
    seen = [order[i] for i in ids(received)]
    assert all(b >= a for a, b in zip(seen, seen[1:])), seen
    assert sorted(set(seen)) == list(range(len(logged)))


def test_every_event_arrives_once_in_log_order_signed(hub: ContactHub, listener: Listener) -> None:
    store(hub, registered())
    store(hub, *calls(20))
    subscribe(hub, listener)
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) == 21)
    heard = listener.accepted()
    assert ids(heard) == logged_ids(hub)
    for received in heard:
        stamp = int(received.headers["x-contacthub-signature"].split(",")[0].removeprefix("t="))
        assert abs(stamp - time.time()) < 60
        assert received.headers["x-contacthub-signature"] == signature("s3cret-s3cret-s3cret", stamp, received.body)
        body = received.json()
        assert body["eventId"] == received.headers["x-contacthub-event-id"]
        assert body["eventId"] == f"{body['event']['customer_id']}/{body['event']['version']}"
    assert [r.json()["event"]["position"] for r in heard] == sorted(r.json()["event"]["position"] for r in heard)
    forged = heard[0].headers["x-contacthub-signature"]
    assert forged != signature("another-secret-entirely", int(forged.split(",")[0][2:]), heard[0].body)


def test_a_receiver_that_fails_for_a_while_gets_everything_once_it_recovers(hub: ContactHub, listener: Listener) -> None:
    store(hub, registered(), *calls(9))
    subscription = subscribe(hub, listener)
    listener.fail_next(4)
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) == 10)
    failed = [r for r in listener.received if r.answered == 500]
    assert len(failed) == 4 and len(set(ids(failed))) == 1 == len({ids(failed)[0], logged_ids(hub)[0]})
    assert ids(listener.accepted()) == logged_ids(hub)
    state = hub.subscriptions.get(subscription)
    assert state is not None
    assert (state.failures, state.delivered, state.position) == (0, 10, hub.event_log.head_position())
    assert state.last_error is not None and state.last_error.startswith("HTTP 500")


@contextmanager
def delivering_slowly(hub: ContactHub, listener: Listener, events: int, slow_s: float, started: int) -> Iterator[str]:
    """A registration and `events - 1` calls delivered to a receiver that takes `slow_s` per request; the block
    runs once `started` requests were accepted, while delivery goes on."""
    store(hub, registered(), *calls(events - 1))
    subscription = subscribe(hub, listener)
    listener.slow_s = slow_s
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) >= started)
        yield subscription


def test_a_receiver_killed_mid_delivery_and_restarted_misses_nothing(hub: ContactHub, listener: Listener) -> None:
    with delivering_slowly(hub, listener, 40, 0.02, started=8) as subscription:
        listener.stop()  # mid-delivery: requests now fail to connect
        store(hub, *calls(10, start=40))

        def refused(_: Listener) -> bool:
            state = hub.subscriptions.get(subscription)
            return state is not None and state.failures >= 2
        listener.wait_until(refused)
        state = hub.subscriptions.get(subscription)
        assert state is not None and state.position < hub.event_log.head_position()
        assert state.last_error is not None and "Connection" in state.last_error  # no answer at all: refused or reset
        listener.start()  # the same port again
        listener.wait_until(lambda heard: len(set(ids(heard.accepted()))) == 50)
    in_log_order_none_skipped(listener.accepted(), logged_ids(hub))


def test_a_slow_subscriber_delays_nobody_else(hub: ContactHub, listener: Listener) -> None:
    fast = Listener().start()
    try:
        hub.hub_delivery.allowed_hosts = lambda: frozenset({listener.host, fast.host})  # type: ignore[method-assign]
        store(hub, registered(), *calls(5))
        subscribe(hub, listener, path="/slow")
        subscribe(hub, fast, path="/fast")
        listener.slow_s = 1.0
        started = time.monotonic()
        with Running(hub):
            fast.wait_until(lambda heard: len(heard.accepted()) == 6, timeout_s=5)
            took = time.monotonic() - started
            assert len(listener.received) <= 3
        assert took < 3.0
        assert ids(fast.accepted()) == logged_ids(hub)
    finally:
        fast.stop()


def test_a_callback_whose_host_is_no_longer_allowed_is_not_called(hub: ContactHub, listener: Listener) -> None:
    store(hub, registered())
    subscription = subscribe(hub, listener)
    hub.hub_delivery.allowed_hosts = lambda: frozenset({"hooks.example.cn"})  # type: ignore[method-assign]
    with Running(hub):

        def recorded(_: Listener) -> bool:
            state = hub.subscriptions.get(subscription)
            return state is not None and state.last_error is not None
        listener.wait_until(recorded)
    state = hub.subscriptions.get(subscription)
    assert state is not None and state.position == 0 and listener.received == []
    assert state.last_error is not None and "is not in CONTACTHUB_CALLBACK_HOSTS" in state.last_error


def test_two_deliverers_share_a_subscription_by_its_lease(hub: ContactHub, listener: Listener) -> None:
    store(hub, registered(), *calls(29))
    subscribe(hub, listener)
    rival = HubDelivery(hub.event_log, hub.subscriptions, hub.hub_delivery.callbacks, hub.hub_delivery.bodies,
                        hub.hub_delivery.allowed_hosts, first_retry_s=0.05, poll_s=0.05, lease_s=0.6)
    with Running(hub, hub.hub_delivery, rival):
        listener.wait_until(lambda heard: len(heard.accepted()) >= 30)
        time.sleep(0.3)  # a double delivery would show up now
    assert ids(listener.accepted()) == logged_ids(hub)


def test_a_query_picks_event_types_channels_and_tiers(hub: ContactHub, listener: Listener) -> None:
    store(hub, registered("C1", ("13800138000",), tier="gold"), registered("C2", ("13900139000",), tier="ordinary"))
    wanted = contact({"customer_id": "C1"}, channel="store", handled_by="clerk-1")
    store(hub,
          contact({"customer_id": "C1"}),  # hotline: not asked for
          wanted,
          contact({"customer_id": "C2"}, channel="store", handled_by="clerk-1"),  # ordinary: not asked for
          complaint_opened("K1", {"customer_id": "C1"}, channel="store", handled_by="clerk-1"))  # another type
    subscribe(hub, listener, query="type=contact.logged&channel=store&tier=gold,diamond")
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) == 1)
        time.sleep(0.3)
    assert [r.json()["event"]["event_id"] for r in listener.accepted()] == [wanted["event_id"]]


def test_trouble_ticket_listeners_hear_tmf621_notifications(hub: ContactHub, listener: Listener) -> None:
    store(hub, registered())
    subscribe(hub, listener, api="troubleTicket", after=hub.event_log.head_position())
    store(hub, complaint_opened("K1"))
    store(hub, event("complaint.pended", complaint_id="K1", reason="等客户提供截图"))
    store(hub, event("complaint.resumed", complaint_id="K1"))
    store(hub, event("complaint.noted", complaint_id="K1", text="已联系装维"))
    store(hub, event("complaint.resolved", complaint_id="K1", resolution="退费 30 元"))
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) == 7)
        time.sleep(0.2)
    heard = [r.json() for r in listener.accepted()]
    assert [n["eventType"] for n in heard] == [
        "TroubleTicketCreateEvent",
        "TroubleTicketStatusChangeEvent", "TroubleTicketInformationRequiredEvent",  # pended: waits on the customer
        "TroubleTicketStatusChangeEvent",  # resumed
        "TroubleTicketAttributeValueChangeEvent",  # a note
        "TroubleTicketStatusChangeEvent", "TroubleTicketResolvedEvent",
    ]
    assert len({n["eventId"] for n in heard}) == len(heard)
    assert all(n["event"]["troubleTicket"]["id"] == "K1" for n in heard)
    assert heard[-1]["event"]["troubleTicket"]["status"] == "resolved"


def test_an_unknown_callers_touchpoint_is_a_party_interaction_once_it_joins_a_customer(
    hub: ContactHub, listener: Listener
) -> None:
    subscribe(hub, listener, api="partyInteraction")
    unknown = contact({"msisdn": "13700137000"}, occurred_at="2026-11-01T10:00:00+08:00")
    store(hub, unknown)
    store(hub, registered("C7", ("13700137000",), occurred_at="2026-11-02T09:00:00+08:00"))
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) == 1)
        time.sleep(0.3)
    body = listener.accepted()[0].json()
    assert body["eventType"] == "PartyInteractionCreateEvent"
    interaction = body["event"]["partyInteraction"]
    assert {p["role"]: p["id"] for p in interaction["relatedParty"]}["customer"] == "C7"
    assert interaction["interactionDate"]["startDateTime"] == "2026-11-01T10:00:00+08:00"


def test_the_deliverer_forgets_nothing_when_its_lease_is_taken_over(hub: ContactHub, listener: Listener) -> None:
    """A process that stops (its lease lapses) leaves the position where it was: the next one goes on from there."""
    store(hub, registered(), *calls(4))
    subscription = subscribe(hub, listener)
    first = HubDelivery(hub.event_log, hub.subscriptions, hub.hub_delivery.callbacks, hub.hub_delivery.bodies,
                        hub.hub_delivery.allowed_hosts)
    leased = hub.subscriptions.lease(subscription, first.owner, hub.clock(), 0.2)
    assert leased is not None and first.step(leased)[0] == "progress"
    assert len(listener.accepted()) == 5
    store(hub, *calls(3, start=10))
    time.sleep(0.3)  # the first process's lease lapses
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) == 8)
    assert ids(listener.accepted()) == logged_ids(hub)


def test_a_tier_filter_waits_for_the_read_models_instead_of_skipping(hub: ContactHub, listener: Listener) -> None:
    """Found by review: the tier was read before the projector had applied the registration, so the event was skipped."""
    subscribe(hub, listener, query="type=complaint.opened&tier=gold")
    with Running(hub):  # the registration and the complaint in one batch: the deliverer may see them first
        store(hub, registered("C1", ("13800138000",), tier="gold"), complaint_opened("K1", {"customer_id": "C1"}))
        listener.wait_until(lambda heard: len(heard.accepted()) == 1)


def test_a_complaint_step_before_its_opening_is_heard_after_the_opening(hub: ContactHub, listener: Listener) -> None:
    """Found by review: a step that came before its complaint stalled a trouble-ticket subscription for good."""
    store(hub, registered())
    subscribe(hub, listener, api="troubleTicket", after=hub.event_log.head_position())
    store(hub, event("complaint.started", complaint_id="K9", occurred_at="2026-11-02T10:00:00+08:00"))
    store(hub, event("complaint.noted", complaint_id="K9", text="已派单", occurred_at="2026-11-02T10:05:00+08:00"))
    with Running(hub):
        time.sleep(0.5)
        assert listener.received == []  # nothing to tell yet, and nothing stuck
        store(hub, complaint_opened("K9", occurred_at="2026-11-02T09:00:00+08:00"))
        listener.wait_until(lambda heard: len(heard.accepted()) == 3)
    kinds = [r.json()["eventType"] for r in listener.accepted()]
    assert kinds == ["TroubleTicketCreateEvent", "TroubleTicketStatusChangeEvent", "TroubleTicketAttributeValueChangeEvent"]


def test_an_escalation_that_starts_the_work_is_a_status_change(hub: ContactHub, listener: Listener) -> None:
    store(hub, registered())
    subscribe(hub, listener, api="troubleTicket", after=hub.event_log.head_position(),
              query="eventType=TroubleTicketStatusChangeEvent")
    store(hub, complaint_opened("K1"), event("complaint.escalated", complaint_id="K1", reason="VIP 客户"))
    store(hub, event("complaint.escalated", complaint_id="K1", reason="再次升级"))  # already in progress: no change
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) == 1)
        time.sleep(0.3)
    ticket = listener.accepted()[0].json()["event"]["troubleTicket"]
    assert len(listener.accepted()) == 1 and ticket["statusChange"][1]["status"] == "inProgress"


def test_a_joined_touchpoint_is_a_new_notification_not_a_duplicate(hub: ContactHub, listener: Listener) -> None:
    """Found by review: the party's touchpoint and its copy on the customer shared one dedupe key."""
    subscribe(hub, listener, query="type=contact.logged")
    store(hub, contact({"msisdn": "13700137000"}, occurred_at="2026-11-01T10:00:00+08:00"))
    store(hub, registered("C7", ("13700137000",), occurred_at="2026-11-02T09:00:00+08:00"))
    with Running(hub):
        listener.wait_until(lambda heard: len(heard.accepted()) == 2)
    heard = listener.accepted()
    assert len(set(ids(heard))) == 2
    assert heard[0].json()["event"]["event_id"] == heard[1].json()["event"]["event_id"]  # one fact, two streams
    assert heard[1].json()["event"]["customer_id"] == "C7"


def test_a_revoked_owner_key_pauses_its_subscriptions_and_a_new_key_of_its_name_resumes_them(
    hub: ContactHub, listener: Listener
) -> None:
    store(hub, registered())
    subscription = subscribe(hub, listener)
    keys = ApiKeys(hub.event_log.read_store)
    (owner_key,) = [k for k in keys.list_keys(include_revoked=False) if k.name == OWNER]
    keys.revoke(owner_key.key_id, by="test")
    with Running(hub):
        time.sleep(0.6)
        assert listener.received == []
        state = hub.subscriptions.get(subscription)
        assert state is not None and state.position == 0
        keys.create(Role.INTEGRATION, OWNER, None)  # the system's new key
        listener.wait_until(lambda heard: len(heard.accepted()) == 1)


def test_a_subscription_ended_while_delivering_stops(hub: ContactHub, listener: Listener) -> None:
    with delivering_slowly(hub, listener, 31, 0.05, started=3) as subscription:
        assert hub.subscriptions.delete(subscription, None, OWNER, "test", hub.clock())
        time.sleep(0.5)
        seen = len(listener.received)
        time.sleep(0.5)
        assert len(listener.received) == seen < 31
