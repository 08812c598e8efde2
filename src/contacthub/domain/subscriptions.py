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

def trouble_ticket_notifications(event_type: str, step: tuple[str | None, str] | None) -> tuple[str, ...]:
    """The TMF621 notifications a complaint event gives, in the order they are sent.

    `step`: the complaint's status before and after the event, as the complaint read model
    applied it; None when it applied no such step (a step that came before its complaint's
    opening is kept aside and recorded again after the opening: notified then, in order).
    Opening: Create. A step that changed the status: StatusChange, and also Resolved when it
    resolved the complaint, InformationRequired when it left it pending on the customer. Any
    other step (acknowledge, note, handover, an escalation of a complaint already in progress,
    follow-up, SLA warning and breach): AttributeValueChange."""
    if not event_type.startswith("complaint.") or step is None:
        return ()
    if event_type == "complaint.opened":
        return ("TroubleTicketCreateEvent",)
    before, after = step
    if before == after:
        return ("TroubleTicketAttributeValueChangeEvent",)
    if after == "resolved":
        return ("TroubleTicketStatusChangeEvent", "TroubleTicketResolvedEvent")
    if after == "pending":
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
    """Why `callback` may not be called, or None when it may: an http(s) URL whose host the operator
    allowed. An entry `host` allows the scheme's own port only (80, 443); `host:port` that port.
    Nothing is allowed until an operator lists hosts."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in callback):
        return "must not contain spaces or control characters"
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
    named = f"[{host}]" if ":" in host else host
    if f"{named}:{effective_port}" in allowed_hosts or f"{host}:{effective_port}" in allowed_hosts:
        return None
    if port in (None, 443 if parts.scheme == "https" else 80) and (host in allowed_hosts or named in allowed_hosts):
        return None
    if not allowed_hosts:
        return "no callback host is allowed on this server: an operator lists them in CONTACTHUB_CALLBACK_HOSTS"
    return f"host {named}:{effective_port} is not in CONTACTHUB_CALLBACK_HOSTS"


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
