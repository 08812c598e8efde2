"""What complaints are about and who handles them, and one complaint's lifecycle as the domain checks it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contacthub.contract import ACTION_EVENT
from contacthub.demo.customers import CustomerRecord
from contacthub.demo.plan import MINUTE, Event
from contacthub.demo.timeline import Timeline
from contacthub.demo.world import Weighted
from contacthub.domain.complaint import RUNNING, TRANSITIONS, ComplaintCase
from contacthub.domain.vocabulary import ComplaintStatus


@dataclass(frozen=True)
class ComplaintKind:
    category: str
    department: str  # the back-office team whose handlers (billing-dept-07) take the complaint over
    summaries: tuple[str, ...]
    resolutions: tuple[str, ...]
    hours_to_resolve: tuple[float, float]
    resolved_on_site: bool  # a technician settles it at the customer's door
    handover_reason: str  # why the first-contact owner hands it to the department
    pending_request: str  # what the handler may need from the customer (the complaint is then pending)
    progress_note: str  # what the handler notes while working on it
    blocked_by: str | None = None  # what the complaint may be held for inside the operator


COMPLAINT_KINDS: dict[str, ComplaintKind] = {
    k.category: k
    for k in (
        ComplaintKind(
            "billing",
            "billing-dept",
            (
                "本月话费比上月多出{amount}元，客户对账单明细有异议，要求核查。",
                "套餐外流量费用{amount}元，客户称未收到流量提醒短信。",
                "已办理销号的副卡仍在扣月租，客户要求退费。",
            ),
            (
                "经核查为计费系统错误，已退还{amount}元并向客户致歉。",
                "账单核查无误，已逐项向客户解释计费规则，客户表示理解。",
                "已按规定退还多收费用{amount}元，并为客户开通流量提醒。",
            ),
            (2, 48),
            False,
            handover_reason="转账务后台核查处理。",
            pending_request="请客户提供账单照片及缴费凭证，待补充后继续核查。",
            progress_note="已调取近三个月详单，正在逐项核对。",
        ),
        ComplaintKind(
            "network_quality",
            "network-ops",
            (
                "家中室内手机信号差，通话经常中断，已持续一周。",
                "所在小区5G网络频繁掉线，无法正常上网。",
                "办公楼内信号弱，影响正常通话。",
            ),
            (
                "已派单网络优化，调整基站参数后信号恢复正常。",
                "已在小区加装室分设备，客户确认通话质量改善。",
                "经现场测试为基站故障，已修复。",
            ),
            (8, 96),
            True,
            handover_reason="转网络优化中心处理。",
            pending_request="请客户提供信号差的具体位置和时间段。",
            progress_note="已派网络优化工单，等待现场测试结果。",
            blocked_by="等待基站故障修复（已转网络故障工单）。",
        ),
        ComplaintKind(
            "service_activation",
            "install-team",
            (
                "订单{order_id}办理{days}天仍未开通，客户多次来电催促无果。",
                "宽带新装预约多次改期，装维人员未按约定时间上门。",
            ),
            (
                "装维人员上门完成开通，并赠送一个月宽带费作为补偿。",
                "已协调资源完成安装，向客户致歉并减免安装费。",
            ),
            (12, 120),
            True,
            handover_reason="转装维班组处理。",
            pending_request="客户近期不在家，待客户确认上门安装时间。",
            progress_note="已联系装维班组，正在协调上门时间。",
            blocked_by="等待小区光交箱扩容，暂无可用端口。",
        ),
        ComplaintKind(
            "staff_attitude",
            "service-quality",
            ("{site}营业员服务态度差，办理业务时不耐烦。", "热线坐席未解决问题即挂断电话，客户不满。"),
            (
                "已核实情况，对相关员工进行批评教育，营业厅经理致电道歉。",
                "已调取录音核实，对坐席进行考核并向客户致歉。",
            ),
            (4, 48),
            False,
            handover_reason="转服务质量部核实处理。",
            pending_request="请客户提供办理业务的具体时间，便于调取录音录像。",
            progress_note="已调取录音录像，正在核实经过。",
        ),
        ComplaintKind(
            "roaming_charges",
            "billing-dept",
            (
                "出境旅行期间产生国际漫游费{amount}元，未收到费用提醒短信。",
                "已开通漫游包但仍按标准资费扣费{amount}元。",
            ),
            ("按政策减免部分漫游费用，并为客户开通漫游提醒服务。", "核实漫游包生效时间有误，已退还差额{amount}元。"),
            (8, 72),
            False,
            handover_reason="转账务后台核查漫游费用。",
            pending_request="请客户提供出境行程及漫游期间的账单截图。",
            progress_note="已向国际业务部门核实漫游包生效时间。",
        ),
        ComplaintKind(
            "value_added_services",
            "vas-dept",
            ("未经同意被订购增值业务，每月扣费{amount}元。", "手机被订购多项包月业务，客户称从未办理。"),
            ("已退订相关增值业务，并按规定双倍退还扣费。", "已退订全部包月业务，退还近三个月费用。"),
            (2, 36),
            False,
            handover_reason="转增值业务部核查订购记录。",
            pending_request="请客户提供扣费短信截图。",
            progress_note="已调取订购记录，正在核实订购渠道。",
        ),
        ComplaintKind(
            "broadband_speed",
            "install-team",
            ("宽带晚高峰网速很慢，测速不到签约带宽的一半。", "宽带频繁断线，影响居家办公。"),
            ("装维人员上门更换光猫并调整端口，测速达标。", "已扩容小区出口带宽，客户确认网速恢复。"),
            (6, 72),
            True,
            handover_reason="转装维班组处理。",
            pending_request="待客户在家时预约上门测速。",
            progress_note="已远程测试线路，发现端口异常，待上门处理。",
            blocked_by="等待小区光缆故障抢修。",
        ),
    )
}
_SPONTANEOUS_COMPLAINTS = (
    ("billing", 30),
    ("network_quality", 20),
    ("value_added_services", 13),
    ("broadband_speed", 12),
    ("roaming_charges", 9),
    ("staff_attitude", 9),
    ("service_activation", 7),
)
_COMPLAINT_CHANNELS = (("hotline", 62), ("store", 14), ("app", 9), ("web", 5), ("email", 6), ("sms", 4))
# Back-office staff (the departments, the complaint desk) reach customers by phone, so
# their steps are taken through the hotline.
BACK_OFFICE_CHANNEL = "hotline"
# The SLA monitor escalates to level 1 at the deadline, and to level 2 (the provincial
# complaint centre) when a second allowance has run out; never above level 2.
_SLA_MONITOR = "sla-monitor"
_SLA_ESCALATIONS = ("超过处理时限仍未解决。", "二次超时，升级至省公司投诉中心。")
# How a pending complaint's customer sends what was asked for, and the handler's note on resuming.
CUSTOMER_REPLIES = (
    ("app", "客户已通过App提供所需信息。"),
    ("email", "客户已通过邮件提供所需信息。"),
    ("store", "客户到营业厅提供了所需信息。"),
    ("hotline", "客户来电提供了所需信息。"),
)
WITHDRAWALS = (
    "客户表示问题已自行解决，申请撤销投诉。",
    "客户与营业厅协商一致，撤回投诉。",
    "客户来电表示不再追究，撤销投诉。",
)
# What the person who takes a customer's "how is it going?" notes on the complaint.
CHASE_NOTES = {
    "hotline": "客户来电催办，已告知当前处理进度。",
    "store": "客户到营业厅询问投诉进度，已查询并告知。",
}

pick_spontaneous_category = Weighted(_SPONTANEOUS_COMPLAINTS)
pick_complaint_channel = Weighted(_COMPLAINT_CHANNELS)
pick_severity = Weighted((("low", 25), ("medium", 47), ("high", 22), ("critical", 6)))
pick_pleased = Weighted(((5, 46), (4, 34), (3, 12), (2, 5), (1, 3)))
pick_let_down = Weighted(((5, 8), (4, 22), (3, 30), (2, 22), (1, 18)))


# Each complaint step's row in the domain's transition table, e.g. complaint.pended -> pend.
_STEP_ACTIONS = {topic: action for action, topic in ACTION_EVENT.items()}


class Lifecycle:
    """One complaint's steps, each written strictly after the one before and checked by the domain's own rules.

    The complaint's state is the domain's `ComplaintCase`, moved by every step written, so
    a step the transition table refuses fails here, when the demo is generated, and the
    SLA monitor escalates when ContactHub's clock says the time limit is up: the clock
    stops while the complaint is pending on the customer and starts again on a reopening.
    Steps are written in an order the table allows, so however the customer's timeline is
    later merged and cut, the complaint's sequence stays legal.
    """

    def __init__(
        self, operator: Timeline, customer: CustomerRecord, case: ComplaintCase, opened: int, owner_channel: str
    ) -> None:
        self.operator = operator
        self.customer = customer
        self.case = case
        self.now = opened
        self.owner_channel = owner_channel  # where the current owner works
        self._next_breach = 1  # on the current clock: 1 at its deadline, 2 an allowance later
        self._hold_reason = ""  # what the complaint was last held for

    @property
    def complaint_id(self) -> str:
        return self.case.complaint_id

    @property
    def owner(self) -> str:
        return self.case.owner

    @property
    def status(self) -> ComplaintStatus:
        return self.case.status

    @property
    def deadline(self) -> int | None:
        """When the current clock's allowance runs out; None while it is paused."""
        deadline = self.case.clock.deadline
        return None if deadline is None else self.operator.seconds_at(deadline)

    def step(self, type_: str, t: int, **fields: Any) -> None:
        """Write a step at `t` (or just after the step before), after the escalations that fall due first."""
        self.wait(t)
        self._write(type_, t, fields)

    def step_unless_overtaken(self, type_: str, t: int, **fields: Any) -> None:
        """Write a step that only marks the work's beginning (acknowledge, start), unless an
        escalation that fell due first has already moved the complaint on to inProgress."""
        self.wait(t)
        if self.status in TRANSITIONS[_STEP_ACTIONS[type_]].allowed_from:
            self._write(type_, t, fields)

    def hand_over(self, t: int, *, to: str, to_channel: str, reason: str, by: str, channel: str) -> None:
        self.step("complaint.handed_over", t, to=to, reason=reason, by=by, channel=channel)
        self.owner_channel = to_channel

    def hold(self, t: int, *, reason: str) -> None:
        self.step("complaint.held", t, reason=reason, by=self.owner, channel=self.owner_channel)
        self._hold_reason = reason

    def escalate(self, t: int, *, reason: str, by: str, channel: str) -> None:
        self.wait(t)
        self._escalate(t, reason=reason, by=by, channel=channel)

    def wait(self, until: int) -> None:
        """Write the SLA monitor's escalations that fall due before `until`.

        The n-th breach of a clock raises the complaint to level n, unless it is there already.
        """
        while self.status in RUNNING and self._next_breach <= len(_SLA_ESCALATIONS):
            deadline = self.deadline
            assert deadline is not None  # the clock runs in every RUNNING status
            breach = self._next_breach
            due = deadline + (breach - 1) * self.case.clock.allowance_s
            if due >= until:
                return
            self._next_breach += 1
            if self.case.escalation_level >= breach:
                continue
            held = self.status == ComplaintStatus.HELD
            self._escalate(due, reason=_SLA_ESCALATIONS[breach - 1], by=_SLA_MONITOR, channel=BACK_OFFICE_CHANNEL)
            if held:
                # Escalating does not unblock it: its owner puts it back on hold.
                again = self.now + self.operator.rng.randint(5 * MINUTE, 30 * MINUTE)
                fields = {"reason": self._hold_reason, "by": self.owner, "channel": self.owner_channel}
                self._write("complaint.held", again, fields)

    def _escalate(self, t: int, *, reason: str, by: str, channel: str) -> None:
        fields = {"level": self.case.escalation_level + 1, "reason": reason, "by": by, "channel": channel}
        self._write("complaint.escalated", t, fields)

    def _write(self, type_: str, t: int, fields: dict[str, Any]) -> None:
        action = _STEP_ACTIONS[type_]
        self.now = max(t, self.now + MINUTE)
        moment = self.operator.moment(self.now)
        if type_ == "complaint.handed_over":
            self.case.check_handover(fields["to"], moment)
        else:
            self.case.check(action, moment)
        # What the domain's events do to the case (Customer.Complaint*.change), on the demo's copy.
        self.case.step(action, moment)
        if type_ == "complaint.handed_over":
            self.case.hand_over(fields["to"])
        elif type_ == "complaint.escalated":
            self.case.escalation_level = fields["level"]
        elif type_ == "complaint.reopened":
            self._next_breach = 1
        body: Event = {"type": type_, "customer_id": self.customer.customer_id, "complaint_id": self.complaint_id}
        body.update(fields)
        self.operator._add(self.customer, self.now, body)
