"""Touchpoints: who answers in each channel, how the channel names the customer, how the contact ends."""

from __future__ import annotations

from contacthub.demo.customers import CustomerRecord
from contacthub.demo.plan import HOUR, Event
from contacthub.demo.timeline import Timeline
from contacthub.demo.world import BY_NUMBER_SHARE, KIOSK_SITES, RESOLVED_SHARE


class Contacts(Timeline):
    """Logging a contact (`contact.logged`) in any channel, and the events addressed by customer id."""

    # --- people ---------------------------------------------------------------------

    def _caller(self, customer: CustomerRecord, channel: str) -> dict[str, str]:
        """How a channel names the customer: by the number they used, or by customer id."""
        if self.rng.random() < BY_NUMBER_SHARE[channel]:
            numbers = customer.msisdns
            # People mostly use their main number; a company's staff use any of theirs.
            number = numbers[0] if len(numbers) == 1 or self.rng.random() < 0.7 else self.rng.choice(numbers)
            return {"msisdn": number}
        return {"customer_id": customer.customer_id}

    def _handler(self, customer: CustomerRecord, channel: str, self_service: bool = True) -> str:
        rng = self.rng
        if channel == "hotline":
            return f"agent-{rng.randint(1, 180):04d}"
        if channel == "store":
            return f"clerk-{customer.store.code}-{rng.randint(1, 8):02d}"
        if channel == "technician":
            return f"tech-{rng.randint(1, 60):03d}"
        if channel == "account_manager":
            return customer.account_manager or f"am-{rng.randint(1, 40):03d}"
        if channel == "email":
            return f"email-desk-{rng.randint(1, 6):02d}"
        if channel == "sms":
            return "sms-platform"
        if channel == "kiosk":
            return "self-service"  # a terminal has nobody to hand over to
        # web and app: the customer serves themselves unless an online agent steps in.
        return "self-service" if self_service else f"online-agent-{rng.randint(1, 30):03d}"

    def _site(self, customer: CustomerRecord, channel: str) -> str | None:
        if channel == "store":
            return customer.store.name
        if channel == "kiosk":
            return customer.store.name + "自助终端" if self.rng.random() < 0.7 else self.rng.choice(KIOSK_SITES)
        if channel == "technician":
            return customer.store.district
        return None

    def _duration(self, channel: str, outcome: str) -> int:
        rng = self.rng
        if outcome == "abandoned":
            return rng.randint(8, 75)  # gave up in the IVR queue
        if outcome == "no_answer":
            return rng.randint(15, 40)
        if channel in ("sms", "email"):
            return 0
        typical = {
            "hotline": (5.4, 0.6),  # about 4 minutes
            "store": (6.4, 0.5),  # about 10 minutes
            "web": (5.8, 0.7),
            "app": (4.8, 0.8),
            "kiosk": (4.7, 0.4),
            "technician": (8.3, 0.35),  # about 70 minutes at the door
            "account_manager": (7.3, 0.5),
        }[channel]
        return min(int(rng.lognormvariate(*typical)), 4 * HOUR)

    # --- events -------------------------------------------------------------------

    def _contact(
        self,
        customer: CustomerRecord,
        t: int,
        channel: str,
        reason: str,
        *,
        direction: str = "inbound",
        outcome: str | None = None,
        handled_by: str | None = None,
        order_id: str | None = None,
        complaint_id: str | None = None,
    ) -> str:
        """Log one touchpoint; return who handled it (they may own what it leads to)."""
        if outcome is None:
            outcome = self._outcome(channel, direction)
        handler = handled_by or self._handler(customer, channel, self_service=outcome in ("resolved", "abandoned"))
        body: Event = {"type": "contact.logged", **self._caller(customer, channel)}
        body["channel"] = channel
        body["direction"] = direction
        body["reason"] = reason
        body["handled_by"] = handler
        site = self._site(customer, channel)
        if site is not None:
            body["site"] = site
        body["duration_s"] = self._duration(channel, outcome)
        body["outcome"] = outcome
        if order_id is not None:
            body["order_id"] = order_id
        if complaint_id is not None:
            body["complaint_id"] = complaint_id
        self._add(customer, t, body)
        return handler

    def _outcome(self, channel: str, direction: str) -> str:
        draw = self.rng.random()
        if direction == "outbound":
            if channel in ("sms", "email", "account_manager", "technician"):
                return "resolved"
            return "resolved" if draw < 0.58 else "no_answer" if draw < 0.9 else "unresolved"
        resolved = RESOLVED_SHARE.get(channel, 0.9)
        if draw < resolved:
            return "resolved"
        rest = (draw - resolved) / (1 - resolved)
        if channel == "hotline":
            return "unresolved" if rest < 0.4 else "transferred" if rest < 0.75 else "abandoned"
        if channel in ("app", "web", "kiosk"):
            return "unresolved" if rest < 0.6 else "abandoned"
        return "unresolved" if rest < 0.7 else "transferred"

    def _by_customer_id(self, customer: CustomerRecord, type_: str) -> Event:
        return {"type": type_, "customer_id": customer.customer_id}
