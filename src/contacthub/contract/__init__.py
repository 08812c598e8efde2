"""The public event contract, catalogue v2: what is posted to `POST /v1/events`, and what each type is.

`schemas` holds the shapes (pydantic models, limits, msisdn normalisation); `catalogue`
declares every event type once and derives from it everything else that lists types.
Validation here is about shape (types, lengths, closed vocabularies); the rules that
depend on a customer's history live in the domain. docs/events.md describes each type.
"""

from contacthub.contract.catalogue import (
    ACTION_EVENT,
    CATALOGUE,
    CHANNEL_EVENTS,
    CLAIMED_BY,
    COMMANDS,
    DOMAIN_EVENTS,
    EVENT_TYPES,
    PERSONAL_FIELDS,
    EventType,
    IncomingEvent,
    IngestBatch,
    validate_event,
)
from contacthub.contract.schemas import (
    CONTROL_CHARACTERS,
    EARLIEST_OCCURRED_AT,
    JEOPARDY_EVENT_ID_PREFIX,
    MAX_BATCH,
    RESERVED_EVENT_ID_PREFIXES,
    SLA_EVENT_ID_PREFIX,
    ChannelName,
    ComplaintOpened,
    CustomerRegistered,
    EventSchema,
    FieldError,
    InternalEvent,
    MsisdnAdded,
    MsisdnReleased,
    OrderJeopardy,
    SlaBreach,
    SlaWarning,
    content_digest,
    normalise_msisdn,
    text_in,
)

__all__ = [
    "ACTION_EVENT",
    "CATALOGUE",
    "CHANNEL_EVENTS",
    "CLAIMED_BY",
    "COMMANDS",
    "CONTROL_CHARACTERS",
    "DOMAIN_EVENTS",
    "EARLIEST_OCCURRED_AT",
    "EVENT_TYPES",
    "JEOPARDY_EVENT_ID_PREFIX",
    "MAX_BATCH",
    "PERSONAL_FIELDS",
    "RESERVED_EVENT_ID_PREFIXES",
    "SLA_EVENT_ID_PREFIX",
    "ChannelName",
    "ComplaintOpened",
    "CustomerRegistered",
    "EventSchema",
    "EventType",
    "FieldError",
    "IncomingEvent",
    "IngestBatch",
    "InternalEvent",
    "MsisdnAdded",
    "MsisdnReleased",
    "OrderJeopardy",
    "SlaBreach",
    "SlaWarning",
    "content_digest",
    "normalise_msisdn",
    "text_in",
    "validate_event",
]
