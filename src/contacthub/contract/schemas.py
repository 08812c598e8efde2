"""The public event schemas, catalogue v2: the shape of what is posted to `POST /v1/events`.

Validation here is about shape (types, lengths, closed vocabularies); the rules that
depend on a customer's history live in the domain. Limits are part of the contract and
are listed in docs/events.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from contacthub.domain.complaint import MAX_ESCALATION_LEVEL
from contacthub.domain.customer import IDENTITY, LINKED_PREFIX
from contacthub.domain.numbers import UNIDENTIFIED_PREFIX, is_unidentified_party
from contacthub.domain.vocabulary import Channel, Direction, NumberReleaseReason, Outcome, Segment, Severity, Tier

MAX_BATCH = 1000
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=timezone.utc)

_CN_MOBILE_WITH_COUNTRY_CODE = re.compile(r"^(?:0086|86)(1[3-9][0-9]{9})$")
# RFC 3339 date-time: a 'T' (or space) separator and an explicit offset are required.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_MSISDN = re.compile(r"^[0-9]{5,15}$")


CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""Unicode control characters (category Cc) other than tab and newline, and lone surrogates (Cs):
refused in every free text of an event, and in every path and query parameter of a request."""


def _no_control_characters(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    bad = CONTROL_CHARACTERS.search(value)
    if bad:
        raise ValueError(f"control character U+{ord(bad.group()):04X} is not allowed")
    return value


def normalise_msisdn(value: str) -> str:
    """An MSISDN as digits only; a Chinese mobile number given with +86 / 0086 is stored without it."""
    digits = value[1:] if value.startswith("+") else value
    if not _MSISDN.fullmatch(digits):
        raise ValueError("an MSISDN is 5 to 15 digits, optionally with a leading '+'")
    match = _CN_MOBILE_WITH_COUNTRY_CODE.fullmatch(digits)
    return match.group(1) if match else digits


def _rfc3339_text(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-02T09:30:00+08:00")
    return value


def _plain_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    return value


def text_in(values: type[StrEnum]) -> Callable[[Any], Any]:
    """A check that a closed vocabulary's value was posted as text.

    Anything but text is refused before pydantic's enum check, which would build its
    message from the value's repr: a list nested a thousand levels deep exceeds Python's
    recursion limit there (a 500 instead of a 422 naming the field).
    """
    allowed = ", ".join(v.value for v in values)

    def text_only(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"must be text, one of: {allowed}")
        return value

    return text_only


ChannelName = Annotated[Channel, BeforeValidator(text_in(Channel))]
DirectionName = Annotated[Direction, BeforeValidator(text_in(Direction))]
OutcomeName = Annotated[Outcome, BeforeValidator(text_in(Outcome))]
ReleaseReasonName = Annotated[NumberReleaseReason, BeforeValidator(text_in(NumberReleaseReason))]
SegmentName = Annotated[Segment, BeforeValidator(text_in(Segment))]
SeverityName = Annotated[Severity, BeforeValidator(text_in(Severity))]
TierName = Annotated[Tier, BeforeValidator(text_in(Tier))]


def _not_too_early(value: datetime) -> datetime:
    if value < EARLIEST_OCCURRED_AT:
        raise ValueError("occurred_at must be on or after 2000-01-01")
    return value


Text = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_control_characters)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_no_control_characters)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")]
EventId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Msisdn = Annotated[str, StringConstraints(max_length=16), AfterValidator(normalise_msisdn)]
OccurredAt = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_not_too_early)]


