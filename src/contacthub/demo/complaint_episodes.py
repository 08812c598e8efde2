"""A complaint's whole story, from the contact that lodged it to its close (or a reopening and a second round)."""

from __future__ import annotations

from contacthub.demo.complaint_handling import ComplaintHandling
from contacthub.demo.complaints import (
    BACK_OFFICE_CHANNEL,
    COMPLAINT_KINDS,
    Lifecycle,
    pick_let_down,
    pick_pleased,
    pick_severity,
)
from contacthub.demo.customers import CustomerRecord
from contacthub.demo.plan import DAY, HOUR, MINUTE
from contacthub.demo.world import HIGH_TIERS
from contacthub.domain.vocabulary import ComplaintStatus


class ComplaintEpisodes(ComplaintHandling):
    """Complaint lifecycles: lodged, acknowledged, worked on, resolved, followed up (回访) and closed or reopened."""

    def _complaint(
        self,
        customer: CustomerRecord,
        t: int,
        channel: str,
        category: str,
        *,
        complaint_id: str | None = None,
        owner: str | None = None,
        order_id: str | None = None,
        difficulty: float = 1.0,
        summary_days: int | None = None,
        stop_at: ComplaintStatus | None = None,
        resolve_at: int | None = None,
        chase: bool = True,
        reopen: bool | None = None,
        severity: str | None = None,
    ) -> None:
        """A complaint from the contact that lodged it to its close, as far as the story goes.

        `stop_at` ends the story at a given status (for the showcase); `complaint_id` and
        `owner` are given when the caller already logged the lodging contact. A scripted
        complaint (`stop_at` or `resolve_at` given) keeps to its script: it is not
        withdrawn, lodged twice, pending or held unless `stop_at` says so.
        """
        rng = self.rng
        kind = COMPLAINT_KINDS[category]
        if complaint_id is None:
            complaint_id = self._new_complaint_id(t)
            # An SMS complaint lands with the complaint desk, which then owns it.
            taker = self._complaint_desk() if channel == "sms" else None
            owner = self._contact(
                customer,
                t,
                channel,
                "activation_status" if category == "service_activation" else "complaint",
                outcome="transferred" if channel == "hotline" and rng.random() < 0.3 else "unresolved",
                handled_by=taker or self._handler(customer, channel, self_service=False),
                order_id=order_id,
                complaint_id=complaint_id,
            )
        assert owner is not None
        amount = rng.choice((18, 26, 38, 58, 88, 120, 168, 240, 386, 520))
        summary = rng.choice(kind.summaries).format(
            amount=amount, site=customer.store.name, order_id=order_id or "", days=summary_days or 10
        )
        if severity is None:
            severity = pick_severity(rng)
            if customer.tier_at(t) in HIGH_TIERS and severity == "low":
                severity = "medium"
        # The first-contact owner (首问负责) records the complaint while the customer is still there.
        opened = t + rng.randint(2 * MINUTE, 8 * MINUTE)
        life = self._open_complaint(
            customer,
            opened,
            complaint_id,
            category=category,
            severity=severity,
            summary=summary,
            channel=channel,
            owner=owner,
        )
        if stop_at == ComplaintStatus.ACKNOWLEDGED:
            return

        def resolution() -> str:
            return rng.choice(kind.resolutions).format(amount=amount)

        quick = stop_at is None and order_id is None and kind.hours_to_resolve[0] <= 8
        if quick and rng.random() < 0.2:
            # First-contact resolution: the owner settles it during the same call or visit.
            self._resolve(life, life.now + rng.randint(3 * MINUTE, 20 * MINUTE), resolution(), on_site=False)
        else:
            scripted = stop_at is not None or resolve_at is not None
            self._acknowledge(life, channel)
            if not scripted and rng.random() < 0.03:
                self._lodged_again(life, category, severity, summary)
            # The showcase's complaints always go to the department, so their stories never vary.
            if stop_at is not None or rng.random() < 0.75:
                self._hand_to_department(life, kind)
            else:
                started = life.now + rng.randint(5 * MINUTE, HOUR)
                life.step_unless_overtaken("complaint.started", started, by=life.owner, channel=life.owner_channel)
            if stop_at == ComplaintStatus.PENDING:
                self._ask_customer(life, kind)
                return
            if stop_at == ComplaintStatus.HELD:
                assert kind.blocked_by is not None, f"{category} complaints are never held"
                life.hold(self._later(life.now, HOUR, 4 * HOUR, "back_office"), reason=kind.blocked_by)
                return
            if stop_at == ComplaintStatus.IN_PROGRESS:
                # Still being worked on a day after the end: the escalations are what the end shows.
                life.wait(self.end + DAY)
                return
            if resolve_at is not None:
                planned = resolve_at
            else:
                low, high = kind.hours_to_resolve
                planned = self._open(opened + int(rng.uniform(low, high) * difficulty * HOUR), "back_office")
            deadline = life.deadline
            on_time = deadline is not None and planned < deadline
            if on_time and customer.tier_at(opened) in HIGH_TIERS and rng.random() < 0.25:
                life.escalate(
                    self._later(life.now, HOUR, 6 * HOUR, "back_office"),
                    reason="高价值客户投诉，按规定升级处理。",
                    by=life.owner,
                    channel=life.owner_channel,
                )
            noted = self._later(life.now, 2 * HOUR, DAY, "back_office")
            if noted < planned and rng.random() < 0.3:
                life.step("complaint.noted", noted, text=kind.progress_note, by=life.owner, channel=life.owner_channel)
            if not scripted:
                draw = rng.random()
                if draw < 0.03:
                    self._withdraw(life, planned)
                    if chase and life.now - opened > DAY:
                        self._chasers(customer, complaint_id, opened, life.now)
                    return
                if draw < 0.18:
                    planned = self._wait_for_customer(life, kind, planned)
                elif draw < 0.26 and kind.blocked_by is not None:
                    planned = self._wait_for_repair(life, kind.blocked_by, planned)
            if chase and planned - opened > DAY:
                self._chasers(customer, complaint_id, opened, planned)
            self._resolve(life, planned, resolution(), on_site=kind.resolved_on_site)
        if stop_at == ComplaintStatus.RESOLVED:
            return

        slow = life.case.escalation_level > 0 or life.now - opened > 3 * DAY or difficulty > 1.0
        if not self._follow_up_and_close(life, slow, reopen):
            return
        # A second round, which customers judge harshly.
        if rng.random() < 0.6:
            life.hand_over(
                self._later(life.now, 30 * MINUTE, 3 * HOUR, "back_office"),
                to=self._department_handler(kind, other_than=life.owner),
                to_channel=BACK_OFFICE_CHANNEL,
                reason="重复投诉，转二线专家处理。",
                by=life.owner,
                channel=life.owner_channel,
            )
        if rng.random() < 0.4:
            life.escalate(
                self._later(life.now, HOUR, 8 * HOUR, "back_office"),
                reason="重复投诉，升级处理。",
                by=life.owner,
                channel=life.owner_channel,
            )
        resolved = self._later(life.now, DAY, 4 * DAY, "back_office")
        self._resolve(life, resolved, resolution(), on_site=kind.resolved_on_site)
        self._follow_up_and_close(life, slow=True, reopen=False)

    def _follow_up_and_close(self, life: Lifecycle, slow: bool, reopen: bool | None) -> bool:
        """The follow-up (回访) and the close, or a reopening; returns whether the complaint was reopened.

        Closed is final, so a customer for whom it is still not fixed has the complaint
        reopened while it is resolved: on the follow-up call, when the complaint desk calls
        back after a low SMS score, or when they call again themselves before it is closed.
        """
        rng = self.rng
        customer, complaint_id = life.customer, life.complaint_id
        pick_satisfaction = pick_let_down if slow else pick_pleased
        satisfaction: int | None = None
        caller: str | None = None  # who made the follow-up call, if one was made
        draw = rng.random()
        if draw < 0.6:
            caller = f"callback-{rng.randint(1, 25):02d}"
            at = self._later(life.now, 2 * HOUR, 2 * DAY, "hotline")
            if rng.random() < 0.25:
                # Nobody picks up the first time; the callback team tries again the next day.
                self._contact(
                    customer,
                    at,
                    "hotline",
                    "complaint_followup",
                    direction="outbound",
                    outcome="no_answer",
                    handled_by=caller,
                    complaint_id=complaint_id,
                )
                at = self._later(at, 20 * HOUR, 28 * HOUR, "hotline")
            self._contact(
                customer,
                at,
                "hotline",
                "complaint_followup",
                direction="outbound",
                outcome="resolved",
                handled_by=caller,
                complaint_id=complaint_id,
            )
            satisfaction = pick_satisfaction(rng)
            life.step(
                "complaint.followed_up",
                at + rng.randint(2 * MINUTE, 6 * MINUTE),
                satisfaction=satisfaction,
                by=caller,
                channel="hotline",
            )
        elif draw < 0.85:
            # A satisfaction SMS: "reply 1 to 5".
            satisfaction = pick_satisfaction(rng)
            life.step(
                "complaint.followed_up",
                self._later(life.now, 3 * HOUR, DAY, "sms"),
                satisfaction=satisfaction,
                by="sms-survey",
                channel="sms",
            )
        # Otherwise nobody follows up: the gap the textbook says most systems have.
        unhappy = satisfaction is not None and satisfaction <= 2
        if reopen is None:
            reopen = rng.random() < (0.4 if unhappy else 0.03)
        if reopen:
            self._reopen(life, caller, on_the_spot=satisfaction is not None and rng.random() < 0.45)
            return True
        life.step(
            "complaint.closed",
            self._later(life.now, HOUR, DAY, "back_office"),
            by=life.owner,
            channel=life.owner_channel,
        )
        if unhappy and rng.random() < 0.3:
            # A let-down customer asks how to take their number elsewhere: the churn signal.
            channel = rng.choice(("store", "hotline"))
            self._contact(customer, self._later(life.now, 2 * DAY, 12 * DAY, channel), channel, "port_out_inquiry")
        return False

    def _reopen(self, life: Lifecycle, caller: str | None, *, on_the_spot: bool) -> None:
        """Reopen a resolved complaint: in answer to the follow-up (`on_the_spot`), or when the customer calls again."""
        rng = self.rng
        customer, complaint_id = life.customer, life.complaint_id
        if on_the_spot and caller is not None:
            reopened = life.now + rng.randint(MINUTE, 5 * MINUTE)
            life.step(
                "complaint.reopened", reopened, reason="回访时客户表示问题仍未解决。", by=caller, channel="hotline"
            )
        elif on_the_spot:
            # The low SMS score brings a call from the complaint desk.
            desk = self._complaint_desk()
            at = self._later(life.now, HOUR, 6 * HOUR, "back_office")
            self._contact(
                customer,
                at,
                "hotline",
                "complaint_followup",
                direction="outbound",
                outcome="unresolved",
                handled_by=desk,
                complaint_id=complaint_id,
            )
            reopened = at + rng.randint(2 * MINUTE, 8 * MINUTE)
            life.step(
                "complaint.reopened",
                reopened,
                reason="客户对处理结果不满意，要求重新处理。",
                by=desk,
                channel="hotline",
            )
        else:
            # It breaks again before the complaint is closed: the customer calls back.
            at = self._later(life.now, 2 * HOUR, DAY, "hotline")
            agent = self._contact(
                customer, at, "hotline", "complaint_followup", outcome="transferred", complaint_id=complaint_id
            )
            reopened = at + rng.randint(MINUTE, 10 * MINUTE)
            life.step(
                "complaint.reopened", reopened, reason="问题再次出现，客户再次来电投诉。", by=agent, channel="hotline"
            )
