"""Webhook delivery: each subscription is a projection of the log with its own position.

A subscription's deliverer reads the log after its position, in log order, and for each event
sends the notifications its query wants (domain/subscriptions.py) to its callback, one request
at a time, each signed and carrying its notification id (the receiver's dedupe key). The
position moves past an event only once every request for it was answered 2xx; it is stored
every SAVE_EVERY requests or SAVE_EVERY_S seconds and before a failure is recorded, so a
deliverer that dies sends what followed the stored position again (at least once), never skips. A failure leaves the position where it is and waits
1, 2, 4 … seconds (up to 10 minutes) before the same request is tried again.

Each subscription has its own thread and its own lease in the database (a process delivers a
subscription only while it holds the lease), so a slow or dead subscriber delays nobody else,
neither the read models (which have their own positions) nor the other subscribers, and two
processes (`serve` on several hosts) never deliver one subscription at once.

The wall clock, not the hub's clock, times retries and leases: they are about the network now,
not about the customers' history.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Protocol

import structlog

from contacthub.contract import DOMAIN_EVENTS
from contacthub.domain.customer import Customer
from contacthub.domain.numbers import is_unidentified_party
from contacthub.domain.subscriptions import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    SUBSCRIPTION_HEADER,
    SubscriptionApi,
    callback_problem,
    parse_query,
    party_interaction_notifications,
    retry_delay,
    signature,
    trouble_ticket_notifications,
)
from contacthub.services.ports import EventLog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    api: str
    callback: str
    query: str
    secret: str
    owner: str
    """The name of the integration key that made it: only keys of that name see or end it."""
    created_by: str
    created_at: datetime
    deleted_at: datetime | None
    position: int
    """Its own tracking position: every event up to here was delivered or left out by the query."""
    delivered: int
    failures: int
    """Failed attempts in a row since the last success."""
    next_attempt_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_delivered_at: datetime | None


class SubscriptionStore(Protocol):
    def active(self, api: str | None = None, owner: str | None = None) -> list[Subscription]: ...

    def lease(self, subscription_id: str, owner: str, now: datetime, lease_s: float) -> Subscription | None: ...

    def release(self, subscription_id: str, owner: str) -> None: ...

    def advance(self, subscription_id: str, owner: str, position: int, delivered: int, now: datetime) -> bool: ...

    def failed(self, subscription_id: str, owner: str, failures: int, error: str, now: datetime,
               next_attempt_at: datetime) -> bool: ...


class CallbackFailed(Exception):
    """The callback did not answer 2xx; the message says what happened (status, timeout, refused)."""


class Callbacks(Protocol):
    """Outbound HTTP: POST `body` to `url`; return on a 2xx answer, raise CallbackFailed otherwise."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None: ...


class Bodies(Protocol):
    """What the read models say about an event (adapters: the feed's item, or a TMF resource in its event)."""

    def applied(self, position: int) -> int:
        """How far the read models have got, once they have applied `position` or a bounded wait has passed."""
        ...

    def complaint_step(self, position: int) -> tuple[str | None, str] | None:
        """The complaint's status before and after the event at `position`, or None when no step was applied there."""
        ...

    def body(self, api: SubscriptionApi, kind: str, notification_id: str, position: int, event: Customer.Event) -> bytes: ...

    def tier_of(self, customer_id: str) -> str | None: ...


def notification_id(api: SubscriptionApi, kind: str, event: Customer.Event) -> str:
    """The receiver's dedupe key: the stored event's stream and version (unique per stored event, the same on
    every retry; one fact recorded on two streams, a joined touchpoint say, is two events), with the
    notification's kind on the TMF hubs, where one event may give several."""
    stored = f"{event.originator_id}/{event.originator_version}"
    return stored if api is SubscriptionApi.CONTACTHUB else f"{stored}#{kind}"


SAVE_EVERY = 50
SAVE_EVERY_S = 0.25
"""The position is stored after this many answered requests or this many seconds, whichever comes first, and
always before a failure is recorded and at the end of a step: a deliverer that dies sends at most that much
again (at least once), and a subscription that is not filtered is not bound by one commit per request."""

