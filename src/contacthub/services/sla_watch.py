"""The SLA watcher: records complaint.sla_warning and complaint.sla_breached, once per complaint, metric and clock.

It asks the complaint read model which clocks have passed their warning share or their
deadline, then records the events through the ingest service, where the customer's own
rules decide again on the stored history (`Customer.record_sla_warning`): a complaint
resolved meanwhile, or a warning already recorded, is refused there. Each event's id is
derived from (complaint, clock, kind), so a second watcher, a restart, or a pass made
while the read model lags behind can only produce a duplicate, never a second event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from contacthub.contract import (
    SLA_EVENT_ID_PREFIX,
    EventSchema,
    SlaBreach,
    SlaWarning,
)
from contacthub.contract.schemas import ComplaintEscalated, ComplaintHandedOver
from contacthub.domain.complaint import RESOLUTION, BreachAction
from contacthub.domain.sites import NO_SITES, StaffDirectory
from contacthub.domain.vocabulary import ComplaintStatus
from contacthub.projections.complaint_queries import ComplaintQueries, SlaCandidate
from contacthub.services.ingest import IngestService
from contacthub.services.watchers import MAX_SKIPPED_PASSES, record_in_groups, run_watchers

log = structlog.get_logger(__name__)


POLICY_ACTOR = "sla-policy"
"""Who the SLA policy's breach actions are recorded as done by."""
SITE_SUPERVISOR = "site-supervisor"


@dataclass(frozen=True)
class WatchOutcome:
    warnings: int
    breaches: int
    refused: int
    actions: int = 0  # breach actions recorded (escalations and hand-overs)


def sla_event_id(complaint_id: str, clock: int, kind: str, metric: str = RESOLUTION) -> str:
    """One id per (complaint, clock, kind, metric): the resolution clock's ids are those it had before
    there were other clocks."""
    suffix = "" if metric == RESOLUTION else f":{metric}"
    return f"{SLA_EVENT_ID_PREFIX}{kind}:{complaint_id}:{clock}{suffix}"


class SlaWatcher:
    name = "sla"

    def __init__(
        self,
        ingest: IngestService,
        complaints: ComplaintQueries,
        clock: Callable[[], datetime],
        read_models_current: Callable[[], bool] = lambda: True,
        breach_actions: Sequence[BreachAction] = (),
        sites: StaffDirectory = NO_SITES,
    ) -> None:
        self.ingest = ingest
        self.complaints = complaints
        self.clock = clock
        self.breach_actions = tuple(breach_actions)
        self.sites = sites
        # Deciding on a read model far behind the log (a rebuild, a stopped projector) would
        # propose events the rules then refuse one by one: such a pass is skipped.
        self.read_models_current = read_models_current
        self._skipped = 0  # passes skipped in a row: after MAX_SKIPPED_PASSES a pass runs on the read models as they are

    def run_once(self) -> WatchOutcome:
        """One pass over every complaint due now; the events recorded (duplicates not counted)."""
        if not self.read_models_current():
            if self._skipped < MAX_SKIPPED_PASSES:
                self._skipped += 1
                log.info("sla_watch_skipped", reason="read models are catching up", skipped_in_a_row=self._skipped)
                return WatchOutcome(0, 0, 0)
            # Under a steady flood the read models may never be current: run on them as they are; the
            # customer's rules decide each proposal on the stored history, refusing what is out of date.
            log.warning("sla_watch_lagging_pass", skipped_in_a_row=self._skipped)
        self._skipped = 0
        now = self.clock()
        groups: list[list[EventSchema]] = []
        for candidate in self.complaints.sla_candidates(now, limit=10_000):
            for metric, clock, kind in candidate.due:
                model = SlaWarning if kind == "warning" else SlaBreach
                group: list[EventSchema] = [
                    model(
                        type=f"complaint.sla_{kind}",
                        event_id=sla_event_id(candidate.complaint_id, clock, kind, metric),
                        occurred_at=now.isoformat(),
                        customer_id=candidate.customer_id,
                        complaint_id=candidate.complaint_id,
                        clock=clock,
                        metric=metric,
                    )
                ]
                if kind == "breached":
                    group += self._actions(candidate, metric, clock, now)
                groups.append(group)
        recorded, refused = record_in_groups(self.ingest, groups)
        outcome = WatchOutcome(recorded["complaint.sla_warning"], recorded["complaint.sla_breached"], refused,
                               recorded["complaint.escalated"] + recorded["complaint.handed_over"])
        if outcome.warnings or outcome.breaches or refused or outcome.actions:
            log.info("sla_watch_pass", warnings=outcome.warnings, breaches=outcome.breaches, actions=outcome.actions,
                     refused=refused)
        return outcome

    def _actions(self, candidate: SlaCandidate, metric: str, clock: int, now: datetime) -> list[EventSchema]:
        """The policy's actions on this breach, as the ordinary complaint steps they are, by `sla-policy`.

        Each has an id derived from (complaint, clock, metric, action), so it is recorded once, whoever
        sees the breach; it goes in the breach's own batch (record_in_groups)."""
        escalate, hand_over_to = False, None
        for action in self.breach_actions:
            if action.metric == metric and action.applies(candidate.tier, candidate.severity):
                escalate = escalate or action.escalate
                hand_over_to = hand_over_to or action.hand_over_to
        suffix = f"{candidate.complaint_id}:{clock}" + ("" if metric == RESOLUTION else f":{metric}")
        common = {"occurred_at": now.isoformat(), "customer_id": candidate.customer_id,
                  "complaint_id": candidate.complaint_id, "by": POLICY_ACTOR, "channel": candidate.channel}
        steps: list[EventSchema] = []
        why = f"SLA policy: the {metric.replace('_', ' ')} deadline passed"
        if escalate and candidate.status == ComplaintStatus.PENDING.value:
            # An escalation starts the work (inProgress), which would end the pause on the customer's behalf
            escalate = False
            log.info("sla_action_skipped", complaint_id=candidate.complaint_id, action="escalate",
                     reason="pending on the customer")
        if escalate:
            steps.append(ComplaintEscalated(type="complaint.escalated", event_id=f"{SLA_EVENT_ID_PREFIX}action:escalate:{suffix}",
                                            reason=why, **common))
        to = self.sites.supervisor_of(candidate.owner) if hand_over_to == SITE_SUPERVISOR else hand_over_to
        if hand_over_to == SITE_SUPERVISOR and to is None:
            log.info("sla_action_skipped", complaint_id=candidate.complaint_id, action="hand_over",
                     reason=f"the staff directory knows no site of {candidate.owner}")
        if to is not None and to != candidate.owner:
            steps.append(ComplaintHandedOver(type="complaint.handed_over", event_id=f"{SLA_EVENT_ID_PREFIX}action:handover:{suffix}",
                                             to=to, reason=why, **common))
        return steps

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Watch until `stop` is set. A failing pass is logged and tried again at the next interval."""
        run_watchers((self,), stop, interval_s)
