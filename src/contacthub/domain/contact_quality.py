"""Contact-quality rules: what each touchpoint counts for in first-contact resolution,
repeat contacts and self-service containment (docs/metrics.md defines every number).

Pure: a customer's contacts and tier history in, one verdict per contact out. Every rule
looks only at event time (`occurred_at`, ties broken by event id), never at the order the
events arrived in, so a late contact changes the verdicts of its neighbours exactly as an
in-order delivery would have.

- A *customer contact* is an inbound one (the customer reached out). Outbound contacts
  (follow-up calls, SMS notices, technician appointments) count in volumes only.
- An *issue* starts with a customer contact that has no customer contact on the same
  reason in the 7 days before it.
- A contact is *repeated* when the same customer contacts again on the same reason within
  the 7 days after it.
- An issue is *resolved at first contact* (FCR) when its first contact's outcome is
  `resolved` and it is not repeated.
- A *self-service* contact is an inbound web, app or kiosk session, or a hotline call that
  the IVR handled (`handled_by` starting with `ivr`). It is *contained* when the customer
  has no assisted contact (hotline agent, store, e-mail, account manager, technician)
  within the 24 hours after it.
- A contact is *handled* unless it was abandoned or not answered; handling time is its
  `duration_s`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from contacthub.domain.vocabulary import Channel, Direction, Outcome

REPEAT_WINDOW = timedelta(days=7)
CONTAINMENT_WINDOW = timedelta(hours=24)

SELF_SERVICE_CHANNELS = frozenset({Channel.WEB.value, Channel.APP.value, Channel.KIOSK.value})
ASSISTED_CHANNELS = frozenset(
    {
        Channel.HOTLINE.value, Channel.STORE.value, Channel.EMAIL.value, Channel.ACCOUNT_MANAGER.value,
        Channel.TECHNICIAN.value,
    }
)
NOT_HANDLED = frozenset({Outcome.ABANDONED.value, Outcome.NO_ANSWER.value})
IVR_PREFIX = "ivr"


_INBOUND = Direction.INBOUND.value
_HOTLINE = Channel.HOTLINE.value
_RESOLVED = Outcome.RESOLVED.value


@dataclass(frozen=True)
class Touchpoint:
    """What the rules need of one contact."""

    event_id: str
    occurred_at: datetime
    channel: str
    direction: str
    reason: str
    handled_by: str
    outcome: str
    duration_s: int
    site: str | None = None  # where (a store), for the per-site figures; judged by no rule

    @property
    def key(self) -> tuple[datetime, str]:
        """Event-time order; the event id settles contacts at the same instant."""
        return (self.occurred_at, self.event_id)

    @property
    def inbound(self) -> bool:
        return self.direction == _INBOUND

    @property
    def self_service(self) -> bool:
        if self.direction != _INBOUND:
            return False
        if self.channel in SELF_SERVICE_CHANNELS:
            return True
        return self.channel == _HOTLINE and self.handled_by[: len(IVR_PREFIX)].lower() == IVR_PREFIX

    @property
    def assisted(self) -> bool:
        return self.direction == _INBOUND and self.channel in ASSISTED_CHANNELS and not self.self_service


@dataclass(frozen=True)
class TierChange:
    effective_at: datetime
    event_id: str
    tier: str
    arpu: float | None  # None for the tier given at registration

    @property
    def key(self) -> tuple[datetime, str]:
        return (self.effective_at, self.event_id)


@dataclass(frozen=True)
class ContactVerdict:
    """What one contact counts for."""

    event_id: str
    tier: str
    inbound: bool
    self_service: bool
    assisted: bool
    issue_start: bool
    repeated: bool
    first_contact_resolved: bool
    contained: bool
    handled: bool


def tier_at(history: Sequence[TierChange], moment: datetime) -> str:
    """The customer's tier in force at `moment`; before the first entry, the first entry's tier.

    `history` is sorted by key. A contact at the very instant of a change gets the new tier.
    """
    if not history:
        raise ValueError("a customer always has a tier from registration")
    keys = [h.effective_at for h in history]
    index = bisect_right(keys, moment) - 1
    return history[max(index, 0)].tier


def latest(history: Sequence[TierChange]) -> TierChange:
    """The latest entry by event time: the customer's current tier and value."""
    return max(history, key=lambda h: h.key)


def judge(contacts: Iterable[Touchpoint], history: Sequence[TierChange]) -> dict[str, ContactVerdict]:
    """A verdict for every contact of one customer, by event id.

    Needs every contact within 7 days (same reason) and 24 hours (any reason) of the ones
    whose verdicts the caller keeps (projections/metrics_view.py `_reach` loads just those).
    """
    ordered = sorted(contacts, key=lambda c: (c.occurred_at, c.event_id))
    changes = sorted(history, key=lambda h: h.key)
    if not changes:
        raise ValueError("a customer always has a tier from registration")
    change_times = [h.effective_at for h in changes]
    inbound = [c.direction == _INBOUND for c in ordered]
    self_service = [c.self_service for c in ordered]
    assisted = [i and not s and c.channel in ASSISTED_CHANNELS for c, i, s in zip(ordered, inbound, self_service)]
    by_reason: dict[str, list[Touchpoint]] = {}
    for c, i in zip(ordered, inbound):
        if i:
            by_reason.setdefault(c.reason, []).append(c)
    issue_start: set[str] = set()
    repeated: set[str] = set()
    for same in by_reason.values():
        previous: Touchpoint | None = None
        for n, c in enumerate(same):
            if previous is None or previous.occurred_at < c.occurred_at - REPEAT_WINDOW:
                issue_start.add(c.event_id)
            if n + 1 < len(same) and same[n + 1].occurred_at <= c.occurred_at + REPEAT_WINDOW:
                repeated.add(c.event_id)
            previous = c
    assisted_times = [c.occurred_at for c, a in zip(ordered, assisted) if a]
    assisted_keys = [(c.occurred_at, c.event_id) for c, a in zip(ordered, assisted) if a]
    verdicts: dict[str, ContactVerdict] = {}
    for c, i, s, a in zip(ordered, inbound, self_service, assisted):
        contained = False
        if s:
            nxt = bisect_right(assisted_keys, (c.occurred_at, c.event_id))
            contained = nxt == len(assisted_keys) or assisted_times[nxt] > c.occurred_at + CONTAINMENT_WINDOW
        starts = c.event_id in issue_start
        again = c.event_id in repeated
        verdicts[c.event_id] = ContactVerdict(
            event_id=c.event_id,
            tier=changes[max(bisect_right(change_times, c.occurred_at) - 1, 0)].tier,
            inbound=i,
            self_service=s,
            assisted=a,
            issue_start=starts,
            repeated=again,
            first_contact_resolved=starts and not again and c.outcome == _RESOLVED,
            contained=contained,
            handled=c.outcome not in NOT_HANDLED,
        )
    return verdicts
