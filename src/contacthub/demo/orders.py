"""Order journeys: from the touchpoint where an order is taken to its last activation, or its cancellation."""

from __future__ import annotations

from contacthub.demo.complaint_episodes import ComplaintEpisodes
from contacthub.demo.customers import CustomerRecord
from contacthub.demo.plan import DAY, HOUR, MINUTE
from contacthub.demo.world import (
    CANCEL_REASONS,
    FAILED_VISIT_REASONS,
    INSTALL_ORDER,
    pick_corporate_order,
    pick_individual_order,
)


class OrderJourneys(ComplaintEpisodes):
    """A new customer's first order, the orders customers place over time, and the installations that go wrong.

    A bundle whose installation fails brings chasing calls and, for some customers, a
    complaint about the wait: hence the complaint episodes underneath.
    """

    def _new_order_id(self, t: int) -> str:
        self._orders += 1
        return f"ORD{self._date_code(t)}{self._orders:05d}"

    def _first_order(self, customer: CustomerRecord) -> None:
        """A new customer signs up in a store (or the app) and orders in the same visit."""
        services = pick_individual_order(self.rng) if customer.segment == "individual" else ("mobile",)
        if "mobile" not in services and self.rng.random() < 0.7:
            services = ("mobile", *services)
        channel = "store" if self.rng.random() < 0.8 else "app"
        self._order(customer, customer.registered_at + self.rng.randint(MINUTE, 5 * MINUTE), services, channel)

    def _orders_over_time(self, customer: CustomerRecord) -> None:
        per_month = 0.085 if customer.segment == "individual" else 0.2
        for day in self._arrivals(customer, per_month):
            pick = pick_individual_order if customer.segment == "individual" else pick_corporate_order
            services: tuple[str, ...] = pick(self.rng)
            if customer.account_manager is not None and self.rng.random() < 0.5:
                channel = "account_manager"
            else:
                channel = self.rng.choice(("store", "store", "store", "app", "hotline", "web"))
            t = self._starts(customer, day, channel)
            if t is not None:
                self._order(customer, t, services, channel)

    def _order(self, customer: CustomerRecord, t: int, services: tuple[str, ...], channel: str) -> None:
        """An order from the touchpoint where it was taken to its last activation (or cancellation)."""
        rng = self.rng
        order_id = self._new_order_id(t)
        reason = "plan_change" if services == ("mobile",) and rng.random() < 0.4 else "new_order"
        self._contact(customer, t, channel, reason, outcome="resolved", order_id=order_id)
        placed = t + rng.randint(3 * MINUTE, 15 * MINUTE)
        body = self._by_customer_id(customer, "order.placed")
        body["order_id"] = order_id
        body["services"] = list(services)
        self._add(customer, placed, body)

        fixed = [s for s in INSTALL_ORDER if s in services]
        draw = rng.random()
        cancelled = draw < 0.06
        troubled = not cancelled and len(fixed) >= 2 and draw < 0.06 + 0.16
        now = placed
        if "mobile" in services:
            if cancelled and not fixed:
                # A new line fails the real-name check and is withdrawn before it goes live.
                now = self._later(now, 30 * MINUTE, 2 * DAY, "store")
                self._cancel(customer, now, order_id, "real_name_check_failed")
                return
            now += rng.randint(10 * MINUTE, 4 * HOUR)
            self._activate(customer, now, order_id, "mobile")
        if not fixed:
            return

        appointment = self._later(placed, DAY, 5 * DAY, "technician")
        if rng.random() < 0.35:
            call = self._later(placed, 4 * HOUR, max(4 * HOUR + 1, appointment - placed - HOUR), "hotline")
            self._contact(customer, min(call, appointment - MINUTE), "hotline", "activation_status", order_id=order_id)
        if cancelled:
            if rng.random() < 0.5:
                self._contact(
                    customer,
                    appointment,
                    "technician",
                    "fibre_survey",
                    direction="outbound",
                    outcome="unresolved",
                    order_id=order_id,
                )
                reason = "no_broadband_resource_at_address"
            else:
                reason = rng.choice(CANCEL_REASONS)
            self._cancel(customer, self._later(appointment, 2 * HOUR, 2 * DAY, "back_office"), order_id, reason)
            return
        if troubled:
            appointment = self._failed_installation(customer, order_id, placed, appointment)
        self._contact(
            customer,
            appointment,
            "technician",
            "installation",
            direction="outbound",
            outcome="resolved",
            order_id=order_id,
        )
        now = appointment
        for service in fixed:
            now += rng.randint(20 * MINUTE, 70 * MINUTE)
            self._activate(customer, now, order_id, service)

    def _failed_installation(self, customer: CustomerRecord, order_id: str, placed: int, appointment: int) -> int:
        """Failed visits, the calls chasing them and perhaps a complaint; returns when the visit that works is."""
        rng = self.rng
        rounds = rng.randint(1, 3)
        # Half of these customers give up on asking and complain, after the last failed visit.
        complaint_due = rng.random() < 0.5
        for failed in range(rounds):
            self._contact(
                customer,
                appointment,
                "technician",
                rng.choice(FAILED_VISIT_REASONS),
                direction="outbound",
                outcome="unresolved",
                order_id=order_id,
            )
            next_visit = self._later(appointment, 2 * DAY, 6 * DAY, "technician")
            calls = sorted(rng.randint(appointment + HOUR, next_visit - HOUR) for _ in range(rng.randint(1, 4)))
            for n, t in enumerate(calls):
                # Still before the next visit: a complaint about the wait must not follow the fix.
                t = min(self._open(t, "hotline"), next_visit - 30 * MINUTE)
                if complaint_due and failed == rounds - 1 and n == len(calls) - 1:
                    days = max(1, (t - placed) // DAY)
                    self._complaint(
                        customer,
                        t,
                        "hotline",
                        "service_activation",
                        order_id=order_id,
                        difficulty=1.2,
                        summary_days=days,
                    )
                else:
                    outcome = rng.choice(("unresolved", "unresolved", "transferred", "abandoned", "resolved"))
                    self._contact(customer, t, "hotline", "activation_status", outcome=outcome, order_id=order_id)
            appointment = next_visit
        return appointment

    def _activate(self, customer: CustomerRecord, t: int, order_id: str, service: str) -> None:
        body = self._by_customer_id(customer, "service.activated")
        body["order_id"] = order_id
        body["service"] = service
        self._add(customer, t, body)
        customer.services.add(service)

    def _cancel(self, customer: CustomerRecord, t: int, order_id: str, reason: str) -> None:
        body = self._by_customer_id(customer, "order.cancelled")
        body["order_id"] = order_id
        body["reason"] = reason
        self._add(customer, t, body)
