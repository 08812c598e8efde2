"""Acting on a complaint by its id alone: what the actions API and the clerk's desk share.

An action is turned into the catalogue event a channel would post for the same fact
(`resolve` -> `complaint.resolved`) and recorded through the ingest service, so it meets
the same contract, the same rules and the same idempotency as `POST /v1/events`.

A clerk acting through ContactHub's own API or desk (`actor`) acts as themselves, now: the
step is recorded `by` the clerk's key holder (a different `by` is refused), stamped with
the server's time (a given `occurred_at` only within STAFF_TIME_TOLERANCE_S of it), and
posted by the clerk's key. A channel's system, which names its own agents and may deliver
late, posts the same events through `POST /v1/events` instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contacthub.contract import ACTION_EVENT, CHANNEL_EVENTS, FieldError
from contacthub.domain.complaint import ACTIONS
from contacthub.domain.roles import OPERATOR, Principal, Role
from contacthub.services.ingest import IngestOutcome, IngestRejected, IngestService
from contacthub.services.ports import EventLog

COMMON_FIELDS = ("action", "by", "channel", "occurred_at", "event_id")
STAFF_TIME_TOLERANCE_S = 300
"""How far a clerk's `occurred_at` may lie from the server's time (a form filled in a few minutes ago)."""
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

    def take(self, complaint_id: str, body: Mapping[str, Any], *, actor: Principal | None = None) -> ActionOutcome:
        """Record one action. IngestRejected (422/409) names the field at fault; nothing is stored then.

        `actor`: the key holder acting through the API or the desk (see the module's docstring)."""
        return self.take_all(complaint_id, [body], actor=actor)[0]

    def take_all(self, complaint_id: str, bodies: Sequence[Mapping[str, Any]], *, actor: Principal | None = None,
                 key: str | None = None) -> list[ActionOutcome]:
        """Record several actions on one complaint in order, all or none (a TMF621 PATCH that adds a note and
        changes the status). `key`: the caller's idempotency key for the whole set (its actions' event ids are
        `<key>#1`, `<key>#2`, ...); without one, each action's own `event_id` or a new one."""
        if not bodies:
            return []
        customer_id = None
        raws: list[dict[str, Any]] = []
        own_keys: list[bool] = []
        for number, given in enumerate(bodies, start=1):
            body = self._as_themselves(given, actor) if actor is not None and actor.role is Role.CLERK else given
            action = body.get("action")
            if action not in ACTION_EVENT:
                raise _rejected(422, "action", "unknown action; expected one of: " + ", ".join(ACTIONS))
            takes = action_fields(action)
            for name in body:
                if name not in COMMON_FIELDS and name not in takes:
                    applies = ", ".join(sorted(takes)) or "none"
                    raise _rejected(422, name, f"'{name}' does not apply to '{action}' (it takes: {applies})")
            if customer_id is None:
                customer_id = self.log.lookup_claims("complaint", [complaint_id]).get(complaint_id)
                if customer_id is None:
                    raise UnknownComplaint(complaint_id)
            raw = {k: v for k, v in body.items() if k != "action" and v is not None}
            raw.update(type=ACTION_EVENT[action], customer_id=customer_id, complaint_id=complaint_id)
            if key is not None:
                raw["event_id"] = f"{key}#{number}"
            own_keys.append("event_id" in raw)
            raw.setdefault("event_id", f"action-{uuid.uuid4()}")
            raws.append(raw)
        # A retry (a resubmitted form, a client timeout) whose time was left to "now" gets a
        # different time on each attempt: the time is then not part of "the same content".
        ignored = frozenset() if all("occurred_at" in raw for raw in raws) else frozenset({"occurred_at"})
        now = self.clock().isoformat()
        for raw in raws:
            raw.setdefault("occurred_at", now)
        try:
            # The action's id is scoped by who acts (`clerk:<name>`): one clerk cannot take another's.
            outcome: IngestOutcome = self.ingest.ingest(
                raws, digest_ignores=ignored, posted_by=actor.key_id if actor is not None else None,
                source=actor.event_source() if actor is not None else OPERATOR)
        except IngestRejected as rejected:
            for error in rejected.errors:  # the caller's actions, not a batch: its `type` is the caller's `action`
                at = error.index if error.index is not None else 0
                error.index = None if len(raws) == 1 else error.index
                if at < len(own_keys) and not own_keys[at]:
                    error.event_id = None  # a key the caller never saw
                if error.field == "type":
                    error.field = "action"
            raise
        assert customer_id is not None
        return [ActionOutcome(r.event_id, r.status, r.position, customer_id) for r in outcome.results]

    def _as_themselves(self, body: Mapping[str, Any], actor: Principal) -> dict[str, Any]:
        """The clerk's action as recorded: `by` the key holder, at the server's time (module docstring)."""
        fields = dict(body)
        by = fields.get("by")
        if by is not None and by != actor.name:
            raise _rejected(422, "by", f"a clerk's action is recorded as taken by the key's holder ({actor.name}); "
                                       "leave `by` out or send that name")
        fields["by"] = actor.name
        given = fields.get("occurred_at")
        if isinstance(given, str):
            try:
                moment = datetime.fromisoformat(given.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                return fields  # not a time: validation names it
            if moment.tzinfo is not None and abs((moment - self.clock()).total_seconds()) > STAFF_TIME_TOLERANCE_S:
                raise _rejected(422, "occurred_at", "a clerk's action is stamped with the server's time; occurred_at may "
                                                    f"differ from it by at most {STAFF_TIME_TOLERANCE_S} s (leave it out)")
        return fields


def _rejected(status: int, field: str, message: str) -> IngestRejected:
    return IngestRejected(status, [FieldError(index=None, event_id=None, field=field, message=message)])