class EventSchema(BaseModel):
    """What every event carries as posted: its id, when it happened, and whose it is."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)

    event_id: EventId = Field(description="The channel's own unique id for this event: the idempotency key.")
    occurred_at: OccurredAt = Field(description="When it happened at the channel (RFC 3339 with offset).")
    customer_id: Identifier | None = Field(default=None, description="The customer, or give `msisdn` instead.")
    msisdn: Msisdn | None = Field(default=None, description="A phone number the customer registered.")

    @model_validator(mode="after")
    def _one_way_to_name_the_customer(self) -> EventSchema:
        if (self.customer_id is None) == (self.msisdn is None):
            raise ValueError("give exactly one of customer_id or msisdn")
        return self

    @field_validator("customer_id")
    @classmethod
    def _not_an_unidentified_party(cls, value: str | None) -> str | None:
        if value is not None and is_unidentified_party(value):
            raise ValueError(f"customer ids starting with '{UNIDENTIFIED_PREFIX}' name a number's unidentified "
                             "party, which ContactHub keeps itself; post its touchpoints by msisdn")
        return value

    def addressed_by(self) -> str | None:
        """The number this event names its customer by (None when it names the customer by id)."""
        return self.msisdn if self.customer_id is None else None

    def domain_fields(self) -> dict[str, Any]:
        """The keyword arguments of the matching domain command."""
        fields = self.__dict__.copy()
        for key in _ENVELOPE_ONLY:
            del fields[key]
        # Keep the channel's offset, but as a plain datetime.timezone rather than pydantic's own tzinfo.
        offset = self.occurred_at.utcoffset()
        fields["occurred_at"] = self.occurred_at.replace(tzinfo=timezone(offset) if offset else timezone.utc)
        return fields


_ENVELOPE_ONLY = frozenset({"type", "customer_id", "msisdn"})


class CustomerRegistered(EventSchema):
    type: Literal["customer.registered"]
    customer_id: Identifier
    name: Text
    segment: SegmentName
    tier: TierName
    msisdns: Annotated[list[Msisdn], Field(min_length=1, max_length=50)]

    @model_validator(mode="after")
    def _one_way_to_name_the_customer(self) -> CustomerRegistered:
        if self.msisdn is not None:
            raise ValueError("customer.registered names its numbers in msisdns, not msisdn")
        if len(set(self.msisdns)) != len(self.msisdns):
            raise ValueError("msisdns lists a number twice")
        return self

    def domain_fields(self) -> dict[str, Any]:
        return {**super().domain_fields(), "customer_id": self.customer_id, "msisdns": tuple(self.msisdns)}


class TierChanged(EventSchema):
    type: Literal["customer.tier_changed"]
    tier: TierName
    arpu: Annotated[float, BeforeValidator(_plain_number), Field(ge=0, le=10_000_000, allow_inf_nan=False)] = Field(
        description="Average monthly revenue of the customer, in yuan."
    )

    def domain_fields(self) -> dict[str, Any]:
        return {**super().domain_fields(), "arpu": float(self.arpu)}


class _NumberChange(EventSchema):
    """A change to a customer's numbers (posted by BOSS): named by customer_id; `msisdn` is the number itself."""

    customer_id: Identifier
    msisdn: Msisdn = Field(description="The number the customer takes or gives up.")

    @model_validator(mode="after")
    def _one_way_to_name_the_customer(self) -> _NumberChange:
        return self  # both are required: the customer by id, the number as the fact's subject

    def addressed_by(self) -> str | None:
        return None

    def domain_fields(self) -> dict[str, Any]:
        return {**super().domain_fields(), "msisdn": self.msisdn}


class MsisdnAdded(_NumberChange):
    type: Literal["customer.msisdn_added"]


class MsisdnReleased(_NumberChange):
    type: Literal["customer.msisdn_released"]
    reason: ReleaseReasonName = Field(description="Why the number was given up (a closed vocabulary: no free text).")


class _IdentityChange(EventSchema):
    """A merge or its undoing (BOSS or an operator): on the duplicate, named by customer_id."""

    customer_id: Identifier = Field(description="The duplicate record.")
    survivor_id: Identifier = Field(description="The customer the duplicate is (or was) merged into.")

    @field_validator("survivor_id")
    @classmethod
    def _survivor_not_a_party(cls, value: str) -> str:
        if is_unidentified_party(value):
            raise ValueError(f"customer ids starting with '{UNIDENTIFIED_PREFIX}' name a number's unidentified "
                             "party, which is never a survivor")
        return value


