"""The event catalogue: one declaration per public event type, and every registry derived from it.

An event type's life touches many places: the schema a channel posts, the domain event
stored in the log, the customer command that decides it, the complaint action that
records it, the fields stored encrypted as personal data, who may post it, the label the
pages show. Each is declared here once, in `CATALOGUE`; the lists other modules need
(`CHANNEL_EVENTS`, `COMMANDS`, `ACTION_EVENT`, `PERSONAL_FIELDS`, ...) are computed from it,
so a new type cannot be half-added. tests/unit/test_catalogue.py checks the rest: a
heading in docs/events.md, a label in both languages, a decision in every read model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from contacthub.contract import schemas as s
from contacthub.domain.complaint import ACTIONS
from contacthub.domain.customer import Customer

PostedBy = Literal["channel", "contacthub", "history"]
"""Who records it: `channel` — posted by channels to POST /v1/events (and by the complaint
actions, which post what a channel would); `contacthub` — recorded only by ContactHub's own
services (the watchers, erasure); `history` — an older catalogue's type, no longer accepted
but read from the log."""


@dataclass(frozen=True)
class EventType:
    """One public event type, declared once."""

    domain_event: type[Customer.Event]
    """The fact as stored in the log; its TOPIC is the public type name."""
    posted_by: PostedBy
    schema: type[s.EventSchema] | None = None
    """What is posted (validated by pydantic); None when nothing is posted (erasure, catalogue v1)."""
    decide: Callable[..., Any] | None = None
    """The customer command that checks the rules and records the event."""
    action: str | None = None
    """The complaint action (POST /v1/complaints/{id}/actions, the desk) that records it."""
    personal_fields: tuple[str, ...] = ()
    """Fields stored encrypted under the customer's key: erased with it (docs/audit.md)."""
    claims: tuple[str, str] | None = None
    """(kind, field): an identifier the event makes its customer's own, unique across customers."""

    @property
    def name(self) -> str:
        return self.domain_event.TOPIC

    @property
    def label(self) -> str:
        """The key of its label in the pages' translation table (adapters/web/i18n.py)."""
        return f"event.{self.name}"


_C = Customer

