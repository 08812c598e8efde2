"""Who may do what: the four roles of API keys, what each is granted, and the channel rule for posting events.

Pure rules, no I/O. The HTTP adapter (adapters/http/dependencies.py) maps each endpoint to one
capability; this module says which roles hold it.

| capability | channel | clerk | auditor | admin | integration |
|---|---|---|---|---|---|
| ingest: `POST /v1/events`, TMF `POST /troubleTicket`, `POST /partyInteraction` (own channel's events only) | yes | | | | |
| read_customers: 360° views, timelines, complaints, orders, at-risk list, the desk, TMF `GET`s | | yes | yes | | yes |
| act_on_complaints: `POST /v1/complaints/{id}/actions`, the desk's forms, TMF `PATCH /troubleTicket/{id}` | | yes | | | |
| read_metrics: `/v1/metrics/*`, the analytics page | | yes | yes | | |
| read_history: history, state, verify, export (the audit API) | | | yes | | |
| read_feed: `GET /v1/feed` (a channel key: its own channel's events only) | yes | | | | yes |
| subscribe: `/v1/hub` and the TMF APIs' `/hub` (webhook subscriptions) | | | | | yes |
| read_access_log: `GET /v1/access-log` | | | yes | | |
| manage_keys: `/v1/keys` (and the `contacthub keys` CLI, which needs the database) | | | | yes | |
| erase: changes through the audit API (erasure) | | | | yes | |
| read_status: `GET /v1/status` | yes | yes | yes | yes | yes |
| use_pages: log in at the desk and the analytics page (with one of the capabilities above) | | yes | yes | | |

The admin holds the keys but reads no customer data; the auditor reads everything and
changes nothing; every read of customer data by a clerk, an auditor or an integration is
recorded (`records_reads`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from contacthub.domain.customer import SYSTEM
from contacthub.domain.vocabulary import Channel


class Role(StrEnum):
    CHANNEL = "channel"
    """A channel's system (hotline, store, app, ...; or BOSS): posts that channel's events."""
    CLERK = "clerk"
    """Staff serving customers: reads customers and complaints, acts on complaints."""
    AUDITOR = "auditor"
    """Internal audit, regulators, dispute handling: reads everything, changes nothing."""
    ADMIN = "admin"
    """Manages API keys; reads no customer data."""
    INTEGRATION = "integration"
    """Another of the operator's systems (a data warehouse, a trouble-ticket tool, a paging system):
    reads the change feed and customers' data, subscribes to webhooks; posts nothing."""


class Capability(StrEnum):
    INGEST = "ingest"
    READ_CUSTOMERS = "read_customers"
    ACT_ON_COMPLAINTS = "act_on_complaints"
    READ_METRICS = "read_metrics"
    READ_HISTORY = "read_history"
    READ_FEED = "read_feed"
    SUBSCRIBE = "subscribe"
    READ_ACCESS_LOG = "read_access_log"
    MANAGE_KEYS = "manage_keys"
    ERASE = "erase"
    READ_STATUS = "read_status"
    USE_PAGES = "use_pages"
    """Log in at the pages (the desk, the analytics page): people; an integration reads through the API only."""


GRANTS: Mapping[Role, frozenset[Capability]] = {
    Role.CHANNEL: frozenset({Capability.INGEST, Capability.READ_FEED, Capability.READ_STATUS}),
    Role.CLERK: frozenset(
        {Capability.READ_CUSTOMERS, Capability.ACT_ON_COMPLAINTS, Capability.READ_METRICS, Capability.READ_STATUS,
         Capability.USE_PAGES}
    ),
    Role.AUDITOR: frozenset(
        {
            Capability.READ_CUSTOMERS,
            Capability.READ_METRICS,
            Capability.READ_HISTORY,
            Capability.READ_ACCESS_LOG,
            Capability.READ_STATUS,
            Capability.USE_PAGES,
        }
    ),
    Role.ADMIN: frozenset({Capability.MANAGE_KEYS, Capability.ERASE, Capability.READ_STATUS}),
    Role.INTEGRATION: frozenset(
        {Capability.READ_CUSTOMERS, Capability.READ_FEED, Capability.SUBSCRIBE, Capability.READ_STATUS}
    ),
}

