"""Acting on a complaint by its id alone: what the actions API and the clerk's desk share.

An action is turned into the catalogue event a channel would post for the same fact
(`resolve` -> `complaint.resolved`) and recorded through the ingest service, so it meets
the same contract, the same rules and the same idempotency as `POST /v1/events`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contacthub.contract import ACTION_EVENT, CHANNEL_EVENTS, FieldError
from contacthub.domain.complaint import ACTIONS
from contacthub.services.ingest import IngestOutcome, IngestRejected, IngestService
from contacthub.services.ports import EventLog

COMMON_FIELDS = ("action", "by", "channel", "occurred_at", "event_id")
_ENVELOPE = frozenset({"type", "event_id", "occurred_at", "customer_id", "msisdn", "complaint_id", "by", "channel"})


def action_fields(action: str) -> dict[str, bool]:
    """The fields an action takes beyond the common ones, each with whether it is required."""
    model = CHANNEL_EVENTS[ACTION_EVENT[action]]
    return {name: f.is_required() for name, f in model.model_fields.items() if name not in _ENVELOPE}


class UnknownComplaint(Exception):
    pass


@dataclass(frozen=True)
class ActionOutcome:
    event_id: str
    result: str  # recorded | duplicate
    position: int
    customer_id: str


class ComplaintActions:
    def __init__(self, ingest: IngestService, event_log: EventLog, clock: Callable[[], datetime]) -> None:
        self.ingest = ingest
        self.log = event_log
        self.clock = clock

    def take(self, complaint_id: str, body: Mapping[str, Any]) -> ActionOutcome:
        """Record one action. IngestRejected (422/409) names the field at fault; nothing is stored then."""
        action = body.get("action")
        if action not in ACTION_EVENT:
            raise _rejected(422, "action", "unknown action; expected one of: " + ", ".join(ACTIONS))
        takes = action_fields(action)
        for name in body:
            if name not in COMMON_FIELDS and name not in takes:
                applies = ", ".join(sorted(takes)) or "none"
                raise _rejected(422, name, f"'{name}' does not apply to '{action}' (it takes: {applies})")
        customer_id = self.log.lookup_claims("complaint", [complaint_id]).get(complaint_id)
        if customer_id is None:
            raise UnknownComplaint(complaint_id)
        raw = {k: v for k, v in body.items() if k != "action" and v is not None}
        raw.update(type=ACTION_EVENT[action], customer_id=customer_id, complaint_id=complaint_id)
        own_key = "event_id" in raw
        raw.setdefault("event_id", f"action-{uuid.uuid4()}")
        # A retry (a resubmitted form, a client timeout) whose time was left to "now" gets a
        # different time on each attempt: the time is then not part of "the same content".
        ignored = frozenset() if "occurred_at" in raw else frozenset({"occurred_at"})
        raw.setdefault("occurred_at", self.clock().isoformat())
        try:
            outcome: IngestOutcome = self.ingest.ingest([raw], digest_ignores=ignored)
        except IngestRejected as rejected:
            for error in rejected.errors:  # one event, no batch: its `type` is the caller's `action`
                error.index = None
                if not own_key:
                    error.event_id = None  # a key the caller never saw
                if error.field == "type":
                    error.field = "action"
            raise
        result = outcome.results[0]
        return ActionOutcome(result.event_id, result.status, result.position, customer_id)


def _rejected(status: int, field: str, message: str) -> IngestRejected:
    return IngestRejected(status, [FieldError(index=None, event_id=None, field=field, message=message)])
