"""Webhook subscriptions: what a subscriber asked for, which callbacks may be called, how a
request is signed, and how long to wait after a failure.

Pure: no I/O. Delivery (services/hub_delivery.py) uses these rules; the HTTP adapters parse
with them. Three APIs take subscriptions, each with its own notifications:

- `contacthub` (`POST /v1/hub`): one notification per stored event, named by its type
  (`complaint.resolved`), its body the change feed's item;
- `troubleTicket` (TMF621 `POST /tmf-api/troubleTicket/v4/hub`): the complaint events as
  `TroubleTicket…Event`s;
- `partyInteraction` (TMF683 `POST /tmf-api/partyInteraction/v4/hub`): each touchpoint as a
  `PartyInteractionCreateEvent`.

A query is a URL query string: `type=` (contacthub) or `eventType=` (TMF), `channel=` and
`tier=`, each a comma-separated list or repeated; what a key leaves out is not filtered on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, urlsplit

from contacthub.domain.vocabulary import Channel, Tier


class SubscriptionApi(StrEnum):
    CONTACTHUB = "contacthub"
    TROUBLE_TICKET = "troubleTicket"
    PARTY_INTERACTION = "partyInteraction"


TROUBLE_TICKET_EVENTS = (
    "TroubleTicketCreateEvent",
    "TroubleTicketAttributeValueChangeEvent",
    "TroubleTicketStatusChangeEvent",
    "TroubleTicketResolvedEvent",
    "TroubleTicketInformationRequiredEvent",
)
PARTY_INTERACTION_EVENTS = ("PartyInteractionCreateEvent",)

_STATUS_CHANGES = frozenset({
    "complaint.started", "complaint.pended", "complaint.held", "complaint.resumed", "complaint.assigned",
    "complaint.resolved", "complaint.closed", "complaint.reopened", "complaint.cancelled", "complaint.rejected",
})


def trouble_ticket_notifications(event_type: str) -> tuple[str, ...]:
    """The TMF621 notifications a complaint event gives, in the order they are sent (none for other events).

    Opening: Create. A step whose action moves the status (domain/complaint.py, TRANSITIONS):
    StatusChange, and also Resolved for a resolution and InformationRequired for a pend (waiting
    on the customer). Every other step (acknowledge, note, handover, escalate, follow-up, SLA
    warning and breach, conflict): AttributeValueChange."""
    if event_type == "complaint.opened":
        return ("TroubleTicketCreateEvent",)
    if not event_type.startswith("complaint."):
        return ()
    if event_type not in _STATUS_CHANGES:
        return ("TroubleTicketAttributeValueChangeEvent",)
    if event_type == "complaint.resolved":
        return ("TroubleTicketStatusChangeEvent", "TroubleTicketResolvedEvent")
    if event_type == "complaint.pended":
        return ("TroubleTicketStatusChangeEvent", "TroubleTicketInformationRequiredEvent")
    return ("TroubleTicketStatusChangeEvent",)


def party_interaction_notifications(event_type: str) -> tuple[str, ...]:
    return ("PartyInteractionCreateEvent",) if event_type == "contact.logged" else ()


class QueryProblem(ValueError):
    """A subscription's query cannot be used; the message says which part and why."""


@dataclass(frozen=True)
class SubscriptionQuery:
    """Which notifications a subscriber wants: empty sets filter nothing."""

    notifications: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()

    def wants(self, notification: str, channel: str | None, tier: str | None) -> bool:
        """`channel`: the event's (None for BOSS's facts, which name none); `tier`: its customer's."""
        return ((not self.notifications or notification in self.notifications)
                and (not self.channels or channel in self.channels)
                and (not self.tiers or tier in self.tiers))


def parse_query(api: SubscriptionApi, query: str | None, event_types: Iterable[str]) -> SubscriptionQuery:
    """The query string of a subscription to `api`; `event_types`: the catalogue's types (for `contacthub`)."""
    kind_key = "type" if api is SubscriptionApi.CONTACTHUB else "eventType"
    kinds: Mapping[SubscriptionApi, frozenset[str]] = {
        SubscriptionApi.CONTACTHUB: frozenset(event_types),
        SubscriptionApi.TROUBLE_TICKET: frozenset(TROUBLE_TICKET_EVENTS),
        SubscriptionApi.PARTY_INTERACTION: frozenset(PARTY_INTERACTION_EVENTS),
    }
    known = {kind_key: kinds[api], "channel": frozenset(c.value for c in Channel), "tier": frozenset(t.value for t in Tier)}
    chosen: dict[str, set[str]] = {key: set() for key in known}
    try:
        pairs = parse_qsl((query or "").strip().lstrip("?"), keep_blank_values=True, strict_parsing=bool(query and query.strip()))
    except ValueError:
        raise QueryProblem(f"not a query string (key=value&…): {query!r}") from None
    for key, value in pairs:
        if key not in known:
            raise QueryProblem(f"unknown key {key!r}: one of {', '.join(known)}")
        for item in (v.strip() for v in value.split(",")):
            if item not in known[key]:
                raise QueryProblem(f"unknown {key} {item!r}: one of {', '.join(sorted(known[key]))}")
            chosen[key].add(item)
    return SubscriptionQuery(frozenset(chosen[kind_key]), frozenset(chosen["channel"]), frozenset(chosen["tier"]))


# --- where a callback may go ----------------------------------------------------------------------


def parse_allowed_hosts(setting: str) -> frozenset[str]:
    """CONTACTHUB_CALLBACK_HOSTS: comma-separated host names or addresses, each optionally with `:port`."""
    return frozenset(h.strip().lower() for h in setting.split(",") if h.strip())


def callback_problem(callback: str, allowed_hosts: frozenset[str]) -> str | None:
    """Why `callback` may not be called, or None when it may: an http(s) URL whose host (or
    host:port) the operator allowed. Nothing is allowed until an operator lists hosts."""
    try:
        parts = urlsplit(callback)
        port = parts.port
    except ValueError as problem:
        return f"not a URL: {problem}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "must not carry a user name or password (sign requests with the subscription's secret instead)"
    host = parts.hostname.lower()
    effective_port = port or (443 if parts.scheme == "https" else 80)
    if host in allowed_hosts or f"{host}:{effective_port}" in allowed_hosts or (
            ":" in host and f"[{host}]:{effective_port}" in allowed_hosts):
        return None
    if not allowed_hosts:
        return ("no callback host is allowed on this server: an operator lists them in CONTACTHUB_CALLBACK_HOSTS")
    return f"host {host}:{effective_port} is not in CONTACTHUB_CALLBACK_HOSTS"


# --- signing and retrying -------------------------------------------------------------------------

SIGNATURE_HEADER = "X-ContactHub-Signature"
EVENT_ID_HEADER = "X-ContactHub-Event-Id"
SUBSCRIPTION_HEADER = "X-ContactHub-Subscription"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed by the secret>`.

    A receiver recomputes v1 over the raw body it received, compares in constant time, and
    refuses a `t` far from its own clock (a replayed request)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


FIRST_RETRY_S = 1.0
LONGEST_WAIT_S = 600.0


def retry_delay(failures: int, first_s: float = FIRST_RETRY_S) -> float:
    """Seconds to wait after `failures` failed attempts in a row: 1, 2, 4 … (from `first_s`) up to 10 minutes."""
    if failures <= 0:
        return 0.0
    return min(LONGEST_WAIT_S, first_s * 2.0 ** min(failures - 1, 20))
