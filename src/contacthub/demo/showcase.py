"""The showcase: the scripted stories of customers C000001 to C000009 (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable

from contacthub.demo.complaints import CHASE_NOTES
from contacthub.demo.customers import CustomerRecord
from contacthub.demo.orders import OrderJourneys
from contacthub.demo.plan import DAY, HOUR, MINUTE
from contacthub.domain.vocabulary import ComplaintStatus


class ShowcaseStories(OrderJourneys):
    """One scripted story per showcase customer, so that a demo can always point at them."""

    def _showcase(self, customer: CustomerRecord) -> None:
        stories: dict[int, Callable[[CustomerRecord], None]] = {
            1: self._three_weeks_bundle,
            2: self._one_point_acceptance,
            3: self._order_waiting_at_end,
            4: self._order_without_fibre,
            5: lambda c: self._complaint_at_end(c, ComplaintStatus.ACKNOWLEDGED, 50 * MINUTE, "email", "billing"),
            6: lambda c: self._complaint_at_end(c, ComplaintStatus.PENDING, 26 * HOUR, "hotline", "roaming_charges"),
            7: lambda c: self._complaint_at_end(c, ComplaintStatus.IN_PROGRESS, 5 * DAY, "hotline", "network_quality"),
            8: lambda c: self._complaint_at_end(c, ComplaintStatus.RESOLVED, 3 * DAY, "store", "value_added_services"),
            9: lambda c: self._complaint_at_end(c, ComplaintStatus.HELD, 30 * HOUR, "hotline", "network_quality"),
        }
        stories[customer.index](customer)

    def _three_weeks_bundle(self, customer: CustomerRecord) -> None:
        """The source documents' example: three weeks, 21 calls and 4 technician visits."""
        rng = self.rng
        t = self._open(customer.registered_at + 2 * DAY, "store")
        order_id = self._new_order_id(t)
        self._contact(customer, t, "store", "new_order", outcome="resolved", order_id=order_id)
        placed = t + 12 * MINUTE
        body = self._by_customer_id(customer, "order.placed")
        body["order_id"] = order_id
        body["services"] = ["mobile", "broadband", "iptv"]
        self._add(customer, placed, body)
        self._activate(customer, placed + 2 * HOUR, order_id, "mobile")

        first_day = placed // DAY
        visits = [self._busy_time(first_day + day, "technician") for day in (3, 8, 14, 20)]
        for visit, why in zip(visits[:3], ("installation", "fibre_survey", "modem_replacement"), strict=True):
            self._contact(
                customer, visit, "technician", why, direction="outbound", outcome="unresolved", order_id=order_id
            )
        self._contact(
            customer,
            visits[3],
            "technician",
            "installation",
            direction="outbound",
            outcome="resolved",
            order_id=order_id,
        )
        activated = visits[3] + 50 * MINUTE
        self._activate(customer, activated, order_id, "broadband")
        self._activate(customer, activated + 40 * MINUTE, order_id, "iptv")

        # 21 inbound hotline calls between the order and the last activation: about one a
        # day, two on the days a visit fails; the ninth is where the customer lodges a complaint.
        calls = []
        for offset in [*range(1, 20), 3, 8]:
            at = self._busy_time(first_day + offset, "hotline")
            calls.append(min(max(at, placed + HOUR), activated - HOUR))
        calls.sort()
        for n, at in enumerate(calls, start=1):
            if n == 9:
                complaint_id = self._new_complaint_id(at)
                owner = self._contact(
                    customer,
                    at,
                    "hotline",
                    "activation_status",
                    outcome="unresolved",
                    order_id=order_id,
                    complaint_id=complaint_id,
                    handled_by=self._handler(customer, "hotline", False),
                )
                self._complaint(
                    customer,
                    at,
                    "hotline",
                    "service_activation",
                    complaint_id=complaint_id,
                    owner=owner,
                    order_id=order_id,
                    summary_days=(at - placed) // DAY,
                    resolve_at=activated + HOUR,
                    chase=False,
                    reopen=False,
                    severity="high",
                )
            else:
                outcome = rng.choice(("unresolved", "unresolved", "transferred", "abandoned", "resolved"))
                self._contact(customer, at, "hotline", "activation_status", outcome=outcome, order_id=order_id)
        # Nothing else this customer does may blur the count of 21.
        customer.background_from = activated + 3 * DAY

    def _one_point_acceptance(self, customer: CustomerRecord) -> None:
        """Complains on the hotline, asks in a store how it is going, and the clerk knows."""
        t = self._busy_time((customer.registered_at + 4 * DAY) // DAY, "hotline")
        complaint_id = self._new_complaint_id(t)
        owner = self._contact(
            customer,
            t,
            "hotline",
            "billing_query",
            outcome="unresolved",
            complaint_id=complaint_id,
            handled_by=self._handler(customer, "hotline", False),
        )
        store_visit = self._busy_time(t // DAY + 2, "store")
        clerk = self._contact(
            customer, store_visit, "store", "complaint_followup", outcome="resolved", complaint_id=complaint_id
        )
        self._note(
            customer, complaint_id, store_visit + 4 * MINUTE, text=CHASE_NOTES["store"], by=clerk, channel="store"
        )
        self._complaint(
            customer,
            t,
            "hotline",
            "billing",
            complaint_id=complaint_id,
            owner=owner,
            resolve_at=store_visit + DAY,
            chase=False,
            reopen=True,
            severity="medium",
        )
        customer.background_from = store_visit + 20 * DAY

    def _order_waiting_at_end(self, customer: CustomerRecord) -> None:
        t = self._busy_time(self.end // DAY - 3, "store")
        order_id = self._new_order_id(t)
        self._contact(customer, t, "store", "new_order", outcome="resolved", order_id=order_id)
        body = self._by_customer_id(customer, "order.placed")
        body["order_id"] = order_id
        body["services"] = ["broadband", "iptv"]
        self._add(customer, t + 10 * MINUTE, body)
        self._contact(
            customer,
            self._busy_time(self.end // DAY - 1, "hotline"),
            "hotline",
            "activation_status",
            outcome="resolved",
            order_id=order_id,
        )
        # The installation is booked for after the end, so the order is still in progress.
        visit = self.end + 2 * DAY
        self._activate(customer, visit, order_id, "broadband")
        self._activate(customer, visit + HOUR, order_id, "iptv")

    def _order_without_fibre(self, customer: CustomerRecord) -> None:
        t = self._busy_time((customer.registered_at + 10 * DAY) // DAY, "app")
        order_id = self._new_order_id(t)
        self._contact(customer, t, "app", "new_order", outcome="resolved", order_id=order_id)
        body = self._by_customer_id(customer, "order.placed")
        body["order_id"] = order_id
        body["services"] = ["broadband"]
        self._add(customer, t + 5 * MINUTE, body)
        survey = self._busy_time(t // DAY + 3, "technician")
        self._contact(
            customer,
            survey,
            "technician",
            "fibre_survey",
            direction="outbound",
            outcome="unresolved",
            order_id=order_id,
        )
        self._cancel(
            customer, self._later(survey, 2 * HOUR, DAY, "back_office"), order_id, "no_broadband_resource_at_address"
        )

    def _complaint_at_end(
        self, customer: CustomerRecord, stop_at: ComplaintStatus, before_end: int, channel: str, category: str
    ) -> None:
        """A complaint lodged `before_end` before the end whose story stops at `stop_at`.

        The one left in progress is critical, so its short time limit has been breached
        twice (escalated to level 2) by the end; the resolved one was resolved hours before.
        """
        t = self.end - before_end
        self._complaint(
            customer,
            t,
            channel,
            category,
            stop_at=stop_at,
            chase=False,
            severity="critical" if stop_at == ComplaintStatus.IN_PROGRESS else "medium",
            resolve_at=self.end - 3 * HOUR if stop_at == ComplaintStatus.RESOLVED else None,
        )