WAITING = "waiting"
"""A step stopped before an event the read models have not applied yet: it is judged once they have."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def lease_for(timeout_s: float, read_wait_s: float) -> float:
    """How long a lease lasts: long enough for three events' worth of work (each: the read models' wait, then
    up to two requests that may each take the whole timeout) between renewals."""
    return max(30.0, 3 * (read_wait_s + 2 * timeout_s))


class HubDelivery:
    """Delivers every active subscription, each in its own thread, while `run` runs."""

    def __init__(self, event_log: EventLog, store: SubscriptionStore, callbacks: Callbacks, bodies: Bodies,
                 allowed_hosts: Callable[[], frozenset[str]], *, batch: int = 200, lease_s: float = 30.0,
                 poll_s: float = 0.5, first_retry_s: float = 1.0) -> None:
        self.log = event_log
        self.store = store
        self.callbacks = callbacks
        self.bodies = bodies
        self.allowed_hosts = allowed_hosts
        self.batch = batch
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.first_retry_s = first_retry_s
        self.owner = f"{uuid.uuid4().hex[:12]}"
        self.wake = threading.Event()
        """Set when new events are stored (the server sets it after a write), to deliver sooner than the poll."""

    # --- one subscription, one step --------------------------------------------------------------

    def step(self, subscription: Subscription, stop: threading.Event | None = None,
             keep_lease: Callable[[], bool] | None = None) -> tuple[str, Subscription]:
        """Deliver what follows the subscription's position, up to one batch of events, holding its lease.

        The outcome and the subscription as it now stands: `caught_up`, `progress`, `waiting` (for
        the read models), `failed` (the position stays; the same request is retried after the
        back-off) or `lost` (the lease went to another process, or the subscription ended)."""
        events = self.log.read_events(subscription.position, self.batch)
        if not events:
            return "caught_up", subscription
        api = SubscriptionApi(subscription.api)
        query = parse_query(api, subscription.query, DOMAIN_EVENTS)
        reads_models = api is not SubscriptionApi.CONTACTHUB or bool(query.tiers)
        done = subscription.position  # every event up to here is delivered or left out
        delivered = 0  # requests answered 2xx since the stored position
        saved_at = time.monotonic()
        outcome = "progress"
        applied = 0

        def save() -> bool:
            """Store how far delivery has got (False: the lease is another's, or the subscription ended)."""
            nonlocal subscription, delivered, saved_at
            if done == subscription.position and not delivered:
                return True
            if not self.store.advance(subscription.subscription_id, self.owner, done, delivered, _now()):
                return False
            subscription, delivered, saved_at = _moved(subscription, done, delivered), 0, time.monotonic()
            return True

        for position, event in events:
            if stop is not None and stop.is_set():
                break
            if reads_models and position > applied:
                applied = self.bodies.applied(position)
                if applied < position:
                    outcome = WAITING
                    break
            wanted = [k for k in self._kinds(api, position, event) if query.wants(
                k, getattr(event, "channel", None), self.bodies.tier_of(event.originator_id) if query.tiers else None)]
            if not wanted:
                done = position
                continue
            if keep_lease is not None and not keep_lease():
                return "lost", subscription
            problem = self._send(subscription, api, wanted, position, event)
            if problem is not None:
                if not save():
                    return "lost", subscription
                return self._failed(subscription, position, event, problem)
            done, delivered = position, delivered + len(wanted)
            due = delivered >= SAVE_EVERY or time.monotonic() - saved_at >= SAVE_EVERY_S
            if due and not save():
                return "lost", subscription
        if not save():
            return "lost", subscription
        return outcome, subscription

    def _kinds(self, api: SubscriptionApi, position: int, event: Customer.Event) -> tuple[str, ...]:
        """What an event gives a subscription to `api`. An unidentified caller's touchpoint is no Party
        Interaction (it has no customer) until it joins one, as a new event on the customer's stream."""
        if api is SubscriptionApi.CONTACTHUB:
            return (event.TOPIC,)
        if api is SubscriptionApi.TROUBLE_TICKET:
            if not event.TOPIC.startswith("complaint."):
                return ()
            return trouble_ticket_notifications(event.TOPIC, self.bodies.complaint_step(position))
        return () if is_unidentified_party(event.originator_id) else party_interaction_notifications(event.TOPIC)

    def _failed(self, subscription: Subscription, position: int, event: Customer.Event | None,
                problem: str) -> tuple[str, Subscription]:
        failures = subscription.failures + 1
        wait = retry_delay(failures, self.first_retry_s)
        log.warning("hub_delivery_failed", subscription=subscription.subscription_id, position=position,
                    event_id=event.event_id if event is not None else None, failures=failures, retry_in_s=wait,
                    error=problem)
        due = _now() + timedelta(seconds=wait)
        if not self.store.failed(subscription.subscription_id, self.owner, failures, problem, _now(), due):
            return "lost", subscription
        return "failed", replace(subscription, failures=failures, next_attempt_at=due, last_error=problem)

    def _send(self, subscription: Subscription, api: SubscriptionApi, kinds: Sequence[str], position: int,
              event: Customer.Event) -> str | None:
        problem = callback_problem(subscription.callback, self.allowed_hosts())
        if problem is not None:
            return f"callback refused: {problem}"
        for kind in kinds:
            nid = notification_id(api, kind, event)
            try:
                body = self.bodies.body(api, kind, nid, position, event)
            except Exception as failure:  # the read model lacks what it should have: retried, and shown
                return f"notification not made: {type(failure).__name__}: {failure}"
            headers = {
                "Content-Type": "application/json",
                EVENT_ID_HEADER: nid,
                SUBSCRIPTION_HEADER: subscription.subscription_id,
                SIGNATURE_HEADER: signature(subscription.secret, int(time.time()), body),
            }
            try:
                self.callbacks.post(subscription.callback, body, headers)
            except CallbackFailed as failure:
                return str(failure)
        return None

    # --- the threads ------------------------------------------------------------------------------

    def deliver(self, subscription_id: str, stop: threading.Event) -> None:
        """One subscription's loop: hold its lease, deliver, wait; return when it ends, another process
        holds it, its key is no longer active, or `stop` is set. The lease is renewed once a third of it
        has passed (idle, that is one write per ten seconds), and before each event while delivering."""
        subscription = self.store.lease(subscription_id, self.owner, _now(), self.lease_s)
        renewed = time.monotonic()

        def keep_lease() -> bool:
            nonlocal renewed
            if time.monotonic() - renewed <= self.lease_s / 3:
                return True
            renewed = time.monotonic()
            return self.store.lease(subscription_id, self.owner, _now(), self.lease_s) is not None

        try:
            while subscription is not None and not stop.is_set():
                due = subscription.next_attempt_at
                left = (due - _now()).total_seconds() if due is not None else 0.0
                if left > 0:
                    stop.wait(min(left, self.lease_s / 3))
                else:
                    try:
                        outcome, subscription = self.step(subscription, stop, keep_lease)
                    except Exception as failure:  # the store or the read models failed: shown, retried after the back-off
                        log.exception("hub_delivery_error", subscription=subscription_id)
                        outcome, subscription = self._failed(subscription, subscription.position, None,
                                                             f"{type(failure).__name__}: {failure}")
                    if outcome == "lost":
                        return
                    if outcome in ("caught_up", WAITING):
                        self.wake.wait(self.poll_s)
                        self.wake.clear()
                if time.monotonic() - renewed > self.lease_s / 3:
                    subscription = self.store.lease(subscription_id, self.owner, _now(), self.lease_s)
                    renewed = time.monotonic()
        finally:
            try:
                self.store.release(subscription_id, self.owner)
            except Exception:  # the database is away: the lease lapses by itself
                log.warning("hub_delivery_release_failed", subscription=subscription_id)

    def run(self, stop: threading.Event, look_every_s: float = 2.0) -> None:
        """Start a thread per active subscription, again for one whose thread ended (its lease was
        another's, which may have lapsed since), until `stop` is set."""
        threads: dict[str, threading.Thread] = {}
        while not stop.is_set():
            try:
                for subscription in self.store.active():
                    thread = threads.get(subscription.subscription_id)
                    if thread is None or not thread.is_alive():
                        thread = threading.Thread(target=self.deliver, args=(subscription.subscription_id, stop),
                                                  name=f"hub-{subscription.subscription_id}", daemon=True)
                        threads[subscription.subscription_id] = thread
                        thread.start()
            except Exception:  # the database is away: look again later
                log.exception("hub_delivery_error", subscription=None)
            stop.wait(look_every_s)
        deadline = time.monotonic() + 5.0
        for thread in threads.values():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


def _moved(subscription: Subscription, position: int, delivered: int) -> Subscription:
    return replace(subscription, position=position, delivered=subscription.delivered + delivered, failures=0,
                   next_attempt_at=None)
