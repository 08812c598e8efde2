"""The demo operator: deals out the population, lives each customer's life, and streams the events in time order."""

from __future__ import annotations

from collections.abc import Iterator

from contacthub.demo.customers import SHOWCASE_CUSTOMERS, CustomerRecord, population
from contacthub.demo.everyday import EverydayLife
from contacthub.demo.orders import OrderJourneys
from contacthub.demo.plan import DAY, HOUR, Event
from contacthub.demo.showcase import ShowcaseStories
from contacthub.demo.world import ARPU_YUAN, TIER_ORDER


class Operator(ShowcaseStories, OrderJourneys, EverydayLife):
    """Writes the population's histories: every episode kind, on the shared `Timeline`."""

    # --- the stream -----------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        stream: list[tuple[int, int, int, Event]] = []
        for customer in population(self.plan.customers, self.rng):
            self._live(customer)
            for k, (t, body) in enumerate(self._history(customer)):
                stream.append((t, customer.index, k, body))
        # (time, customer, position) is unique, so the event dicts are never compared.
        stream.sort()
        # The plan's size is part of the id: a different plan is a different population,
        # and must not collide with this one's event ids in the same store.
        plan = self.plan
        prefix = f"demo-{plan.seed}-{plan.customers}c{plan.months}m-{plan.end:%Y%m%d}-"
        for n, (t, _, _, body) in enumerate(stream, start=1):
            stamp = self.moment(t).isoformat()
            yield {"event_id": f"{prefix}{n:07d}", "type": body["type"], "occurred_at": stamp, **body}

    # --- a customer's life ----------------------------------------------------------

    def _live(self, customer: CustomerRecord) -> None:
        rng = self.rng
        span = self.end - self.start
        # Most customers were with the operator before the window and were loaded from
        # BOSS in the first days; the rest join during it, with a first order.
        if customer.index > SHOWCASE_CUSTOMERS and rng.random() < 0.18:
            day = (self.start + rng.randint(3 * DAY, max(3 * DAY, span - DAY))) // DAY
            customer.registered_at = max(self.start + 1, self._busy_time(day, "store"))
            customer.joined_in_window = True
        else:
            customer.registered_at = self.start + rng.randint(0, 2 * DAY)
        customer.background_from = customer.registered_at
        self._register(customer)
        # First, so that every complaint knows the tier it is opened under (its time limit depends on it).
        self._tier_reviews(customer)

        if customer.index <= SHOWCASE_CUSTOMERS:
            self._showcase(customer)
        if customer.joined_in_window:
            self._first_order(customer)
        self._orders_over_time(customer)
        self._everyday_contacts(customer)
        self._outbound_contacts(customer)
        self._spontaneous_complaints(customer)

    def _register(self, customer: CustomerRecord) -> None:
        body = self._by_customer_id(customer, "customer.registered")
        body["name"] = customer.name
        body["segment"] = customer.segment
        body["tier"] = customer.tier
        body["msisdns"] = list(customer.msisdns)
        self._add(customer, customer.registered_at, body)

    def _tier_reviews(self, customer: CustomerRecord) -> None:
        """BOSS recalculates ARPU tiers in the night after each month closes."""
        rng = self.rng
        tier = customer.tier
        first = self.base.replace(day=1)
        for months_on in range(1, self.plan.months + 2):
            year, month = divmod(first.month - 1 + months_on, 12)
            review = first.replace(year=first.year + year, month=month + 1)
            t = self.seconds_at(review) + 2 * HOUR + rng.randrange(2 * HOUR)
            if t <= customer.registered_at or t > self.end:
                continue
            if rng.random() >= 0.055:
                continue
            rank = TIER_ORDER.index(tier)
            step = 1 if rng.random() < 0.55 else -1
            if not 0 <= rank + step < len(TIER_ORDER):
                step = -step
            tier = TIER_ORDER[rank + step]
            low, high = ARPU_YUAN[tier]
            body = self._by_customer_id(customer, "customer.tier_changed")
            body["tier"] = tier
            body["arpu"] = round(rng.uniform(low, high), 2)
            self._add(customer, t, body)
            customer.tier_changes.append((t, tier))
