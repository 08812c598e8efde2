"""A hypothesis state machine drives random complaint actions, legal and illegal, through the real service.

After every step:
- the complaint read model agrees with the domain (the aggregate loaded from the log):
  status, owner and ownership history, escalation, reopenings, satisfaction, and the SLA
  clock (policy, clock number, deadline, elapsed and paused time, state) at that moment;
- both agree with a model kept here from the transition table;
- the stored history holds no illegal transition, and at most one SLA warning and one
  breach per clock;
- a refused action stored nothing.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from contacthub.bootstrap import build
from contacthub.config import Settings
from contacthub.contract import DOMAIN_EVENTS
from contacthub.domain.complaint import ACTIONS, MAX_ESCALATION_LEVEL, TRANSITIONS, check_transition
from contacthub.domain.vocabulary import Channel, ComplaintStatus, Severity, Tier
from contacthub.services.ingest import IngestRejected
from helpers import complaint_opened, registered
from support.clock import ManualClock

HANDLERS = ["agent-7", "store-0571-03", "billing-2", "noc-3"]
SINGLE_ACTIONS = [a for a in ACTIONS if a != "link"]  # `link` takes two complaints: test_complaint_links.py
FIELDS_OF = {
    "pend": {"reason": "请客户补充资料"}, "hold": {"reason": "等待故障单"}, "escalate": {"reason": "进展缓慢"},
    "resolve": {"resolution": "已处理"}, "follow_up": {"satisfaction": 3}, "reopen": {"reason": "客户不满意"},
    "cancel": {"reason": "客户撤诉"}, "reject": {"reason": "重复投诉"}, "note": {"text": "客户来电询问"},
}
# Each complaint step's row in the transition table, catalogue v1's complaint.assigned included.
_TYPE_ACTION = {name: cls.ACTION for name, cls in DOMAIN_EVENTS.items() if getattr(cls, "ACTION", "")}
_machines = itertools.count()


def machine_for(settings: Settings) -> type[RuleBasedStateMachine]:
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    hub = build(settings, clock=clock)

    class ComplaintMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.prefix = f"m{next(_machines)}"
            self.customer_id = f"{self.prefix}C"
            self.model: dict[str, tuple[ComplaintStatus, str]] = {}  # complaint -> (status, owner)
            self.opened_at: dict[str, datetime] = {}
            self.escalations: dict[str, int] = {}
            clock.advance(days=30)  # each run starts well after the previous one
            hub.ingest.ingest([registered(self.customer_id, (f"139{next(_machines):08d}",), occurred_at=clock().isoformat())])

        @rule(tier=st.sampled_from(list(Tier)), severity=st.sampled_from(list(Severity)),
              owner=st.sampled_from(HANDLERS))
        def open_complaint(self, tier: Tier, severity: Severity, owner: str) -> None:
            complaint_id = f"{self.prefix}K{len(self.model)}"
            now = clock().isoformat()
            hub.ingest.ingest([
                {"event_id": f"{complaint_id}-tier", "type": "customer.tier_changed", "occurred_at": now,
                 "customer_id": self.customer_id, "tier": tier.value, "arpu": 100},
                complaint_opened(complaint_id, {"customer_id": self.customer_id}, severity=severity.value,
                                 handled_by=owner, occurred_at=now),
            ])
            self.model[complaint_id] = (ComplaintStatus.ACKNOWLEDGED, owner)
            self.opened_at[complaint_id] = clock()
            self.escalations[complaint_id] = 0

        @precondition(lambda self: bool(self.model))
        @rule(data=st.data(), by=st.sampled_from(HANDLERS), channel=st.sampled_from(list(Channel)))
        def act(self, data: st.DataObject, by: str, channel: Channel) -> None:
            complaint_id = data.draw(st.sampled_from(sorted(self.model)))
            status, owner = self.model[complaint_id]
            # Mostly actions the status allows, so runs get deep into the lifecycle; sometimes any action at all.
            allowed = [a for a in SINGLE_ACTIONS if status in TRANSITIONS[a].allowed_from]
            action = data.draw(st.sampled_from(allowed) if data.draw(st.integers(0, 3)) else st.sampled_from(SINGLE_ACTIONS))
            body: dict[str, Any] = {"action": action, "by": by, "channel": channel.value, **FIELDS_OF.get(action, {})}
            if action == "handover":
                body.update(to=data.draw(st.sampled_from(HANDLERS)), reason="转交处理")
            backdated = data.draw(st.integers(0, 9)) == 0  # a step dated before the complaint was opened
            if backdated:
                body["occurred_at"] = (self.opened_at[complaint_id] - timedelta(minutes=1)).isoformat()
            legal = (
                status in TRANSITIONS[action].allowed_from
                and not (action == "handover" and body["to"] == owner)
                and not (action == "escalate" and self.escalations[complaint_id] >= MAX_ESCALATION_LEVEL)
                and not backdated
            )
            before = hub.event_log.head_position()
            try:
                hub.complaint_actions.take(complaint_id, body)
            except IngestRejected as refused:
                assert not legal, f"{action} from {status} was refused: {refused.errors}"
                assert refused.status_code == 409
                assert hub.event_log.head_position() == before  # nothing stored
                return
            assert legal, f"{action} from {status} was accepted"
            to = TRANSITIONS[action].to
            self.model[complaint_id] = (to or status, body["to"] if action == "handover" else owner)
            self.escalations[complaint_id] += action == "escalate"

        @rule(minutes=st.integers(1, 3 * 24 * 60))
        def time_passes(self, minutes: int) -> None:
            clock.advance(minutes=minutes)

        @rule()
        def sla_watcher_runs(self) -> None:
            hub.projector.catch_up()
            hub.sla_watcher.run_once()

        @invariant()
        def read_model_equals_domain(self) -> None:
            hub.projector.catch_up()
            if not self.model:
                return
            now = clock()
            customer = hub.event_log.load_customers([self.customer_id])[self.customer_id]
            for complaint_id, (status, owner) in self.model.items():
                case = customer.complaints[complaint_id]
                seen = hub.complaints.complaint(complaint_id)
                assert seen is not None
                sla, c = seen["sla"], case.clock
                deadline = None if c.deadline is None else c.deadline.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
                assert (seen["status"], seen["owner"]) == (status.value, owner) == (case.status.value, case.owner)
                assert [o["owner"] for o in seen["ownership_history"]] == case.owners
                assert seen["allowed_actions"] == case.allowed_actions()
                assert (seen["escalation_level"], seen["reopen_count"], seen["satisfaction"]) == (
                    case.escalation_level, case.reopen_count, case.satisfaction
                )
                assert (sla["policy"], sla["clock"], sla["allowance_s"], sla["deadline"]) == (
                    case.sla_policy, c.number, c.allowance_s, deadline
                )
                assert (sla["state"], sla["elapsed_s"], sla["paused"]) == (
                    c.state(now).value, int(c.elapsed_s(now)), c.paused_since is not None
                )
                first = hub.event_log.read_store.query_one(
                    "SELECT first_resolved_at, first_resolution_s, first_sla_met FROM rm_complaint WHERE complaint_id = ?",
                    (complaint_id,),
                )
                assert first is not None
                assert (first["first_resolved_at"], first["first_resolution_s"], first["first_sla_met"]) == (
                    None if case.first_resolved_at is None else case.first_resolved_at.astimezone(timezone.utc).isoformat(timespec="microseconds"),
                    case.first_resolution_s,
                    None if case.first_sla_met is None else int(case.first_sla_met),
                )
                response, fr = case.response, seen["first_response"]
                assert (fr is None) == (response is None)
                if response is not None:
                    assert (fr["state"], fr["elapsed_s"], fr["warning_recorded"], fr["breach_recorded"]) == (
                        response.state(now).value, int(response.elapsed_s(now)), response.warned, response.breached
                    )
                follow_up = seen["follow_up"]
                if follow_up is not None:
                    assert follow_up["state"] == (
                        case.followup_state(now) or ("done" if case.followed_up_at else "not_due")
                    )
                self._history_is_legal(seen["history"])

        @staticmethod
        def _history_is_legal(history: list[dict[str, Any]]) -> None:
            assert history[0]["type"] == "complaint.opened"
            sla_events = [(h["type"], h["details"]["metric"], h["details"]["clock"])
                          for h in history if h["type"].startswith("complaint.sla_")]
            assert len(sla_events) == len(set(sla_events)), sla_events
            for h in history[1:]:
                action = _TYPE_ACTION.get(h["type"])
                if action is None:
                    continue  # an SLA event changes no status
                assert check_transition("K", ComplaintStatus(h["from_status"]), action).value == h["status"]

    ComplaintMachine.hub = hub  # type: ignore[attr-defined]
    return ComplaintMachine


@pytest.mark.parametrize("examples", [25])
def test_random_action_sequences_keep_read_model_and_domain_in_step(settings: Settings, backend: str, examples: int) -> None:
    machine = machine_for(settings)
    try:
        run_state_machine_as_test(
            machine,
            settings=hypothesis_settings(
                max_examples=examples if backend == "sqlite" else examples // 2,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        machine.hub.close()  # type: ignore[attr-defined]
