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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from contacthub.domain.calendar import CALENDAR_TIME, TimeBasis, known_calendar
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
    "link": Transition(OPEN_STATUSES, None),
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

RESOLUTION = "resolution"
FIRST_RESPONSE = "first_response"
METRICS = (FIRST_RESPONSE, RESOLUTION)
"""The clocks a complaint runs (Zendesk calls them SLA metrics): the first response, and the resolution."""

RESPONDS = frozenset({"acknowledge", "start", "pend", "resolve", "cancel", "reject"})
"""Steps that answer the customer: the first of them stops the first-response clock. A note, a
hand-over, a hold or an escalation is work inside the operator and does not."""


@dataclass(frozen=True)
class Allowance:
    """A time limit and how it is counted: every second, or only working time (`working`)."""

    seconds: int
    working: bool = False


@dataclass(frozen=True)
class ClockTerms:
    """One clock's limit, its warning point, and the time basis it counts in (a calendar id)."""

    allowance_s: int
    warning_s: int
    basis: str = CALENDAR_TIME.id


@dataclass(frozen=True)
class SlaTerms:
    """What a complaint is measured against: recorded on it when it is opened.

    `allowance_s`/`warning_s`/`calendar`: the resolution clock; `first_response`: the
    first-response clock, if the policy has one; `followup_s`/`followup_calendar`: how long
    after a resolution the follow-up call (回访) is due; `followup_required`: whether the
    complaint may be closed without one.
    """

    policy: str
    allowance_s: int
    warning_s: int
    calendar: str = CALENDAR_TIME.id
    first_response: ClockTerms | None = None
    followup_s: int | None = None
    followup_calendar: str | None = None
    followup_required: bool = False


LEGACY_POLICY = "legacy-v1"
_LEGACY_HOURS = {Severity.CRITICAL: 4, Severity.HIGH: 24, Severity.MEDIUM: 48, Severity.LOW: 72}


def legacy_terms(severity: str) -> SlaTerms:
    """Terms for complaints recorded before SLA policies existed (catalogue v1): by severity alone."""
    allowance = _LEGACY_HOURS[Severity(severity)] * 3600
    return SlaTerms(LEGACY_POLICY, allowance, int(allowance * 0.75))


_ALLOWANCE = re.compile(r"(\d+(?:\.\d+)?)(m|h|wh|wd)")
_UNITS = {"m": "minutes", "h": "hours", "wh": "working hours", "wd": "working days"}


@dataclass(frozen=True)
class BreachAction:
    """A policy rule: when `metric`'s deadline passes for a complaint of these tiers, the SLA watcher
    escalates it one level and/or hands it over (to a named owner, or to the supervisor of the site
    that holds it)."""

    metric: str
    tiers: frozenset[str]
    severities: frozenset[str]
    escalate: bool
    hand_over_to: str | None  # a staff id, "site-supervisor", or None

    def applies(self, tier: str | None, severity: str) -> bool:
        return (not self.tiers or tier in self.tiers) and (not self.severities or severity in self.severities)