CATALOGUE: tuple[EventType, ...] = (
    # --- customers -----------------------------------------------------------------------
    EventType(_C.Registered, "channel", s.CustomerRegistered, _C.register, personal_fields=("name", "msisdns")),
    EventType(_C.TierChanged, "channel", s.TierChanged, _C.change_tier),
    EventType(_C.MsisdnAdded, "channel", s.MsisdnAdded, _C.add_msisdn, personal_fields=("msisdn",),
              claims=("msisdn", "msisdn")),
    EventType(_C.MsisdnReleased, "channel", s.MsisdnReleased, _C.release_msisdn, personal_fields=("msisdn",)),
    EventType(_C.Erased, "contacthub", decide=_C.erase),
    EventType(_C.Merged, "channel", s.CustomerMerged, _C.merge_into),
    EventType(_C.Unmerged, "channel", s.CustomerUnmerged, _C.unmerge_from),
    EventType(_C.DuplicateMerged, "contacthub", decide=_C.merge_into),
    EventType(_C.DuplicateUnmerged, "contacthub", decide=_C.unmerge_from),
    EventType(_C.UnidentifiedCaller, "contacthub", decide=_C.open_unidentified, personal_fields=("msisdn",)),
    # --- touchpoints and orders -------------------------------------------------------------
    EventType(_C.ContactLogged, "channel", s.ContactLogged, _C.log_contact),
    EventType(_C.ContactIdentified, "contacthub", decide=_C.identify_contact),
    EventType(_C.OrderPlaced, "channel", s.OrderPlaced, _C.place_order, claims=("order", "order_id")),
    EventType(_C.ServiceActivated, "channel", s.ServiceActivated, _C.activate_service),
    EventType(_C.OrderCancelled, "channel", s.OrderCancelled, _C.cancel_order, personal_fields=("reason",)),
    EventType(_C.OrderJeopardy, "contacthub", s.OrderJeopardy, _C.record_order_jeopardy),
    EventType(_C.OrderStepConflict, "contacthub", decide=_C.place_order),
    # --- complaints (TMF621 trouble ticket) --------------------------------------------------
    EventType(_C.ComplaintOpened, "channel", s.ComplaintOpened, _C.open_complaint,
              personal_fields=("summary",), claims=("complaint", "complaint_id")),
    EventType(_C.ComplaintAcknowledged, "channel", s.ComplaintAcknowledged, _C.acknowledge_complaint,
              action="acknowledge"),
    EventType(_C.ComplaintStarted, "channel", s.ComplaintStarted, _C.start_complaint, action="start",
              personal_fields=("reason",)),
    EventType(_C.ComplaintPended, "channel", s.ComplaintPended, _C.pend_complaint, action="pend",
              personal_fields=("reason",)),
    EventType(_C.ComplaintHeld, "channel", s.ComplaintHeld, _C.hold_complaint, action="hold",
              personal_fields=("reason",)),
    EventType(_C.ComplaintResumed, "channel", s.ComplaintResumed, _C.resume_complaint, action="resume",
              personal_fields=("reason",)),
    EventType(_C.ComplaintHandedOver, "channel", s.ComplaintHandedOver, _C.hand_over_complaint, action="handover",
              personal_fields=("reason",)),
    EventType(_C.ComplaintAssigned, "history"),
    EventType(_C.ComplaintEscalated, "channel", s.ComplaintEscalated, _C.escalate_complaint, action="escalate",
              personal_fields=("reason",)),
    EventType(_C.ComplaintResolved, "channel", s.ComplaintResolved, _C.resolve_complaint, action="resolve",
              personal_fields=("resolution",)),
    EventType(_C.ComplaintFollowedUp, "channel", s.ComplaintFollowedUp, _C.record_follow_up, action="follow_up"),
    EventType(_C.ComplaintClosed, "channel", s.ComplaintClosed, _C.close_complaint, action="close"),
    EventType(_C.ComplaintReopened, "channel", s.ComplaintReopened, _C.reopen_complaint, action="reopen",
              personal_fields=("reason",)),
    EventType(_C.ComplaintCancelled, "channel", s.ComplaintCancelled, _C.cancel_complaint, action="cancel",
              personal_fields=("reason",)),
    EventType(_C.ComplaintRejected, "channel", s.ComplaintRejected, _C.reject_complaint, action="reject",
              personal_fields=("reason",)),
    EventType(_C.ComplaintNoted, "channel", s.ComplaintNoted, _C.note_complaint, action="note",
              personal_fields=("text",)),
    EventType(_C.ComplaintLinked, "channel", s.ComplaintLinked, _C.link_complaint, action="link",
              personal_fields=("reason",)),
    EventType(_C.ComplaintStepConflict, "contacthub", decide=_C.open_complaint),
    EventType(_C.SlaWarningRecorded, "contacthub", s.SlaWarning, _C.record_sla_warning),
    EventType(_C.SlaBreached, "contacthub", s.SlaBreach, _C.record_sla_breach),
)


# --- what every other module reads, derived --------------------------------------------------

EVENT_TYPES: dict[str, EventType] = {entry.name: entry for entry in CATALOGUE}
"""Every event type a customer's history can hold, by its public name."""

DOMAIN_EVENTS: dict[str, type[Customer.Event]] = {name: entry.domain_event for name, entry in EVENT_TYPES.items()}

CHANNEL_EVENTS: dict[str, type[s.EventSchema]] = {
    e.name: e.schema for e in CATALOGUE if e.posted_by == "channel" and e.schema is not None
}
"""The types a channel may post to POST /v1/events, with their schemas."""

