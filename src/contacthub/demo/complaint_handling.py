"""The steps of handling a complaint: opening it, handing it to a department, waiting, resolving, chasing."""

from __future__ import annotations

from contacthub.demo.complaints import (
    BACK_OFFICE_CHANNEL,
    CHASE_NOTES,
    CUSTOMER_REPLIES,
    WITHDRAWALS,
    ComplaintKind,
    Lifecycle,
)
from contacthub.demo.contacts import Contacts
from contacthub.demo.customers import CustomerRecord
from contacthub.demo.plan import DAY, HOUR, MINUTE, Event
from contacthub.domain.complaint import ComplaintCase


class ComplaintHandling(Contacts):
    """What the first-contact owner, the complaint desk and the departments do to one complaint, step by step.

    Each method writes one turn of a complaint's story through its `Lifecycle`, which
    checks the step against the domain's transition table; `ComplaintEpisodes` strings
    them into whole stories.
    """

    def _new_complaint_id(self, t: int) -> str:
        self._complaints += 1
        return f"TS{self._date_code(t)}{self._complaints:05d}"

    def _open_complaint(
        self,
        customer: CustomerRecord,
        t: int,
        complaint_id: str,
        *,
        category: str,
        severity: str,
        summary: str,
        channel: str,
        owner: str,
    ) -> Lifecycle:
        """Record the complaint (it is acknowledged from then on) under the SLA terms ContactHub records for it."""
        body: Event = {"type": "complaint.opened"}
        by_number = channel in ("hotline", "sms", "app") and self.rng.random() < 0.7
        body.update({"msisdn": customer.msisdns[0]} if by_number else {"customer_id": customer.customer_id})
        body.update(
            complaint_id=complaint_id,
            category=category,
            severity=severity,
            summary=summary,
            channel=channel,
            handled_by=owner,
        )
        self._add(customer, t, body)
        tier = customer.tier_at(t)
        case = ComplaintCase.opened(
            complaint_id=complaint_id,
            at=self.moment(t),
            owner=owner,
            tier=tier,
            severity=severity,
            category=category,
            channel=channel,
            terms=self.sla_policy.terms(tier, severity),
        )
        return Lifecycle(self, customer, case, t, _workplace(channel))

    def _complaint_desk(self) -> str:
        return f"complaint-desk-{self.rng.randint(1, 9):02d}"

    def _department_handler(self, kind: ComplaintKind, other_than: str | None = None) -> str:
        while True:
            handler = f"{kind.department}-{self.rng.randint(1, 20):02d}"
            if handler != other_than:
                return handler

    def _acknowledge(self, life: Lifecycle, channel: str) -> None:
        """The acknowledgement to the customer (受理回复), often by SMS."""
        rng = self.rng
        if channel in ("email", "web", "sms", "app"):  # the complaint desk reads its queue in office hours
            at, by = self._later(life.now, HOUR, 20 * HOUR, "back_office"), self._complaint_desk()
        else:
            at, by = life.now + rng.randint(5 * MINUTE, 50 * MINUTE), life.owner
        replied_by = "sms" if rng.random() < 0.6 else channel
        life.step_unless_overtaken("complaint.acknowledged", at, by=by, channel=replied_by)

    def _hand_to_department(self, life: Lifecycle, kind: ComplaintKind) -> None:
        """The first-contact owner hands the complaint over, and the department's handler starts on it."""
        handler = self._department_handler(kind)
        life.hand_over(
            self._later(life.now, 20 * MINUTE, 4 * HOUR, "back_office"),
            to=handler,
            to_channel=BACK_OFFICE_CHANNEL,
            reason=kind.handover_reason,
            by=life.owner,
            channel=life.owner_channel,
        )
        started = self._later(life.now, 10 * MINUTE, 2 * HOUR, "back_office")
        life.step_unless_overtaken("complaint.started", started, by=handler, channel=BACK_OFFICE_CHANNEL)

    def _ask_customer(self, life: Lifecycle, kind: ComplaintKind) -> None:
        """The handler needs something from the customer: the complaint is pending, its SLA clock stopped."""
        life.step(
            "complaint.pended",
            self._later(life.now, 30 * MINUTE, 4 * HOUR, "back_office"),
            reason=kind.pending_request,
            by=life.owner,
            channel=life.owner_channel,
        )

    def _wait_for_customer(self, life: Lifecycle, kind: ComplaintKind, planned: int) -> int:
        """Pending until the customer sends what was asked for; returns when the work, put off as long, is done."""
        rng = self.rng
        self._ask_customer(life, kind)
        asked = life.now
        channel, reply = rng.choice(CUSTOMER_REPLIES)
        replied = self._later(asked, 2 * HOUR, 4 * DAY, channel)
        self._contact(
            life.customer, replied, channel, "complaint_followup", outcome="resolved", complaint_id=life.complaint_id
        )
        resumed = self._later(replied, 10 * MINUTE, 2 * HOUR, "back_office")
        life.step("complaint.resumed", resumed, reason=reply, by=life.owner, channel=life.owner_channel)
        return self._open(life.now + max(planned - asked, HOUR), "back_office")

    def _wait_for_repair(self, life: Lifecycle, blocked_by: str, planned: int) -> int:
        """Held while the network is repaired; returns when the work, put off as long, is done."""
        life.hold(self._later(life.now, HOUR, DAY, "back_office"), reason=blocked_by)
        held = life.now
        repaired = self._later(held, 12 * HOUR, 4 * DAY, "back_office")
        life.step(
            "complaint.resumed", repaired, reason="故障已修复，继续处理。", by=life.owner, channel=life.owner_channel
        )
        return self._open(life.now + max(planned - held, HOUR), "back_office")

    def _withdraw(self, life: Lifecycle, before: int) -> None:
        """The customer calls to withdraw the complaint before it is resolved."""
        rng = self.rng
        at = self._open(rng.randint(life.now + HOUR, max(life.now + HOUR, before - HOUR)), "hotline")
        agent = self._contact(
            life.customer, at, "hotline", "complaint_followup", outcome="resolved", complaint_id=life.complaint_id
        )
        life.step(
            "complaint.cancelled",
            at + rng.randint(2 * MINUTE, 6 * MINUTE),
            reason=rng.choice(WITHDRAWALS),
            by=agent,
            channel="hotline",
        )

    def _lodged_again(self, original: Lifecycle, category: str, severity: str, summary: str) -> None:
        """The customer complains about the same thing again elsewhere; the complaint desk rejects the duplicate."""
        rng = self.rng
        customer = original.customer
        channel = rng.choice(("app", "web", "hotline"))
        t = self._later(original.now, HOUR, DAY, channel)
        duplicate_id = self._new_complaint_id(t)
        taker = self._contact(
            customer,
            t,
            channel,
            "complaint",
            outcome="unresolved",
            handled_by=self._handler(customer, channel, self_service=False),
            complaint_id=duplicate_id,
        )
        duplicate = self._open_complaint(
            customer,
            t + rng.randint(2 * MINUTE, 8 * MINUTE),
            duplicate_id,
            category=category,
            severity=severity,
            summary=summary,
            channel=channel,
            owner=taker,
        )
        duplicate.step(
            "complaint.rejected",
            self._later(duplicate.now, 30 * MINUTE, 4 * HOUR, "back_office"),
            reason=f"与投诉单{original.complaint_id}重复，已并入原投诉单处理。",
            by=self._complaint_desk(),
            channel=BACK_OFFICE_CHANNEL,
        )

    def _resolve(self, life: Lifecycle, t: int, resolution: str, *, on_site: bool) -> None:
        """Resolved by a technician at the customer's door, or by the complaint's owner."""
        if on_site:
            by, channel = self._handler(life.customer, "technician"), "technician"
        else:
            by, channel = life.owner, life.owner_channel
        life.step("complaint.resolved", t, resolution=resolution, by=by, channel=channel)

    def _note(self, customer: CustomerRecord, complaint_id: str, t: int, *, text: str, by: str, channel: str) -> None:
        """A note on a complaint. Every status allows one, so it needs no place in the lifecycle's order."""
        body = self._by_customer_id(customer, "complaint.noted")
        body.update(complaint_id=complaint_id, text=text, by=by, channel=channel)
        self._add(customer, t, body)

    def _chasers(self, customer: CustomerRecord, complaint_id: str, opened: int, until: int) -> None:
        """The customer asks how it is going, in whatever channel is at hand.

        Each of these must be answerable from any channel: that is what one-point
        acceptance (一点受理) promises, and where the demo shows it. The agent or clerk
        often notes the call or visit on the complaint.
        """
        rng = self.rng
        for _ in range(min(4, rng.randint(0, 1 + (until - opened) // (2 * DAY)))):
            channel = rng.choice(("hotline", "hotline", "hotline", "store", "app"))
            at = self._open(rng.randint(opened + HOUR, until - HOUR), channel)
            if at < until:
                outcome = "resolved" if rng.random() < 0.6 else "unresolved"
                handler = self._contact(
                    customer, at, channel, "complaint_followup", outcome=outcome, complaint_id=complaint_id
                )
                note = CHASE_NOTES.get(channel)
                if note is not None and rng.random() < 0.5:
                    noted = at + rng.randint(MINUTE, 5 * MINUTE)
                    self._note(customer, complaint_id, noted, text=note, by=handler, channel=channel)


def _workplace(channel: str) -> str:
    """The channel a complaint's first-contact owner works in: an SMS complaint's owner is the complaint desk."""
    return BACK_OFFICE_CHANNEL if channel == "sms" else channel