@dataclass(frozen=True)
class SlaPolicy:
    """Time limits by customer tier and severity, for each clock, under one version name."""

    version: str
    warning_share: float
    allowances: Mapping[str, Mapping[tuple[str, str], Allowance]]  # metric -> (tier, severity) -> limit
    calendar: TimeBasis | None = None  # what working time means; required when any limit counts it
    follow_up: Allowance | None = None
    followup_required: bool = False
    breach_actions: tuple[BreachAction, ...] = ()

    @property
    def allowance_hours(self) -> Mapping[tuple[str, str], float]:
        return {k: a.seconds / 3600 for k, a in self.allowances[RESOLUTION].items()}

    def _clock(self, allowance: Allowance) -> ClockTerms:
        basis = self.calendar.id if allowance.working and self.calendar is not None else CALENDAR_TIME.id
        return ClockTerms(allowance.seconds, math.floor(allowance.seconds * self.warning_share), basis)

    def terms(self, tier: str, severity: str) -> SlaTerms:
        resolution = self._clock(self.allowances[RESOLUTION][(tier, severity)])
        first = self.allowances.get(FIRST_RESPONSE)
        follow = self.follow_up
        return SlaTerms(
            self.version,
            resolution.allowance_s,
            resolution.warning_s,
            resolution.basis,
            first_response=None if first is None else self._clock(first[(tier, severity)]),
            followup_s=None if follow is None else follow.seconds,
            followup_calendar=None if follow is None else self._clock(follow).basis,
            followup_required=self.followup_required,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], calendar: TimeBasis | None = None) -> SlaPolicy:
        """Read a policy document (see sla_policy.toml); a ValueError names the first bad entry.

        `calendar`: the calendar the document's `calendar` setting names, already read (config.py)."""
        unknown = set(data) - {"version", "warning_share", "allowance_hours", "calendar", *METRICS,
                               "follow_up", "breach_actions"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown setting")
        version = data.get("version")
        if not isinstance(version, str) or not version.strip() or len(version) > 64:
            raise ValueError("version: must be a non-empty name of at most 64 characters")
        share = data.get("warning_share")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
            raise ValueError("warning_share: must be a number between 0 and 1, e.g. 0.75")
        if ("allowance_hours" in data) == (RESOLUTION in data):
            raise ValueError("resolution: give the resolution limits as [resolution] (or the older [allowance_hours])")
        day_s = round(float(getattr(calendar, "day_hours", 8)) * 3600)
        allowances: dict[str, Mapping[tuple[str, str], Allowance]] = {}
        if "allowance_hours" in data:
            allowances[RESOLUTION] = _limits(data["allowance_hours"], "allowance_hours", plain_hours=True)
        for metric in METRICS:
            if metric in data:
                allowances[metric] = _limits(data[metric], metric, plain_hours=False, day_s=day_s)
        follow_up, required = None, False
        if "follow_up" in data:
            table = data["follow_up"]
            if not isinstance(table, Mapping) or set(table) - {"within", "required_to_close"} or "within" not in table:
                raise ValueError("follow_up: must be a table with `within` (e.g. \"2wd\") and `required_to_close`")
            follow_up = _allowance(table["within"], "follow_up.within", plain_hours=False, day_s=day_s)
            required = table.get("required_to_close", False)
            if not isinstance(required, bool):
                raise ValueError("follow_up.required_to_close: must be true or false")
        actions = _breach_actions(data.get("breach_actions", []), allowances)
        working = [a for limits in allowances.values() for a in limits.values()] + ([follow_up] if follow_up else [])
        if any(a.working for a in working) and calendar is None:
            raise ValueError("calendar: the policy counts working time (wh, wd), so it must name a calendar")
        return cls(version.strip(), float(share), allowances, calendar, follow_up, required, actions)


def _allowance(value: Any, where: str, plain_hours: bool, day_s: int = 8 * 3600) -> Allowance:
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        seconds = round(value * 3600)
        working = False
    elif isinstance(value, str) and not plain_hours and (match := _ALLOWANCE.fullmatch(value.strip())):
        amount, unit = float(match.group(1)), match.group(2)
        seconds = round(amount * {"m": 60, "h": 3600, "wh": 3600, "wd": day_s}[unit])
        working = unit in ("wh", "wd")
    else:
        if plain_hours:
            raise ValueError(f"{where}: must be a number of hours above 0")
        raise ValueError(f"{where}: must be hours (8), or a number with a unit: 30m, 4h, 16wh (working hours), 3wd (working days)")
    if not 0 < seconds <= 366 * 86_400:
        raise ValueError(f"{where}: must be a number of hours above 0" if plain_hours else f"{where}: must be above 0 and at most a year")
    if working and seconds > MAX_WORKING_S:
        raise ValueError(f"{where}: at most {MAX_WORKING_S // 3600} working hours (a working-time limit must end within a year)")
    return Allowance(seconds, working)


MAX_WORKING_S = 2000 * 3600
"""The longest limit in working time: 2,000 working hours, 250 working days of 8 hours (about a year)."""


def _limits(table: Any, where: str, plain_hours: bool, day_s: int = 8 * 3600) -> dict[tuple[str, str], Allowance]:
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: must be a table of tier -> severity -> limit")
    extra_tiers = set(table) - set(Tier)
    if extra_tiers:
        raise ValueError(f"{where}.{sorted(extra_tiers)[0]}: unknown tier")
    limits: dict[tuple[str, str], Allowance] = {}
    for tier in Tier:
        row = table.get(tier.value)
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}.{tier}: missing (every tier needs a row)")
        extra = set(row) - set(Severity)
        if extra:
            raise ValueError(f"{where}.{tier}.{sorted(extra)[0]}: unknown severity")
        for severity in Severity:
            if severity.value not in row:
                raise ValueError(f"{where}.{tier}.{severity}: missing (every severity needs a limit)")
            limits[(tier.value, severity.value)] = _allowance(
                row[severity.value], f"{where}.{tier}.{severity}", plain_hours, day_s
            )
    return limits


