"""Complaint lifecycle: one table of which action is allowed from which status.

Kept as data so that the rule is read in one place, by the aggregate, the API's error
messages and the documentation alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from contacthub.domain.errors import RuleViolation
from contacthub.domain.vocabulary import ComplaintStatus as S


@dataclass(frozen=True)
class Transition:
    allowed_from: frozenset[S]
    to: S | None  # None: the action records a fact and keeps the status


TRANSITIONS: dict[str, Transition] = {
    "acknowledge": Transition(frozenset({S.OPENED}), S.ACKNOWLEDGED),
    "assign": Transition(frozenset({S.OPENED, S.ACKNOWLEDGED, S.IN_PROGRESS}), S.IN_PROGRESS),
    "escalate": Transition(frozenset({S.OPENED, S.ACKNOWLEDGED, S.IN_PROGRESS}), S.IN_PROGRESS),
    "resolve": Transition(frozenset({S.OPENED, S.ACKNOWLEDGED, S.IN_PROGRESS}), S.RESOLVED),
    "follow_up": Transition(frozenset({S.RESOLVED}), None),
    "close": Transition(frozenset({S.RESOLVED}), S.CLOSED),
    "reopen": Transition(frozenset({S.RESOLVED, S.CLOSED}), S.IN_PROGRESS),
}

OPEN_STATUSES = frozenset({S.OPENED, S.ACKNOWLEDGED, S.IN_PROGRESS})


def allowed_actions(status: S) -> list[str]:
    return sorted(a for a, t in TRANSITIONS.items() if status in t.allowed_from)


def next_status(complaint_id: str, status: S, action: str) -> S:
    """The status after `action`, or a RuleViolation naming the current status and the allowed actions."""
    transition = TRANSITIONS[action]
    if status not in transition.allowed_from:
        allowed = ", ".join(allowed_actions(status)) or "none"
        raise RuleViolation(
            "complaint_id",
            f"complaint {complaint_id} is {status}; '{action}' is not allowed (allowed: {allowed})",
            code="illegal_transition",
        )
    return transition.to if transition.to is not None else status
