"""The background of every customer's life: questions, payments, faults, the operator's own calls, complaints."""

from __future__ import annotations

from contacthub.demo.complaint_episodes import ComplaintEpisodes
from contacthub.demo.complaints import pick_complaint_channel, pick_spontaneous_category
from contacthub.demo.customers import CustomerRecord
from contacthub.demo.plan import DAY, HOUR
from contacthub.demo.world import REASON_TO_CATEGORY, pick_inbound_channel, pick_reason


class EverydayLife(ComplaintEpisodes):
    """Contacts that arrive at random through the window, some of which grow into complaints."""

    def _everyday_contacts(self, customer: CustomerRecord) -> None:
        """Questions, payments and faults: the bulk of every channel's traffic."""
        per_month = {"ordinary": 1.2, "vip": 1.4, "silver": 1.6, "gold": 1.8, "diamond": 2.0}[customer.tier]
        if customer.segment == "corporate":
            per_month *= 2.2
        for day in self._arrivals(customer, per_month):
            managed = customer.account_manager is not None and self.rng.random() < 0.2
            channel = "account_manager" if managed else pick_inbound_channel(self.rng)
            t = self._starts(customer, day, channel)
            if t is not None:
                self._issue(customer, t, channel)

    def _issue(self, customer: CustomerRecord, t: int, channel: str) -> None:
        """One issue: a contact, and repeat contacts while it stays unsettled; sometimes a complaint."""
        rng = self.rng
        reason = pick_reason[channel](rng)
        if reason == "broadband_slow" and "broadband" not in customer.services:
            reason = "network_fault"
        outcome = self._outcome(channel, "inbound")
        self._contact(customer, t, channel, reason, outcome=outcome)
        # A fault the hotline cannot fix remotely sends a technician to the door.
        if reason in ("broadband_slow", "network_fault") and outcome != "resolved" and rng.random() < 0.35:
            visit = self._later(t, 18 * HOUR, 3 * DAY, "technician")
            self._contact(customer, visit, "technician", "repair", direction="outbound")
        unsettled = 1 if outcome != "resolved" else 0
        while outcome != "resolved" and rng.random() < 0.55:
            channel = "hotline" if rng.random() < 0.72 else rng.choice(("app", "store", "web"))
            t = self._later(t, 2 * HOUR, 3 * DAY, channel)
            category = REASON_TO_CATEGORY.get(reason)
            if unsettled >= 2 and category is not None and rng.random() < 0.4:
                if channel not in ("hotline", "store", "app", "web"):
                    channel = "hotline"
                self._complaint(customer, t, channel, category, difficulty=1.3)
                return
            outcome = self._outcome(channel, "inbound")
            self._contact(customer, t, channel, reason, outcome=outcome)
            unsettled += outcome != "resolved"

    def _outbound_contacts(self, customer: CustomerRecord) -> None:
        """What the operator starts: usage alerts, offers, retention calls, account-manager care visits."""
        rng = self.rng
        for day in self._arrivals(customer, 0.22):
            t = self._starts(customer, day, "sms")
            if t is not None:
                reason = rng.choice(("data_usage_alert", "plan_offer", "bill_reminder"))
                self._contact(customer, t, "sms", reason, direction="outbound")
        for day in self._arrivals(customer, 0.12):
            t = self._starts(customer, day, "hotline")
            if t is not None:
                reason = rng.choice(("plan_offer", "retention_offer", "satisfaction_survey"))
                self._contact(customer, t, "hotline", reason, direction="outbound")
        if customer.account_manager is not None:
            for day in self._arrivals(customer, 0.3):
                t = self._starts(customer, day, "account_manager")
                if t is not None:
                    self._contact(customer, t, "account_manager", "customer_care", direction="outbound")
        # An e-mailed e-bill question now and then keeps the e-mail desk in the picture.
        for day in self._arrivals(customer, 0.04):
            t = self._starts(customer, day, "email")
            if t is not None:
                self._contact(customer, t, "email", "e_invoice", direction="outbound")

    def _spontaneous_complaints(self, customer: CustomerRecord) -> None:
        per_month = 0.03 if customer.segment == "individual" else 0.06
        for day in self._arrivals(customer, per_month):
            channel = pick_complaint_channel(self.rng)
            if customer.account_manager is not None and self.rng.random() < 0.3:
                channel = "account_manager"
            category = pick_spontaneous_category(self.rng)
            if category == "broadband_speed" and "broadband" not in customer.services:
                category = "network_quality"
            t = self._starts(customer, day, channel)
            if t is not None:
                self._complaint(customer, t, channel, category)
