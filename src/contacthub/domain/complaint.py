"""Complaints: the lifecycle table, the SLA policy and clock, and a complaint's decision state.

Pure: no I/O, no clock of its own. The aggregate (`customer.py`) keeps one
`ComplaintCase` per complaint and changes it only by recording events; the complaint read
model rebuilds the same state from the same events, so both answer "what status, which
owner, how long is left" alike.

Lifecycle (TMF621 Trouble Ticket statuses). A complaint is `acknowledged` when opened.
Every allowed action, and the status it leads to, is one row of `TRANSITIONS`; closed,
cancelled and rejected are final.

SLA clock (处理时限). The allowance comes from the policy in force when the complaint was
opened (tier x severity) and is recorded on the `complaint.opened` event, so a later
policy never rewrites history. The clock counts wall-clock time from the opening, stops
while the complaint is `pending` on the customer, and stops for good when the complaint
is resolved, closed, cancelled or rejected. A reopening starts a new clock (number + 1)
with the same allowance. The deadline is `started_at + allowance + time paused`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from contacthub.domain.errors import RuleViolation
from contacthub.domain.vocabulary import ComplaintStatus as S
from contacthub.domain.vocabulary import Severity, SlaState, Tier


@dataclass(frozen=True)
class Transition:
    allowed_from: frozenset[S]
    to: S | None  # None: the action records a fact and keeps the status


RUNNING = frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.HELD})
"""Statuses in which the SLA clock runs. `held` is blocked inside the operator: the customer still waits."""
OPEN_STATUSES = RUNNING | {S.PENDING}
"""Statuses with work still to do: what a work queue shows."""
FINAL_STATUSES = frozenset({S.CLOSED, S.CANCELLED, S.REJECTED})
_STOPS_CLOCK = frozenset({S.RESOLVED}) | FINAL_STATUSES

TRANSITIONS: dict[str, Transition] = {
    "acknowledge": Transition(frozenset({S.ACKNOWLEDGED}), None),
    "start": Transition(frozenset({S.ACKNOWLEDGED}), S.IN_PROGRESS),
    "pend": Transition(frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.HELD}), S.PENDING),
    "hold": Transition(frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.PENDING}), S.HELD),
    "resume": Transition(frozenset({S.PENDING, S.HELD}), S.IN_PROGRESS),
    "handover": Transition(OPEN_STATUSES | {S.RESOLVED}, None),
    "assign": Transition(frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS}), S.IN_PROGRESS),
    "escalate": Transition(OPEN_STATUSES, S.IN_PROGRESS),
    "resolve": Transition(OPEN_STATUSES, S.RESOLVED),
    "follow_up": Transition(frozenset({S.RESOLVED}), None),
    "close": Transition(frozenset({S.RESOLVED}), S.CLOSED),
    "reopen": Transition(frozenset({S.RESOLVED}), S.IN_PROGRESS),
    "cancel": Transition(OPEN_STATUSES, S.CANCELLED),
    "reject": Transition(OPEN_STATUSES, S.REJECTED),
    "note": Transition(frozenset(S), None),
}
"""Action -> which statuses allow it and the status it leads to.

