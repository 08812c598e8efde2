"""The state every episode writes into: the plan's clock, the one random stream, each customer's journal."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from contacthub.config import Settings
from contacthub.demo.customers import CustomerRecord
from contacthub.demo.plan import CHINA_TIME, DAY, HOUR, MINUTE, DemoPlan, Event
from contacthub.demo.world import BUSY_HOURS, OPENING_HOURS


class Timeline:
    """The operator's shared state. Times are whole seconds from local midnight of the window's first day.

    Every draw comes from `rng`, in the order the episodes are written, so the same plan
    always gives the same events. Each episode kind is a mixin over this class (orders,
    complaints, everyday contacts, the showcase); `contacthub.demo.operator.Operator`
    puts them together.
    """

    def __init__(self, plan: DemoPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        start, end = plan.window_start, plan.window_end
        self.base = datetime(start.year, start.month, start.day, tzinfo=CHINA_TIME)
        self.start = int((start - self.base).total_seconds())
        self.end = int((end - self.base).total_seconds())
        self._entries = 0
        self._orders = 0
        self._complaints = 0
        # The packaged default, which ContactHub records on every complaint unless
        # CONTACTHUB_SLA_POLICY names another: the demo's escalations follow its time limits.
        self.sla_policy = Settings().load_sla_policy()

    # --- the journal ----------------------------------------------------------------

    def _history(self, customer: CustomerRecord) -> list[tuple[int, Event]]:
        """The customer's episodes merged in time, made strictly increasing, cut at the end.

        Merging by (time, insertion order) keeps every episode's own order, and the nudge
        of one second only ever moves an event later than its predecessor, so it keeps it
        too. Cutting at the end drops a suffix of every episode, which leaves each one a
        valid prefix of its lifecycle.
        """
        history: list[tuple[int, Event]] = []
        last = -1
        for t, _, body in sorted(customer.journal, key=lambda entry: (entry[0], entry[1])):
            if t <= last:
                t = last + 1
            if t > self.end:
                break
            history.append((t, body))
            last = t
        customer.journal = []
        return history

    def _add(self, customer: CustomerRecord, t: int, body: Event) -> None:
        if body["type"] != "customer.registered":
            # Clamping is monotonic, so it keeps every episode's order.
            t = max(t, customer.registered_at + MINUTE)
        self._entries += 1
        customer.journal.append((t, self._entries, body))

    # --- time -----------------------------------------------------------------------

    def moment(self, t: int) -> datetime:
        return self.base + timedelta(seconds=t)

    def seconds_at(self, moment: datetime) -> int:
        return int((moment - self.base).total_seconds())

    def _open(self, t: int, channel: str) -> int:
        """The first moment at or after `t` that the channel is staffed."""
        opens, closes = OPENING_HOURS[channel]
        day, second = divmod(t, DAY)
        if second < opens:
            return day * DAY + opens + self.rng.randrange(90 * MINUTE)
        if second >= closes:
            return (day + 1) * DAY + opens + self.rng.randrange(90 * MINUTE)
        return t

    def _later(self, t: int, low: int, high: int, channel: str) -> int:
        """Some time between `low` and `high` seconds after `t`, when the channel is open."""
        return self._open(t + self.rng.randint(low, high), channel)

    def _busy_time(self, day: int, channel: str) -> int:
        hour = self.rng.choice(BUSY_HOURS[channel])
        return day * DAY + hour * HOUR + self.rng.randrange(HOUR)

    def _date_code(self, t: int) -> str:
        return self.moment(t).strftime("%Y%m%d")

    def _arrivals(self, customer: CustomerRecord, per_month: float) -> Iterator[int]:
        """Days (as day numbers) on which something happens, at `per_month` on average."""
        if per_month <= 0:
            return
        rate = per_month / (30 * DAY)
        t = float(customer.background_from)
        while True:
            t += self.rng.expovariate(rate)
            # Episodes that start after the end would be cut entirely: stop drawing.
            if t > self.end:
                return
            yield int(t) // DAY

    def _starts(self, customer: CustomerRecord, day: int, channel: str) -> int | None:
        t = self._busy_time(day, channel)
        if t <= customer.background_from:
            t = self._open(customer.background_from + self.rng.randint(HOUR, 2 * DAY), channel)
        return t if t <= self.end else None
