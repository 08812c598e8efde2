"""Phone numbers over time: who held an MSISDN at a moment (numbers are released and recycled, 二次放号).

A *holding* is one customer's hold on one number, from the moment it was registered or added
(`customer.registered`, `customer.msisdn_added`) to the moment it was released
(`customer.msisdn_released`), or open while the customer still has it. Holdings of one
number never overlap: a number is given to a new holder only once it is free, and the new
holding may not start before the last one ended. Times are event times (`occurred_at`).

Pure: holdings in, a holder out. Ingest resolves a touchpoint posted by number with it (the
holder at the touchpoint's `occurred_at`), and the lookups by number answer with it
(`?msisdn=...&at=...`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

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


def holder_at(holdings: Iterable[Holding], moment: datetime) -> str | None:
    """The customer who held the number at `moment`, or None when nobody did.

    A holding covers its start and not its release (a number released at 12:00 and given to
    someone else at 12:00 belongs to the new holder from 12:00 on). Between a release and the
    next holding (and after a last release) nobody held it. Before the number's first known
    holding its first holder counts: channels deliver touchpoints dated before the moment BOSS
    gives the registration (a store visit minutes before the account is opened, a late batch),
    and they have always reached the registered customer. Unknown callers (issue 18, part 2)
    will bound that with a look-back. An erased customer's holdings are forgotten (a number
    is personal data), so the holder after them becomes the number's first known holder.
    """
    ordered = sorted(holdings, key=lambda h: (h.held_from, h.position, h.customer_id))
    for holding in reversed(ordered):
        if holding.covers(moment):
            return holding.customer_id
    if ordered and moment < ordered[0].held_from:
        return ordered[0].customer_id
    return None


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