RECORDED_ROLES = frozenset({Role.CLERK, Role.AUDITOR, Role.INTEGRATION})
RECORDED_CAPABILITIES = frozenset({Capability.READ_CUSTOMERS, Capability.READ_HISTORY, Capability.READ_FEED})
"""Reads of customer data by these roles are recorded in the access log (who, when, what)."""

BOSS = "boss"
"""The binding of a channel key for the billing and operations system (BOSS): it posts the facts
that name no channel (registrations, tier changes, orders, activations, cancellations)."""
SOURCES: tuple[str, ...] = (*(c.value for c in Channel), BOSS)
"""What a channel key may be bound to: one channel, or BOSS."""


OPERATOR = "operator"
"""The source of what the operator's own tools post (the demo loader): ids stored as posted."""
UNSCOPED_SOURCES = frozenset({OPERATOR, SYSTEM})
"""Sources whose event ids are stored as posted: the operator's tools and ContactHub itself
(the watchers' deterministic ids, `sla:`/`jeopardy:`, which a channel may not use)."""
ID_SCOPE_SEPARATOR = "/"


def stored_event_id(source: str, event_id: str) -> str:
    """The id an event is stored under: its poster's own id, scoped by the source that posted it.

    Each source (a channel, BOSS, a clerk) has its own namespace of event ids, so one source can
    neither squat nor probe another's: the store's `hl-1` is stored as `store/hl-1`, the hotline's
    as `hotline/hl-1`. The scoped id is the event's id in the log, the history and the read models."""
    if source in UNSCOPED_SOURCES:
        return event_id
    return f"{source}{ID_SCOPE_SEPARATOR}{event_id}"


def roles_with(capability: Capability) -> list[Role]:
    """The roles granted `capability`, in declaration order."""
    return [role for role in Role if capability in GRANTS[role]]


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: an API key's id, its name (a person or a system), its role, and its channel."""

    key_id: str
    name: str
    role: Role
    channel: str | None = None
    """The channel (or BOSS) a channel key is bound to; None for every other role."""

    def may(self, capability: Capability) -> bool:
        return capability in GRANTS[self.role]

    def records_reads(self, capability: Capability) -> bool:
        """Whether using `capability` must be recorded in the access log."""
        return self.role in RECORDED_ROLES and capability in RECORDED_CAPABILITIES

    def event_source(self) -> str:
        """The namespace of the event ids this key posts (`stored_event_id`): a channel key's binding
        (`hotline`, `boss`, ...), so a rotated key keeps its channel's ids; `clerk:<name>` for a
        clerk's actions, so one clerk cannot take another's."""
        if self.role is Role.CHANNEL and self.channel is not None:
            return self.channel
        return f"{self.role.value}:{self.name}"


def key_binding_problem(role: Role, channel: str | None) -> str | None:
    """Why a key of `role` cannot be bound to `channel`, or None when it can."""
    if role is Role.CHANNEL:
        if channel is None:
            return f"a channel key needs a channel: one of {', '.join(SOURCES)}"
        if channel not in SOURCES:
            return f"unknown channel {channel!r}: one of {', '.join(SOURCES)}"
        return None
    if channel is not None:
        return f"only channel keys are bound to a channel; a {role.value} key is not"
    return None


def event_refusal(principal: Principal, event_channel: object) -> str | None:
    """Why `principal` may not post an event whose `channel` field is `event_channel` (None: the event has none).

    A channel key posts only events naming its own channel; a BOSS key only events naming
    none. Keys of other roles are judged by `may(Capability.INGEST)` alone.
    """
    if principal.role is not Role.CHANNEL:
        return None
    own = principal.channel
    if own == BOSS:
        if event_channel is None:
            return None
        return f"a boss key posts only events without a channel; this event's channel is {event_channel}"
    if event_channel == own:
        return None
    if event_channel is None:
        return f"a {own} key posts only {own} events; events without a channel come from BOSS (a boss key)"
    return f"a {own} key posts only {own} events; this event's channel is {event_channel}"