def _breach_actions(items: Any, allowances: Mapping[str, Any]) -> tuple[BreachAction, ...]:
    if not isinstance(items, list):
        raise ValueError("breach_actions: must be a list of tables ([[breach_actions]])")
    actions = []
    for n, item in enumerate(items):
        where = f"breach_actions[{n}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: must be a table")
        extra = set(item) - {"clock", "tiers", "severities", "escalate", "hand_over_to"}
        if extra:
            raise ValueError(f"{where}.{sorted(extra)[0]}: unknown setting")
        metric = item.get("clock")
        if metric not in allowances:
            raise ValueError(f"{where}.clock: must be one of the policy's clocks ({', '.join(sorted(allowances))})")
        tiers, severities = item.get("tiers", []), item.get("severities", [])
        if not isinstance(tiers, list) or set(tiers) - set(Tier):
            raise ValueError(f"{where}.tiers: must be a list of tiers ({', '.join(Tier)})")
        if not isinstance(severities, list) or set(severities) - set(Severity):
            raise ValueError(f"{where}.severities: must be a list of severities ({', '.join(Severity)})")
        escalate = item.get("escalate", False)
        if not isinstance(escalate, bool):
            raise ValueError(f"{where}.escalate: must be true or false")
        to = item.get("hand_over_to")
        if to is not None and (not isinstance(to, str) or not to.strip() or len(to) > 64):
            raise ValueError(f"{where}.hand_over_to: must be a staff id or \"site-supervisor\"")
        if not escalate and to is None:
            raise ValueError(f"{where}: does nothing (set escalate = true and/or hand_over_to)")
        actions.append(BreachAction(str(metric), frozenset(tiers), frozenset(severities), escalate, to))
    return tuple(actions)


# --- SLA clock ---------------------------------------------------------------------------