`assign` is the catalogue-v1 event `complaint.assigned` (a handover that also starts the
work, without a reason); stored ones are read, new ones are refused: use handover + start.
"""

MAX_ESCALATION_LEVEL = 10

ACTIONS = tuple(a for a in TRANSITIONS if a != "assign")
"""The actions a person can take on a complaint (`POST /v1/complaints/{id}/actions`)."""


def allowed_actions(status: S) -> list[str]:
    return [a for a in ACTIONS if status in TRANSITIONS[a].allowed_from]


def check_transition(complaint_id: str, status: S, action: str) -> S:
    """The status after `action`, or a RuleViolation naming the current status and the allowed actions."""
    transition = TRANSITIONS[action]
    if status not in transition.allowed_from:
        allowed = ", ".join(allowed_actions(status)) or "none"
        raise RuleViolation(
            "type",
            f"complaint {complaint_id} is {status}; '{action}' is not allowed (allowed: {allowed})",
            code="illegal_transition",
        )
    return transition.to if transition.to is not None else status


# --- SLA policy -------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaTerms:
    """What a complaint is measured against: recorded on it when it is opened."""

    policy: str
    allowance_s: int
    warning_s: int


LEGACY_POLICY = "legacy-v1"
_LEGACY_HOURS = {Severity.CRITICAL: 4, Severity.HIGH: 24, Severity.MEDIUM: 48, Severity.LOW: 72}


def legacy_terms(severity: str) -> SlaTerms:
    """Terms for complaints recorded before SLA policies existed (catalogue v1): by severity alone."""
    allowance = _LEGACY_HOURS[Severity(severity)] * 3600
    return SlaTerms(LEGACY_POLICY, allowance, int(allowance * 0.75))


@dataclass(frozen=True)
class SlaPolicy:
    """Time limits by customer tier and severity, under one version name."""

    version: str
    warning_share: float
    allowance_hours: Mapping[tuple[str, str], float]

    def terms(self, tier: str, severity: str) -> SlaTerms:
        allowance = round(self.allowance_hours[(tier, severity)] * 3600)
        return SlaTerms(self.version, allowance, math.floor(allowance * self.warning_share))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SlaPolicy:
        """Read a policy document (see sla_policy.toml); a ValueError names the first bad entry."""
        unknown = set(data) - {"version", "warning_share", "allowance_hours"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown setting")
        version = data.get("version")
        if not isinstance(version, str) or not version.strip() or len(version) > 64:
            raise ValueError("version: must be a non-empty name of at most 64 characters")
        share = data.get("warning_share")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
            raise ValueError("warning_share: must be a number between 0 and 1, e.g. 0.75")
        table = data.get("allowance_hours")
        if not isinstance(table, Mapping):
            raise ValueError("allowance_hours: must be a table of tier -> severity -> hours")
        extra_tiers = set(table) - set(Tier)
        if extra_tiers:
            raise ValueError(f"allowance_hours.{sorted(extra_tiers)[0]}: unknown tier")
        hours: dict[tuple[str, str], float] = {}
        for tier in Tier:
            row = table.get(tier.value)
            if not isinstance(row, Mapping):
                raise ValueError(f"allowance_hours.{tier}: missing (every tier needs a row)")
            extra = set(row) - set(Severity)
            if extra:
                raise ValueError(f"allowance_hours.{tier}.{sorted(extra)[0]}: unknown severity")
            for severity in Severity:
                value = row.get(severity.value)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 24 * 365:
                    raise ValueError(f"allowance_hours.{tier}.{severity}: must be a number of hours above 0")
                hours[(tier.value, severity.value)] = float(value)
        return cls(version.strip(), float(share), hours)


# --- SLA clock ---------------------------------------------------------------------------


@dataclass
class SlaClock:
    number: int  # 1 from the opening; each reopening starts the next
    started_at: datetime
    allowance_s: int
    warning_s: int
    paused_s: float = 0.0  # finished pauses so far
    paused_since: datetime | None = None
    stopped_at: datetime | None = None
    warned: bool = False  # complaint.sla_warning recorded for this clock
    breached: bool = False  # complaint.sla_breached recorded for this clock

    def elapsed_s(self, at: datetime) -> float:
        """Seconds the clock has run by `at` (never negative; pauses and the stop respected)."""
        end = at
        if self.stopped_at is not None and self.stopped_at < end:
            end = self.stopped_at
        if self.paused_since is not None and self.paused_since < end:
            end = self.paused_since
        return max(0.0, (end - self.started_at).total_seconds() - self.paused_s)

    def paused_total_s(self, at: datetime) -> float:
        ongoing = 0.0
        if self.paused_since is not None:
            ongoing = max(0.0, (at - self.paused_since).total_seconds())
        return self.paused_s + ongoing

    @property
    def deadline(self) -> datetime | None:
        """When the allowance runs out; None while paused (it moves on with every paused second)."""
        if self.paused_since is not None:
            return None
        return self.started_at + timedelta(seconds=self.allowance_s + self.paused_s)

    @property
    def warning_at(self) -> datetime | None:
        if self.paused_since is not None:
            return None
        return self.started_at + timedelta(seconds=self.warning_s + self.paused_s)

    def passed_at(self, kind: str, seen_at: datetime) -> datetime:
        """When the warning point ('warning') or the deadline ('breached') passed, seen at `seen_at`.

        Exact unless a pause both began and ended after the point passed and before it was
        seen (the watcher looks every few seconds); then it is late by that pause.
        """
        threshold = self.warning_s if kind == "warning" else self.allowance_s
        moment = self.started_at + timedelta(seconds=threshold + self.paused_s)
        return min(moment, seen_at)

    def remaining_s(self, at: datetime) -> float:
        """Seconds left before the deadline at `at`; negative when overdue."""
        return self.allowance_s - self.elapsed_s(at)

    def state(self, at: datetime) -> SlaState:
        """Where the clock stands at `at`. A breach once recorded stands: a step recorded after it, whatever
        moment it claims (a back-dated resolution or pause), ends the clock `missed`, never `met`."""
        elapsed = self.elapsed_s(at)
        if self.stopped_at is not None:
            return SlaState.MISSED if self.breached or elapsed > self.allowance_s else SlaState.MET
        if elapsed > self.allowance_s:
            return SlaState.BREACHED
        if self.paused_since is not None:
            return SlaState.PAUSED
        return SlaState.DUE_SOON if elapsed >= self.warning_s else SlaState.ON_TRACK

    def pause(self, at: datetime) -> None:
        if self.paused_since is None and self.stopped_at is None:
            self.paused_since = at

    def run(self, at: datetime) -> None:
        if self.paused_since is not None:
            self.paused_s += max(0.0, (at - self.paused_since).total_seconds())
            self.paused_since = None

    def stop(self, at: datetime) -> None:
        if self.stopped_at is None:
            self.run(at)
            self.stopped_at = at


# --- a complaint's decision state ----------------------------------------------------------


@dataclass
class ComplaintCase:
    """What the rules need to know of one complaint, and what every view shows of it."""

    complaint_id: str
    status: S
    owner: str
    tier: str | None  # None for complaints recorded before catalogue v2
    severity: str
    category: str
    channel: str
    sla_policy: str
    clock: SlaClock
    escalation_level: int = 0
    reopen_count: int = 0
    satisfaction: int | None = None  # of the latest follow-up call since the last (re)opening
    owners: list[str] = field(default_factory=list)  # every owner so far, first-contact owner first
    opened_at: datetime = field(default=datetime.min.replace(tzinfo=timezone.utc))
    first_resolved_at: datetime | None = None
    first_resolution_s: float | None = None
    """Seconds from the opening to the first resolution, net of time pending on the customer."""
    first_sla_met: bool | None = None
    """Whether the first resolution came within the allowance (the time limit the complaint was accepted with)."""

    @classmethod
    def opened(
        cls,
        *,
        complaint_id: str,
        at: datetime,
        owner: str,
        tier: str | None,
        severity: str,
        category: str,
        channel: str,
        terms: SlaTerms,
    ) -> ComplaintCase:
        clock = SlaClock(number=1, started_at=at, allowance_s=terms.allowance_s, warning_s=terms.warning_s)
        return cls(
            complaint_id=complaint_id,
            status=S.ACKNOWLEDGED,
            owner=owner,
            tier=tier,
            severity=severity,
            category=category,
            channel=channel,
            sla_policy=terms.policy,
            clock=clock,
            owners=[owner],
            opened_at=at,
        )

    # Deciding: may this happen now?

    def check(self, action: str, at: datetime) -> S:
        """The status `action` at `at` leads to, or a RuleViolation: not allowed now, or dated impossibly early."""
        after = check_transition(self.complaint_id, self.status, action)
        if at < self.opened_at:
            raise RuleViolation(
                "occurred_at",
                f"complaint {self.complaint_id} was opened at {self.opened_at.isoformat()}; a step cannot come before it",
                code="before_opening",
            )
        if action == "reopen" and self.clock.stopped_at is not None and at < self.clock.stopped_at:
            raise RuleViolation(
                "occurred_at",
                f"complaint {self.complaint_id} was resolved at {self.clock.stopped_at.isoformat()}; "
                "it cannot be reopened before that",
                code="before_resolution",
            )
        if action == "escalate" and self.escalation_level >= MAX_ESCALATION_LEVEL:
            raise RuleViolation("type", f"complaint {self.complaint_id} is already at the highest escalation level")
        return after

    def allowed_actions(self) -> list[str]:
        """What may be done now: the status's actions, less escalation at the highest level."""
        return [
            a for a in allowed_actions(self.status)
            if not (a == "escalate" and self.escalation_level >= MAX_ESCALATION_LEVEL)
        ]

    def check_handover(self, to: str, at: datetime) -> None:
        self.check("handover", at)
        if to == self.owner:
            raise RuleViolation("to", f"complaint {self.complaint_id} is already owned by {to}", code="same_owner")

    def sla_due(self, kind: str, at: datetime) -> bool:
        """Whether a warning ('warning') or breach ('breached') should be recorded for the current clock at `at`."""
        clock = self.clock
        if clock.stopped_at is not None or self.status not in OPEN_STATUSES:
            return False
        if kind == "warning":
            return not clock.warned and clock.elapsed_s(at) >= clock.warning_s
        return not clock.breached and clock.elapsed_s(at) > clock.allowance_s

    # Evolving: a recorded step, applied. Never refuses: the log is what happened.

    def step(self, action: str, at: datetime) -> None:
        transition = TRANSITIONS[action]
        before, after = self.status, transition.to or self.status
        self.status = after
        if action == "reopen":
            self.reopen_count += 1
            self.satisfaction = None
            old = self.clock
            self.clock = SlaClock(
                number=old.number + 1, started_at=at, allowance_s=old.allowance_s, warning_s=old.warning_s
            )
            return
        if after in _STOPS_CLOCK:
            self.clock.stop(at)
            if after == S.RESOLVED and self.first_resolved_at is None:
                self.first_resolved_at = at
                self.first_resolution_s = self.clock.elapsed_s(at)
                # A breach already recorded stands (SlaClock.state): no back-dated step turns it into met.
                self.first_sla_met = not self.clock.breached and self.first_resolution_s <= self.clock.allowance_s
        elif after == S.PENDING:
            self.clock.pause(at)
        elif before == S.PENDING:
            self.clock.run(at)

    def hand_over(self, to: str) -> None:
        self.owner = to
        self.owners.append(to)

    def sla_recorded(self, kind: str, clock: int) -> None:
        if clock != self.clock.number:
            return
        if kind == "warning":
            self.clock.warned = True
        else:
            self.clock.breached = True