class CustomerMerged(_IdentityChange):
    type: Literal["customer.merged"]


class CustomerUnmerged(_IdentityChange):
    type: Literal["customer.unmerged"]


class ContactLogged(EventSchema):
    type: Literal["contact.logged"]
    channel: ChannelName
    direction: DirectionName
    reason: Text
    handled_by: Text
    site: Text | None = None
    duration_s: Annotated[StrictInt, Field(ge=0, le=86_400)] = 0
    outcome: OutcomeName
    order_id: Identifier | None = None
    complaint_id: Identifier | None = None


class OrderPlaced(EventSchema):
    type: Literal["order.placed"]
    order_id: Identifier
    services: Annotated[list[ServiceName], Field(min_length=1, max_length=10)]

    def domain_fields(self) -> dict[str, Any]:
        return {**super().domain_fields(), "services": tuple(self.services)}


class ServiceActivated(EventSchema):
    type: Literal["service.activated"]
    order_id: Identifier
    service: ServiceName


class OrderCancelled(EventSchema):
    type: Literal["order.cancelled"]
    order_id: Identifier
    reason: Text


class ComplaintOpened(EventSchema):
    type: Literal["complaint.opened"]
    complaint_id: Identifier
    category: Text
    severity: SeverityName
    summary: LongText
    channel: ChannelName
    handled_by: Text = Field(description="Who took the complaint: its first-contact owner.")


class _ComplaintStep(EventSchema):
    complaint_id: Identifier
    by: Text = Field(description="Who took the step (staff id or system name).")
    channel: ChannelName = Field(description="The channel through which the step was taken.")


class ComplaintAcknowledged(_ComplaintStep):
    type: Literal["complaint.acknowledged"]


class ComplaintStarted(_ComplaintStep):
    type: Literal["complaint.started"]
    reason: Text | None = None


class ComplaintPended(_ComplaintStep):
    type: Literal["complaint.pended"]
    reason: Text = Field(description="What the customer is asked for; the SLA clock stops meanwhile.")


class ComplaintHeld(_ComplaintStep):
    type: Literal["complaint.held"]
    reason: Text = Field(description="What blocks the complaint inside the operator.")


class ComplaintResumed(_ComplaintStep):
    type: Literal["complaint.resumed"]
    reason: Text | None = None


class ComplaintHandedOver(_ComplaintStep):
    type: Literal["complaint.handed_over"]
    to: Text = Field(description="The new owner.")
    reason: Text


class ComplaintEscalated(_ComplaintStep):
    type: Literal["complaint.escalated"]
    level: Annotated[StrictInt, Field(ge=1, le=MAX_ESCALATION_LEVEL)] | None = Field(
        default=None, description="The new escalation level; one above the current level when left out."
    )
    reason: Text


class ComplaintResolved(_ComplaintStep):
    type: Literal["complaint.resolved"]
    resolution: LongText


class ComplaintFollowedUp(_ComplaintStep):
    type: Literal["complaint.followed_up"]
    satisfaction: Annotated[StrictInt, Field(ge=1, le=5)]


class ComplaintClosed(_ComplaintStep):
    type: Literal["complaint.closed"]


class ComplaintReopened(_ComplaintStep):
    type: Literal["complaint.reopened"]
    reason: Text


class ComplaintCancelled(_ComplaintStep):
    type: Literal["complaint.cancelled"]
    reason: Text


class ComplaintRejected(_ComplaintStep):
    type: Literal["complaint.rejected"]
    reason: Text


class ComplaintNoted(_ComplaintStep):
    type: Literal["complaint.noted"]
    text: LongText


class ComplaintLinked(_ComplaintStep):
    type: Literal["complaint.linked"]
    primary_id: Identifier = Field(description="The complaint this one duplicates (the same customer's)")
    reason: Text | None = None


