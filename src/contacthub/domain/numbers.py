"""Phone numbers over time: who held an MSISDN at a moment (numbers are released and recycled, 二次放号).

A *holding* is one customer's hold on one number, from the moment it was registered or added
(`customer.registered`, `customer.msisdn_added`) to the moment it was released
(`customer.msisdn_released`), or open while the customer still has it. Holdings of one
number never overlap: a number is given to a new holder only once it is free, and the new
holding may not start before the last one ended. Times are event times (`occurred_at`).

Pure: holdings in, a holder out. Ingest resolves a touchpoint posted by number with it (the
holder at the touchpoint's `occurred_at`, with the unknown callers' look-back), and the lookups
by number answer with it (`?msisdn=...&at=...`, the holder at that moment, no look-back). A
touchpoint from a number nobody held then is recorded on the number's unidentified party.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from contacthub.domain.customer import Customer


@dataclass(frozen=True)
class Holding:
    """One customer's hold on one number: from `held_from`, until `released_at` (None: still held)."""

    msisdn: str
    customer_id: str
    held_from: datetime
    released_at: datetime | None = None
    position: int = 0
    """The log position of the event that started it, where known: of two holdings that start at
    one instant, the later one counts (a read model may hold both for a moment, while the
    partition of the earlier holder has not yet applied its release or erasure)."""

    def covers(self, moment: datetime) -> bool:
        return self.held_from <= moment and (self.released_at is None or moment < self.released_at)


UNIDENTIFIED_PREFIX = "unidentified-"
"""The start of every unidentified party's id (a number's unknown callers); no customer may be registered under it."""


def is_unidentified_party(customer_id: str) -> bool:
    return customer_id.startswith(UNIDENTIFIED_PREFIX)


def holding_at(holdings: Iterable[Holding], moment: datetime, look_back: timedelta = timedelta(0)) -> Holding | None:
    """The holding a touchpoint of the number at `moment` belongs to, or None: nobody's (yet).

    A holding covers its start and not its release (a number released at 12:00 and given to
    someone else at 12:00 belongs to the new holder from 12:00 on). A moment no holding covers
    belongs to the next holding to start, when that starts within `look_back` after it: a
    caller who rings the hotline, or walks into a store, days before the account is opened
    is that account's customer (issue 18: unknown callers). Further back, and between a
    release and the next holding's look-back, nobody held it. An erased customer's holdings
    are forgotten (a number is personal data): their moments count as nobody's.
    """
    ordered = sorted(holdings, key=lambda h: (h.held_from, h.position, h.customer_id))
    for holding in reversed(ordered):
        if holding.covers(moment):
            return holding
    following = [h for h in ordered if h.held_from > moment]
    if following and following[0].held_from - moment <= look_back:
        return following[0]
    return None


def holder_at(holdings: Iterable[Holding], moment: datetime, look_back: timedelta = timedelta(0)) -> str | None:
    """The customer whose holding `moment` belongs to (holding_at), or None."""
    holding = holding_at(holdings, moment, look_back)
    return None if holding is None else holding.customer_id


def last_release(holdings: Iterable[Holding]) -> datetime | None:
    """When the number was last released, or None when it never was."""
    ends = [h.released_at for h in holdings if h.released_at is not None]
    return max(ends) if ends else None


@dataclass(frozen=True)
class HoldingChange:
    """A holding that starts (`started`) or ends at `at`, as one stored event says."""

    started: bool
    msisdn: str
    customer_id: str
    at: datetime


def holding_changes(events: Iterable[Customer.Event]) -> list[HoldingChange]:
    """What these customer events (in log order) do to the holdings of numbers."""
    changes: list[HoldingChange] = []
    for e in events:
        if isinstance(e, Customer.Registered):
            changes.extend(HoldingChange(True, m, e.customer_id, e.occurred_at) for m in e.msisdns)
        elif isinstance(e, Customer.MsisdnAdded):
            changes.append(HoldingChange(True, e.msisdn, e.originator_id, e.occurred_at))
        elif isinstance(e, Customer.MsisdnReleased):
            changes.append(HoldingChange(False, e.msisdn, e.originator_id, e.occurred_at))
    return changes