@dataclass
class SlaClock:
    number: int  # 1 from the opening; each reopening starts the next
    started_at: datetime
    allowance_s: int
    warning_s: int
    paused_s: float = 0.0  # finished pauses so far, in the clock's own seconds
    paused_since: datetime | None = None
    stopped_at: datetime | None = None
    warned: bool = False  # complaint.sla_warning recorded for this clock
    breached: bool = False  # complaint.sla_breached recorded for this clock
    basis: TimeBasis = CALENDAR_TIME
    """How the clock counts: every second, or a calendar's working time (domain/calendar.py). Every
    figure in seconds (allowance, elapsed, paused) is in the basis's seconds."""
    paused_wall_s: float = 0.0  # finished pauses in wall-clock seconds (the metrics' time to resolve)

    def _end(self, at: datetime) -> datetime:
        end = at
        if self.stopped_at is not None and self.stopped_at < end:
            end = self.stopped_at
        if self.paused_since is not None and self.paused_since < end:
            end = self.paused_since
        return end

    def elapsed_s(self, at: datetime) -> float:
        """Seconds the clock has run by `at` (never negative; pauses and the stop respected)."""
        return max(0.0, self.basis.seconds_between(self.started_at, self._end(at)) - self.paused_s)

    def wall_elapsed_s(self, at: datetime) -> float:
        """Wall-clock seconds from the start to `at` (or the stop or pause), net of the time paused: the
        metrics' time to resolve, in one unit whatever the clock counts in."""
        return max(0.0, (self._end(at) - self.started_at).total_seconds() - self.paused_wall_s)

    def paused_total_s(self, at: datetime) -> float:
        ongoing = 0.0
        if self.paused_since is not None:
            ongoing = self.basis.seconds_between(self.paused_since, at)
        return self.paused_s + ongoing

    def _moment(self, threshold_s: int) -> datetime:
        return self.basis.moment_after(self.started_at, threshold_s + self.paused_s)

    @property
    def deadline(self) -> datetime | None:
        """When the allowance runs out; None while paused (it moves on with every paused second)."""
        if self.paused_since is not None:
            return None
        return self._moment(self.allowance_s)

    @property
    def warning_at(self) -> datetime | None:
        if self.paused_since is not None:
            return None
        return self._moment(self.warning_s)

    def overdue(self, at: datetime) -> bool:
        """Whether the clock ran past its deadline by `at`: the moment it stopped or paused, or `at`, is after it.

        A moment, not a count: a working-time deadline at 18:00 on Friday is missed by a
        resolution at 19:00, though no working time passed between."""
        return self._end(at) > self._moment(self.allowance_s)

    def overdue_s(self, at: datetime) -> float:
        """Wall-clock seconds from the deadline to `at` (or to the stop or pause); 0 when not overdue."""
        return max(0.0, (self._end(at) - self._moment(self.allowance_s)).total_seconds())

    def passed_at(self, kind: str, seen_at: datetime) -> datetime:
        """When the warning point ('warning') or the deadline ('breached') passed, seen at `seen_at`.

        Exact unless a pause both began and ended after the point passed and before it was
        seen (the watcher looks every few seconds); then it is late by that pause.
        """
        threshold = self.warning_s if kind == "warning" else self.allowance_s
        return min(self._moment(threshold), seen_at)

    def remaining_s(self, at: datetime) -> float:
        """Seconds (of the clock's basis) left before the deadline at `at`; negative when overdue."""
        return self.allowance_s - self.elapsed_s(at)

    def state(self, at: datetime) -> SlaState:
        """Where the clock stands at `at`. A breach once recorded stands: a step recorded after it, whatever
        moment it claims (a back-dated resolution or pause), ends the clock `missed`, never `met`."""
        if self.stopped_at is not None:
            return SlaState.MISSED if self.breached or self.overdue(at) else SlaState.MET
        if self.overdue(at):
            return SlaState.BREACHED
        if self.paused_since is not None:
            return SlaState.PAUSED
        return SlaState.DUE_SOON if self.elapsed_s(at) >= self.warning_s else SlaState.ON_TRACK

    def pause(self, at: datetime) -> None:
        if self.paused_since is None and self.stopped_at is None:
            self.paused_since = at

    def run(self, at: datetime) -> None:
        if self.paused_since is not None:
            self.paused_s += self.basis.seconds_between(self.paused_since, at)
            self.paused_wall_s += max(0.0, (at - self.paused_since).total_seconds())
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
    response: SlaClock | None = None
    """The first-response clock: runs from the opening to the first step that answers the customer
    (RESPONDS); never paused, never restarted. None when the policy had none at the opening."""
    followup_s: int | None = None  # how long after a resolution the follow-up call is due (None: no follow-up clock)
    followup_basis: TimeBasis = CALENDAR_TIME
    followup_required: bool = False  # whether closing needs a follow-up since the last resolution
    resolved_at: datetime | None = None  # the latest resolution (cleared by a reopening)
    followed_up_at: datetime | None = None  # the follow-up since the latest resolution
    primary_id: str | None = None
    """The complaint this one duplicates (`complaint.linked`): its clocks stopped at the link, it is
    resolved with its primary, and it counts in no metric (the issue is counted once, on the primary)."""
    duplicates: list[str] = field(default_factory=list)  # the complaints linked to this one

    @property
    def followup_due_at(self) -> datetime | None:
        """When the follow-up call of the latest resolution falls due; None once it is made or closed."""
        if self.followup_s is None or self.resolved_at is None or self.followed_up_at is not None:
            return None
        if self.status != S.RESOLVED:
            return None
        return self.followup_basis.moment_after(self.resolved_at, self.followup_s)

    def followup_state(self, at: datetime) -> str | None:
        """'due' or 'overdue' while a resolved complaint waits for its follow-up call; None otherwise."""
        due = self.followup_due_at
        if due is None:
            return None
        return "overdue" if at > due else "due"

    def clock_of(self, metric: str) -> SlaClock | None:
        return self.clock if metric == RESOLUTION else self.response

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
        clock = SlaClock(number=1, started_at=at, allowance_s=terms.allowance_s, warning_s=terms.warning_s,
                         basis=known_calendar(terms.calendar))
        first = terms.first_response
        response = None if first is None else SlaClock(
            number=1, started_at=at, allowance_s=first.allowance_s, warning_s=first.warning_s,
            basis=known_calendar(first.basis),
        )
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
            response=response,
            followup_s=terms.followup_s,
            followup_basis=known_calendar(terms.followup_calendar or CALENDAR_TIME.id),
            followup_required=terms.followup_required,
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
        if action == "reopen" and self.primary_id is not None:
            raise RuleViolation(
                "type",
                f"complaint {self.complaint_id} is a duplicate of {self.primary_id}, which it follows; reopen "
                f"{self.primary_id} instead",
                code="duplicate_follows_primary",
            )
        if action == "close" and self.followup_required and self.followed_up_at is None:
            raise RuleViolation(
                "type",
                f"complaint {self.complaint_id} cannot be closed before its follow-up call (回访): the SLA policy "
                "requires one after every resolution",
                code="follow_up_required",
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

    def sla_due(self, kind: str, at: datetime, metric: str = RESOLUTION) -> bool:
        """Whether a warning ('warning') or breach ('breached') should be recorded for `metric`'s current clock at `at`."""
        clock = self.clock_of(metric)
        if clock is None or clock.stopped_at is not None or self.status not in OPEN_STATUSES or self.primary_id:
            return False
        if kind == "warning":
            return not clock.warned and clock.elapsed_s(at) >= clock.warning_s
        return not clock.breached and clock.overdue(at)

    # Evolving: a recorded step, applied. Never refuses: the log is what happened.

    def step(self, action: str, at: datetime) -> None:
        transition = TRANSITIONS[action]
        before, after = self.status, transition.to or self.status
        self.status = after
        if action in RESPONDS and self.response is not None:
            self.response.stop(at)
        if action == "follow_up" and self.resolved_at is not None and self.followed_up_at is None:
            self.followed_up_at = at
        if action == "reopen":
            self.reopen_count += 1
            self.satisfaction = None
            self.resolved_at = self.followed_up_at = None
            old = self.clock
            self.clock = SlaClock(
                number=old.number + 1, started_at=at, allowance_s=old.allowance_s, warning_s=old.warning_s,
                basis=old.basis,
            )
            return
        if after == S.RESOLVED and before != S.RESOLVED:
            self.resolved_at, self.followed_up_at = at, None
        if after in _STOPS_CLOCK:
            self.clock.stop(at)
            if after == S.RESOLVED and self.first_resolved_at is None:
                self.first_resolved_at = at
                self.first_resolution_s = self.clock.wall_elapsed_s(at)
                # A breach already recorded stands (SlaClock.state): no back-dated step turns it into met.
                self.first_sla_met = not self.clock.breached and not self.clock.overdue(at)
        elif after == S.PENDING:
            self.clock.pause(at)
        elif before == S.PENDING:
            self.clock.run(at)

    def check_link(self, primary: ComplaintCase, at: datetime) -> None:
        """Whether this complaint may be linked to `primary` as its duplicate: one level, never a chain."""
        self.check("link", at)
        problem = None
        if primary.complaint_id == self.complaint_id:
            problem = "a complaint cannot duplicate itself"
        elif self.primary_id is not None:
            problem = f"complaint {self.complaint_id} is already linked to {self.primary_id}"
        elif self.duplicates:
            problem = (f"complaint {self.complaint_id} is the primary of {', '.join(self.duplicates)}; "
                       "link those to the other complaint first")
        elif primary.primary_id is not None:
            problem = (f"complaint {primary.complaint_id} is itself a duplicate of {primary.primary_id}; "
                       f"link to {primary.primary_id}")
        elif primary.status in (S.CANCELLED, S.REJECTED):
            problem = f"complaint {primary.complaint_id} is {primary.status}: there is no resolution to follow"
        if problem is not None:
            raise RuleViolation("primary_id", problem, code="illegal_link")

    def link_to(self, primary_id: str, at: datetime) -> None:
        """Become `primary_id`'s duplicate: the clocks stop, and the follow-up call is the primary's to make."""
        self.primary_id = primary_id
        self.clock.stop(at)
        if self.response is not None:
            self.response.stop(at)
        self.followup_s, self.followup_required = None, False

    def hand_over(self, to: str) -> None:
        self.owner = to
        self.owners.append(to)

    def sla_recorded(self, kind: str, clock: int, metric: str = RESOLUTION) -> None:
        recorded = self.clock_of(metric)
        if recorded is None or clock != recorded.number:
            return
        if kind == "warning":
            recorded.warned = True
        else:
            recorded.breached = True