class InternalEvent(EventSchema):
    """An event ContactHub decides itself (a watcher's), never accepted from a channel.

    NOT_CONTENT: the fields that describe when and how it was noticed rather than what it is
    about; they are left out of "the same content", so the same fact noticed again (a
    restart, a second watcher) is a duplicate of the stored one.
    """

    NOT_CONTENT: ClassVar[frozenset[str]] = frozenset({"occurred_at"})


class SlaWarning(InternalEvent):
    """Recorded by ContactHub's SLA watcher, never accepted from a channel. occurred_at: when it was seen."""

    type: Literal["complaint.sla_warning"]
    complaint_id: Identifier
    clock: StrictInt
    metric: Literal["first_response", "resolution"] = Field(
        default="resolution", description="Which clock: the first response or the resolution."
    )


class SlaBreach(InternalEvent):
    """Recorded by ContactHub's SLA watcher, never accepted from a channel. occurred_at: when it was seen."""

    type: Literal["complaint.sla_breached"]
    complaint_id: Identifier
    clock: StrictInt
    metric: Literal["first_response", "resolution"] = Field(
        default="resolution", description="Which clock: the first response or the resolution."
    )


class OrderJeopardy(InternalEvent):
    """Recorded by ContactHub's jeopardy watcher, never accepted from a channel.

    occurred_at: when it was seen; passed_at: when the first limit passed (the stored event's occurred_at).
    Once per order, so only the order makes its content.
    """

    NOT_CONTENT: ClassVar[frozenset[str]] = frozenset(
        {"occurred_at", "passed_at", "reasons", "limit_days", "limit_calls", "calls"}
    )

    type: Literal["order.jeopardy"]
    order_id: Identifier
    reasons: Annotated[list[Literal["days", "calls"]], Field(min_length=1, max_length=2)]
    limit_days: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    limit_calls: Annotated[StrictInt, Field(ge=1)]
    calls: Annotated[StrictInt, Field(ge=0)]
    passed_at: OccurredAt

    @model_validator(mode="after")
    def _each_reason_once(self) -> OrderJeopardy:
        if len(set(self.reasons)) != len(self.reasons):
            raise ValueError("reasons lists a limit twice")
        return self

    def domain_fields(self) -> dict[str, Any]:
        fields = super().domain_fields()
        offset = self.passed_at.utcoffset()
        fields["passed_at"] = self.passed_at.replace(tzinfo=timezone(offset) if offset else timezone.utc)
        fields["reasons"] = tuple(self.reasons)
        return fields


SLA_EVENT_ID_PREFIX = "sla-"
JEOPARDY_EVENT_ID_PREFIX = "jeopardy-"
IDENTITY_EVENT_ID_PREFIX = IDENTITY
LATE_EVENT_ID_PREFIX = "late-"
LINKED_EVENT_ID_PREFIX = LINKED_PREFIX
"""A duplicate complaint's resolution recorded with its primary's (domain/customer.py, resolve_complaint)."""
RESERVED_EVENT_ID_PREFIXES = (SLA_EVENT_ID_PREFIX, JEOPARDY_EVENT_ID_PREFIX, IDENTITY_EVENT_ID_PREFIX,
                              LATE_EVENT_ID_PREFIX, LINKED_EVENT_ID_PREFIX)
"""Event ids ContactHub gives its own events (the SLA and jeopardy watchers', the unknown callers'
parties and their touchpoints joining a customer, steps linked to an order placed after them);
a channel may not use them."""


class FieldError(BaseModel):
    index: int | None
    event_id: str | None
    field: str
    message: str


def content_digest(raw_event: Any) -> str:
    """What makes two postings of one event_id "the same content": the same JSON value as posted.

    Taken from the posted JSON, not the validated model, so that a later change to the
    contract (a new defaulted field) cannot turn a channel's retry into a conflict.
    """
    return hashlib.sha256(orjson.dumps(raw_event, option=orjson.OPT_SORT_KEYS)).hexdigest()