COMMANDS: dict[str, Callable[..., Any]] = {
    e.name: e.decide for e in CATALOGUE if e.schema is not None and e.decide is not None
}
"""Each posted or watched type's customer command (customer.registered's creates the customer)."""

ACTION_EVENT: dict[str, str] = {e.action: e.name for e in CATALOGUE if e.action is not None}
"""Each complaint action and the event type it records."""

PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {e.name: e.personal_fields for e in CATALOGUE if e.personal_fields}
"""Per event type, the fields stored encrypted under the customer's key."""

CLAIMED_BY: dict[str, tuple[str, str]] = {e.name: e.claims for e in CATALOGUE if e.claims is not None}
"""Per event type, the identifier (kind, field) it claims for its customer (registration claims its msisdns)."""


def _check_catalogue() -> None:
    """The declarations agree with the domain and the schemas; a mistake fails at import, not in production."""
    problems = []
    if len(EVENT_TYPES) != len(CATALOGUE):
        problems.append("a type is declared twice")
    for entry in CATALOGUE:
        if entry.schema is not None:
            posted = entry.schema.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
            if posted != entry.name:
                problems.append(f"{entry.name}: its schema posts type {posted!r}")
        step_action = getattr(entry.domain_event, "ACTION", None)
        if entry.action is not None and step_action != entry.action:
            problems.append(f"{entry.name}: action {entry.action!r}, but the domain event's is {step_action!r}")
        if entry.posted_by != "history" and entry.decide is None:
            problems.append(f"{entry.name}: recorded, but no command decides it")
    if set(ACTION_EVENT) != set(ACTIONS):
        problems.append(f"complaint actions without an event type: {sorted(set(ACTIONS) - set(ACTION_EVENT))}")
    if problems:
        raise TypeError("event catalogue: " + "; ".join(problems))


_check_catalogue()


# --- the body of POST /v1/events -----------------------------------------------------------------

IncomingEvent = Annotated[Union[tuple(CHANNEL_EVENTS.values())], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007


class IngestBatch(BaseModel):
    """The body of `POST /v1/events` (shown in the OpenAPI document)."""

    events: Annotated[list[IncomingEvent], Field(min_length=1, max_length=s.MAX_BATCH)]  # type: ignore[valid-type]


_event_adapter: TypeAdapter[Any] = TypeAdapter(IncomingEvent)  # type: ignore[arg-type]


def validate_event(index: int, raw: Any) -> tuple[s.EventSchema | None, list[s.FieldError]]:
    """Validate one raw event; return it, or every problem found with it."""
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    event_id = event_id if isinstance(event_id, str) else None
    if event_id is not None and event_id.startswith(s.RESERVED_EVENT_ID_PREFIXES):
        prefix = next(p for p in s.RESERVED_EVENT_ID_PREFIXES if event_id.startswith(p))
        message = f"event ids starting with '{prefix}' are reserved for ContactHub's own events"
        return None, [s.FieldError(index=index, event_id=event_id, field="event_id", message=message)]
    try:
        return _event_adapter.validate_python(raw), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = [str(p) for p in err["loc"]]
            # The discriminated union puts the type tag first: ('contact.logged', 'channel').
            if loc and loc[0] in CHANNEL_EVENTS:
                loc = loc[1:]
            if loc:
                field = ".".join(loc)
            elif err["type"].startswith("union_tag"):
                field = "type"
            else:  # a rule across fields: name the first field it mentions
                field = next((f for f in ("msisdns", "customer_id") if f in err["msg"]), "event")
            message = err["msg"]
            if err["type"] == "union_tag_invalid":
                message = "unknown event type; expected one of: " + ", ".join(sorted(CHANNEL_EVENTS))
            elif err["type"] == "union_tag_not_found":
                message = "missing event type"
            elif message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            errors.append(s.FieldError(index=index, event_id=event_id, field=field, message=message))
        return None, errors
