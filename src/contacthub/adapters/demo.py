"""A demo operator: a deterministic, realistic customer population as channel events.

The events are JSON-ready dicts in exactly the shape channels post to `POST /v1/events`
(see `contacthub.contract`), so a demo exercises the same ingest path as production.

How the population is made, and why:

- Each customer's life is written as independent *episodes* (an order journey, a
  complaint lifecycle, a chain of repeat calls about one issue). Every episode is in
  causal order on its own, and the only thing episodes share is the registration that
  precedes them, so merging a customer's episodes by time always gives a history the
  domain accepts.
- Episodes run on past the plan's end date and are then cut at `end`. That is what makes
  the end of the window look like any working day at an operator: orders still waiting
  for the technician, complaints acknowledged but not resolved, follow-up calls not yet made.
- Complaints follow catalogue v2 (TMF621 statuses): the first-contact owner hands the
  complaint over to a department handler, who starts on it; some wait on the customer
  (pending) or on a network repair (held), a few are withdrawn (cancelled) or turn out to
  be duplicates (rejected); a dissatisfied follow-up reopens a complaint before it is
  closed. The SLA monitor escalates when the time limit of ContactHub's packaged SLA
  policy (tier x severity, clock paused while pending) runs out: level 1 at the deadline,
  level 2 one allowance later. SLA warnings and breaches are not posted: ContactHub's own
  SLA watcher records them.
- The first customers are *showcase* customers with scripted stories, so that a demo can
  always point at them and a small plan still contains every state:

  ======== =================================================================
  C000001  the bundle that took three weeks, 21 hotline calls and 4 technician
           visits before every service worked (the source documents' example)
  C000002  one-point acceptance: complains on the hotline, asks in a store how
           it is going, resolved, reopened before it was closed, resolved
           again and closed
  C000003  a broadband + IPTV order still waiting for installation at the end
  C000004  a broadband order cancelled: no fibre resource at the address
  C000005  a complaint e-mailed just before the end: acknowledged, not yet
           worked on
  C000006  a complaint pending: the billing desk waits for the customer's
           roaming bill screenshot, the SLA clock paused
  C000007  a complaint past its time limit twice: escalated to level 2, in
           progress
  C000008  a complaint resolved, waiting for its follow-up call (回访)
  C000009  a complaint held: the network team's fix waits on a base-station
           repair
  ======== =================================================================

Everything is drawn from one `random.Random(seed)`, so the same plan always gives the
same events with the same `event_id`s (`demo-<seed>-<customers>c<months>m-<end date>-<n>`), and re-ingesting a demo is
idempotent.
"""

from __future__ import annotations

import calendar
import random
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from contacthub.config import Settings
from contacthub.contract import MAX_BATCH
from contacthub.domain.complaint import RUNNING, TRANSITIONS, ComplaintCase
from contacthub.domain.customer import EVENT_TYPES, Customer
from contacthub.domain.vocabulary import ComplaintStatus

CHINA_TIME = timezone(timedelta(hours=8))
DEFAULT_END = datetime(2026, 11, 20, 18, 0, tzinfo=CHINA_TIME)

MINUTE = 60
HOUR = 3_600
DAY = 86_400

Event = dict[str, Any]


@dataclass(frozen=True)
class DemoPlan:
    """What to generate. The fixed default `end` keeps a demo reproducible."""

    customers: int = 3000
    months: int = 4
    seed: int = 7
    end: datetime = DEFAULT_END

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("a demo needs at least one customer")
        if not 1 <= self.months <= 36:
            raise ValueError("months must be between 1 and 36")
        if self.end.tzinfo is None or self.end.utcoffset() is None:
            raise ValueError("end must be timezone-aware")

    @property
    def window_end(self) -> datetime:
        """The end in China time: every event carries +08:00, as the operator's channels do."""
        return self.end.astimezone(CHINA_TIME)

    @property
    def window_start(self) -> datetime:
        return _months_before(self.window_end, self.months)


def generate_events(plan: DemoPlan) -> Iterator[Event]:
    """Every event of the demo population, in time order across customers.

    Ingested in this order, every event is accepted: per customer, registration comes
    first and each event is strictly later than the one before.
    """
    return _Operator(plan).events()


def generate_batches(plan: DemoPlan, batch_size: int = 500) -> Iterator[list[Event]]:
    """The same events, cut into request bodies of at most `batch_size` events."""
    # Checked here rather than in the generator, so a bad size fails at the call.
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
    return _batches(plan, batch_size)


def _batches(plan: DemoPlan, batch_size: int) -> Iterator[list[Event]]:
    batch: list[Event] = []
    for event in generate_events(plan):
        batch.append(event)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


# Fitted to seeds 1-3 at 3000 customers over 1 to 12 months (within 4%); a progress bar needs no more.
_EVENTS_PER_CUSTOMER_MONTH = 2.81
_EVENTS_PER_CUSTOMER_ONCE = 1.87


def estimate_event_count(plan: DemoPlan) -> int:
    """About how many events `generate_events(plan)` yields, without generating them."""
    per_customer = _EVENTS_PER_CUSTOMER_ONCE + _EVENTS_PER_CUSTOMER_MONTH * plan.months
    return round(plan.customers * per_customer)


# --- the operator's world ---------------------------------------------------------------


@dataclass(frozen=True)
class _Store:
    name: str  # the site name shown on contacts, e.g. 杭州西湖营业厅
    code: str  # the store's code in staff ids: clerk-HZ01-03
    city: str
    district: str  # where the technicians go for customers of this store


_STORES: tuple[tuple[_Store, int], ...] = (
    (_Store("杭州西湖营业厅", "HZ01", "杭州", "杭州市西湖区"), 9),
    (_Store("杭州滨江营业厅", "HZ02", "杭州", "杭州市滨江区"), 7),
    (_Store("杭州萧山营业厅", "HZ03", "杭州", "杭州市萧山区"), 7),
    (_Store("杭州余杭营业厅", "HZ04", "杭州", "杭州市余杭区"), 7),
    (_Store("杭州武林营业厅", "HZ05", "杭州", "杭州市拱墅区"), 6),
    (_Store("宁波天一营业厅", "NB01", "宁波", "宁波市海曙区"), 6),
    (_Store("宁波鄞州营业厅", "NB02", "宁波", "宁波市鄞州区"), 5),
    (_Store("温州五马营业厅", "WZ01", "温州", "温州市鹿城区"), 6),
    (_Store("绍兴柯桥营业厅", "SX01", "绍兴", "绍兴市柯桥区"), 4),
    (_Store("嘉兴南湖营业厅", "JX01", "嘉兴", "嘉兴市南湖区"), 4),
    (_Store("金华婺城营业厅", "JH01", "金华", "金华市婺城区"), 3),
    (_Store("义乌稠城营业厅", "YW01", "义乌", "义乌市稠城街道"), 3),
    (_Store("台州椒江营业厅", "TZ01", "台州", "台州市椒江区"), 3),
    (_Store("湖州吴兴营业厅", "HU01", "湖州", "湖州市吴兴区"), 3),
)

# Self-service terminals stand in stores and in the places people pass through.
_KIOSK_SITES = ("杭州东站自助终端", "宁波南站自助终端", "义乌国际商贸城自助终端", "杭州萧山机场自助终端")

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN_NAME_CHARACTERS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉萍红鹏飞辉建国文晨宇浩然子涵梓轩欣怡思雨嘉佳俊博一诺"
    "家豪晓婷雪琳丹颖慧春兰海波斌志林峰宁亮成凯宏坤瑞鑫晶倩璐梅燕莉蕾雅琪诗梦泽睿航铭昊天皓伦新彬元德荣永"
    "生秋云霖婧瑶妍悦欢乐心安若依语"
)
_COMPANY_BRANDS = tuple(
    "星河 华信 远航 恒泰 瑞丰 中天 海纳 金桥 东方 新锐 博远 天成 汇通 鼎盛 宏达 明珠 九州 万象 长风 众合".split()
)
_COMPANY_TRADES = tuple("科技 物流 贸易 建设工程 餐饮管理 电子商务 医疗器械 教育咨询 纺织 汽车服务".split())

# The operator's own number ranges carry most customers; the rest ported their number in
# from another operator (携号转网), which is why every Chinese mobile prefix appears.
_OWN_PREFIXES = tuple("134 135 136 137 138 139 150 151 152 157 158 159 182 183 184 187 188".split())
_PORTED_IN_PREFIXES = tuple("130 131 132 155 156 185 186 133 153 180 181 189 199".split())

# Tier shares of an operator's individual base, by ARPU.
_TIER_SHARES = (("diamond", 0.01), ("gold", 0.04), ("silver", 0.10), ("vip", 0.15), ("ordinary", 0.70))
_TIER_ORDER = ("ordinary", "vip", "silver", "gold", "diamond")
_ARPU_YUAN = {
    "ordinary": (28.0, 88.0),
    "vip": (100.0, 199.0),
    "silver": (200.0, 299.0),
    "gold": (300.0, 499.0),
    "diamond": (500.0, 1680.0),
}
_HIGH_TIERS = frozenset({"diamond", "gold", "silver"})
# The first customers are the showcase (see the module's docstring).
_SHOWCASE_CUSTOMERS = 9

# When each channel is staffed or used: (opens, closes) in seconds of the local day.
_OPENING_HOURS: dict[str, tuple[int, int]] = {
    "hotline": (8 * HOUR, 22 * HOUR),
    "store": (9 * HOUR, 19 * HOUR + 30 * MINUTE),
    "web": (7 * HOUR, 23 * HOUR + 30 * MINUTE),
    "app": (7 * HOUR, 23 * HOUR + 30 * MINUTE),
    "sms": (8 * HOUR, 22 * HOUR),
    "email": (8 * HOUR, 23 * HOUR),
    "technician": (8 * HOUR + 30 * MINUTE, 18 * HOUR),
    "kiosk": (8 * HOUR, 21 * HOUR),
    "account_manager": (9 * HOUR, 18 * HOUR),
    "back_office": (8 * HOUR + 30 * MINUTE, 18 * HOUR),
}
# Hours of the day people use each channel, as a bag to draw from: morning and afternoon
# peaks on the hotline and in stores, evenings on the app.
_BUSY_HOURS: dict[str, tuple[int, ...]] = {
    "hotline": (8, 9, 9, 10, 10, 10, 11, 11, 11, 12, 13, 14, 14, 15, 15, 15, 16, 16, 17, 18, 19, 19, 20, 20, 21),
    "store": (9, 10, 10, 11, 11, 12, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18),
    "web": (8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 20, 20, 21, 21, 22),
    "app": (7, 8, 9, 12, 12, 13, 18, 19, 20, 20, 21, 21, 21, 22, 22, 23),
    "sms": (8, 9, 10, 11, 12, 14, 16, 18, 19, 20, 21),
    "email": (8, 9, 10, 11, 14, 15, 16, 20, 21, 22),
    "technician": (9, 9, 10, 10, 11, 13, 14, 14, 15, 15, 16, 17),
    "kiosk": (8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20),
    "account_manager": (9, 10, 10, 11, 14, 14, 15, 16, 17),
}

# Share of contacts on which the channel names the customer by phone number rather than
# by customer id: the hotline sees the caller's number, a store clerk looks up the ID card.
_BY_NUMBER_SHARE = {
    "hotline": 0.95,
    "app": 0.95,
    "sms": 1.0,
    "web": 0.7,
    "kiosk": 0.6,
    "store": 0.35,
    "email": 0.2,
    "technician": 0.1,
    "account_manager": 0.0,
}

_INBOUND_CHANNELS = (("hotline", 46), ("app", 18), ("store", 13), ("web", 7), ("sms", 6), ("kiosk", 6), ("email", 4))
_INBOUND_REASONS: dict[str, tuple[tuple[str, int], ...]] = {
    "hotline": (
        ("billing_query", 30),
        ("network_fault", 14),
        ("plan_change", 12),
        ("data_usage", 10),
        ("broadband_slow", 9),
        ("roaming", 6),
        ("bill_payment", 4),
        ("points_redemption", 3),
        ("port_out_inquiry", 2),
    ),
    "store": (
        ("plan_change", 22),
        ("bill_payment", 20),
        ("sim_replacement", 15),
        ("billing_query", 15),
        ("device_purchase", 10),
        ("network_fault", 5),
        ("port_out_inquiry", 2),
    ),
    "app": (
        ("data_usage", 30),
        ("bill_payment", 30),
        ("plan_change", 15),
        ("billing_query", 15),
        ("points_redemption", 10),
    ),
    "web": (("billing_query", 35), ("e_invoice", 30), ("plan_change", 20), ("broadband_slow", 15)),
    "sms": (("data_usage", 60), ("billing_query", 40)),
    "email": (("e_invoice", 50), ("billing_query", 35), ("roaming", 15)),
    "kiosk": (("bill_payment", 60), ("invoice_print", 25), ("sim_replacement", 15)),
    "account_manager": (
        ("plan_change", 30),
        ("billing_query", 25),
        ("network_fault", 20),
        ("roaming", 15),
        ("new_line_request", 10),
    ),
}
# Reasons that grow into a complaint when repeated contacts do not settle them.
_REASON_TO_CATEGORY = {
    "billing_query": "billing",
    "network_fault": "network_quality",
    "broadband_slow": "broadband_speed",
    "roaming": "roaming_charges",
    "data_usage": "value_added_services",
}
_RESOLVED_SHARE = {"hotline": 0.66, "store": 0.84, "app": 0.8, "web": 0.74, "sms": 0.95, "email": 0.7, "kiosk": 0.88}

# Which services an order brings, and how often. Bundles (融合套餐) are what hurt.
_INDIVIDUAL_ORDERS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("mobile",), 26),
    (("broadband",), 18),
    (("iptv",), 6),
    (("landline",), 3),
    (("mobile", "broadband"), 17),
    (("broadband", "iptv"), 12),
    (("mobile", "broadband", "iptv"), 14),
    (("mobile", "broadband", "iptv", "landline"), 4),
)
_CORPORATE_ORDERS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("mobile",), 35),
    (("broadband", "landline"), 30),
    (("mobile", "broadband", "landline"), 20),
    (("landline",), 15),
)
_CANCEL_REASONS = ("customer_changed_mind", "duplicate_order", "price_dispute", "moved_house")
# Fixed-line services need someone at the customer's door; the order they go in.
_INSTALL_ORDER = ("broadband", "landline", "iptv")
_FAILED_VISIT_REASONS = ("installation", "installation", "fibre_survey", "modem_replacement")


@dataclass(frozen=True)
class _ComplaintKind:
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


_COMPLAINT_KINDS: dict[str, _ComplaintKind] = {
    k.category: k
    for k in (
        _ComplaintKind(
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
        _ComplaintKind(
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
        _ComplaintKind(
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
        _ComplaintKind(
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
        _ComplaintKind(
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
        _ComplaintKind(
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
        _ComplaintKind(
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
_BACK_OFFICE_CHANNEL = "hotline"
# The SLA monitor escalates to level 1 at the deadline, and to level 2 (the provincial
# complaint centre) when a second allowance has run out; never above level 2.
_SLA_MONITOR = "sla-monitor"
_SLA_ESCALATIONS = ("超过处理时限仍未解决。", "二次超时，升级至省公司投诉中心。")
# How a pending complaint's customer sends what was asked for, and the handler's note on resuming.
_CUSTOMER_REPLIES = (
    ("app", "客户已通过App提供所需信息。"),
    ("email", "客户已通过邮件提供所需信息。"),
    ("store", "客户到营业厅提供了所需信息。"),
    ("hotline", "客户来电提供了所需信息。"),
)
_WITHDRAWALS = (
    "客户表示问题已自行解决，申请撤销投诉。",
    "客户与营业厅协商一致，撤回投诉。",
    "客户来电表示不再追究，撤销投诉。",
)
# What the person who takes a customer's "how is it going?" notes on the complaint.
_CHASE_NOTES = {
    "hotline": "客户来电催办，已告知当前处理进度。",
    "store": "客户到营业厅询问投诉进度，已查询并告知。",
}


class _Weighted:
    """A fixed weighted choice, drawn with one random number."""

    def __init__(self, table: Sequence[tuple[Any, float]]) -> None:
        self.values = [value for value, _ in table]
        self.cumulative: list[float] = []
        total = 0.0
        for _, weight in table:
            total += weight
            self.cumulative.append(total)
        self.total = total

    def __call__(self, rng: random.Random) -> Any:
        return self.values[bisect(self.cumulative, rng.random() * self.total)]


_pick_store = _Weighted(_STORES)
_pick_surname = _Weighted([(s, 1.0 / (rank + 8)) for rank, s in enumerate(_SURNAMES)])
_pick_inbound_channel = _Weighted(_INBOUND_CHANNELS)
_pick_reason = {channel: _Weighted(table) for channel, table in _INBOUND_REASONS.items()}
_pick_individual_order = _Weighted(_INDIVIDUAL_ORDERS)
_pick_corporate_order = _Weighted(_CORPORATE_ORDERS)
_pick_spontaneous_category = _Weighted(_SPONTANEOUS_COMPLAINTS)
_pick_complaint_channel = _Weighted(_COMPLAINT_CHANNELS)
_pick_severity = _Weighted((("low", 25), ("medium", 47), ("high", 22), ("critical", 6)))
_pick_pleased = _Weighted(((5, 46), (4, 34), (3, 12), (2, 5), (1, 3)))
_pick_let_down = _Weighted(((5, 8), (4, 22), (3, 30), (2, 22), (1, 18)))


@dataclass
class _Customer:
    index: int
    customer_id: str
    name: str
    segment: str
    tier: str  # at registration; BOSS's later reviews are in tier_changes
    msisdns: tuple[str, ...]
    store: _Store
    services: set[str]
    account_manager: str | None
    registered_at: int = 0
    joined_in_window: bool = False
    # Scripted stories own the customer until this time, so that their numbers (such as
    # "21 calls") are not blurred by unrelated contacts.
    background_from: int = 0
    tier_changes: list[tuple[int, str]] = field(default_factory=list)  # (when, new tier), in time order
    journal: list[tuple[int, int, Event]] = field(default_factory=list)

    def tier_at(self, t: int) -> str:
        """The tier ContactHub knows at `t`: the one the SLA policy measures a complaint opened then by.

        A review at the same second counts: reviews are journalled before any episode, so
        they come first when the timeline is merged.
        """
        tier = self.tier
        for changed_at, new_tier in self.tier_changes:
            if changed_at > t:
                break
            tier = new_tier
        return tier


# Each complaint step's row in the domain's transition table, e.g. complaint.pended -> pend.
_STEP_ACTIONS = {
    topic: cls.ACTION for topic, cls in EVENT_TYPES.items() if issubclass(cls, Customer.ComplaintStep) and cls.ACTION
}


class _Lifecycle:
    """One complaint's steps, each written strictly after the one before and checked by the domain's own rules.

    The complaint's state is the domain's `ComplaintCase`, moved by every step written, so
    a step the transition table refuses fails here, when the demo is generated, and the
    SLA monitor escalates when ContactHub's clock says the time limit is up: the clock
    stops while the complaint is pending on the customer and starts again on a reopening.
    Steps are written in an order the table allows, so however the customer's timeline is
    later merged and cut, the complaint's sequence stays legal.
    """

    def __init__(
        self, operator: _Operator, customer: _Customer, case: ComplaintCase, opened: int, owner_channel: str
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
            self._escalate(due, reason=_SLA_ESCALATIONS[breach - 1], by=_SLA_MONITOR, channel=_BACK_OFFICE_CHANNEL)
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


class _Operator:
    """Writes the population's histories. Times are whole seconds from local midnight of the window's first day."""

    def __init__(self, plan: DemoPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        start, end = plan.window_start, plan.window_end
        self.base = datetime(start.year, start.month, start.day, tzinfo=CHINA_TIME)
        self.start = int((start - self.base).total_seconds())
        self.end = int((end - self.base).total_seconds())
        self._entries = 0
        self._orders = 0
        self._complaints = 0
        self._numbers_in_use: set[str] = set()
        # The packaged default, which ContactHub records on every complaint unless
        # CONTACTHUB_SLA_POLICY names another: the demo's escalations follow its time limits.
        self.sla_policy = Settings().load_sla_policy()

    # --- the stream -----------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        stream: list[tuple[int, int, int, Event]] = []
        for customer in self._population():
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

    def _history(self, customer: _Customer) -> list[tuple[int, Event]]:
        """The customer's episodes merged in time, made strictly increasing, cut at the end.

        Merging by (time, insertion order) keeps every episode's own order, and the nudge
        of one second only ever moves an event later than its predecessor, so it keeps it
        too. Cutting at the end drops a suffix of every episode, which leaves each one a
        valid prefix of its lifecycle.
        """
        history: list[tuple[int, Event]] = []
        last = -1
        for t, _, body in sorted(customer.journal, key=lambda entry: (entry[0], entry[1])):
            if t <= last:
                t = last + 1
            if t > self.end:
                break
            history.append((t, body))
            last = t
        customer.journal = []
        return history

    def _add(self, customer: _Customer, t: int, body: Event) -> None:
        if body["type"] != "customer.registered":
            # Clamping is monotonic, so it keeps every episode's order.
            t = max(t, customer.registered_at + MINUTE)
        self._entries += 1
        customer.journal.append((t, self._entries, body))

    # --- time -----------------------------------------------------------------------

    def moment(self, t: int) -> datetime:
        return self.base + timedelta(seconds=t)

    def seconds_at(self, moment: datetime) -> int:
        return int((moment - self.base).total_seconds())

    def _open(self, t: int, channel: str) -> int:
        """The first moment at or after `t` that the channel is staffed."""
        opens, closes = _OPENING_HOURS[channel]
        day, second = divmod(t, DAY)
        if second < opens:
            return day * DAY + opens + self.rng.randrange(90 * MINUTE)
        if second >= closes:
            return (day + 1) * DAY + opens + self.rng.randrange(90 * MINUTE)
        return t

    def _later(self, t: int, low: int, high: int, channel: str) -> int:
        """Some time between `low` and `high` seconds after `t`, when the channel is open."""
        return self._open(t + self.rng.randint(low, high), channel)

    def _busy_time(self, day: int, channel: str) -> int:
        hour = self.rng.choice(_BUSY_HOURS[channel])
        return day * DAY + hour * HOUR + self.rng.randrange(HOUR)

    def _date_code(self, t: int) -> str:
        return self.moment(t).strftime("%Y%m%d")

    # --- people ---------------------------------------------------------------------

    def _population(self) -> list[_Customer]:
        count = self.plan.customers
        # Tiers are dealt from a deck rather than drawn, so even a small plan has a
        # diamond customer and the shares hold exactly.
        deck: list[str] = []
        if count >= len(_TIER_SHARES):
            for tier, share in _TIER_SHARES[:-1]:
                deck += [tier] * max(1, round(share * count))
        deck += ["ordinary"] * (count - len(deck))
        self.rng.shuffle(deck)
        customers = []
        for i, tier in enumerate(deck, start=1):
            showcase = i <= _SHOWCASE_CUSTOMERS
            corporate = not showcase and self.rng.random() < 0.08
            customers.append(self._customer(i, tier, corporate))
        return customers

    def _customer(self, index: int, tier: str, corporate: bool) -> _Customer:
        rng = self.rng
        store: _Store = _pick_store(rng)
        if corporate:
            name = f"{store.city}{rng.choice(_COMPANY_BRANDS)}{rng.choice(_COMPANY_TRADES)}有限公司"
            numbers = rng.randint(3, 9)
            services = {"mobile", "landline", "broadband"}
        else:
            given = "".join(rng.choice(_GIVEN_NAME_CHARACTERS) for _ in range(1 if rng.random() < 0.3 else 2))
            name = _pick_surname(rng) + given
            draw = rng.random()
            numbers = 1 if draw < 0.82 else 2 if draw < 0.96 else 3
            services = {"mobile"}
            if rng.random() < 0.55:
                services.add("broadband")
                if rng.random() < 0.5:
                    services.add("iptv")
            if rng.random() < 0.08:
                services.add("landline")
        # Corporate and high-value customers have a dedicated account manager.
        managed = corporate or tier in _HIGH_TIERS
        return _Customer(
            index=index,
            customer_id=f"C{index:06d}",
            name=name,
            segment="corporate" if corporate else "individual",
            tier=tier,
            msisdns=tuple(self._new_number() for _ in range(numbers)),
            store=store,
            services=services,
            account_manager=f"am-{rng.randint(1, 40):03d}" if managed else None,
        )

    def _new_number(self) -> str:
        while True:
            prefixes = _OWN_PREFIXES if self.rng.random() < 0.87 else _PORTED_IN_PREFIXES
            number = self.rng.choice(prefixes) + f"{self.rng.randrange(100_000_000):08d}"
            if number not in self._numbers_in_use:
                self._numbers_in_use.add(number)
                return number

    def _caller(self, customer: _Customer, channel: str) -> dict[str, str]:
        """How a channel names the customer: by the number they used, or by customer id."""
        if self.rng.random() < _BY_NUMBER_SHARE[channel]:
            numbers = customer.msisdns
            # People mostly use their main number; a company's staff use any of theirs.
            number = numbers[0] if len(numbers) == 1 or self.rng.random() < 0.7 else self.rng.choice(numbers)
            return {"msisdn": number}
        return {"customer_id": customer.customer_id}

    def _handler(self, customer: _Customer, channel: str, self_service: bool = True) -> str:
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

    def _site(self, customer: _Customer, channel: str) -> str | None:
        if channel == "store":
            return customer.store.name
        if channel == "kiosk":
            return customer.store.name + "自助终端" if self.rng.random() < 0.7 else self.rng.choice(_KIOSK_SITES)
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
        customer: _Customer,
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
        resolved = _RESOLVED_SHARE.get(channel, 0.9)
        if draw < resolved:
            return "resolved"
        rest = (draw - resolved) / (1 - resolved)
        if channel == "hotline":
            return "unresolved" if rest < 0.4 else "transferred" if rest < 0.75 else "abandoned"
        if channel in ("app", "web", "kiosk"):
            return "unresolved" if rest < 0.6 else "abandoned"
        return "unresolved" if rest < 0.7 else "transferred"

    def _by_customer_id(self, customer: _Customer, type_: str) -> Event:
        return {"type": type_, "customer_id": customer.customer_id}

    # --- a customer's life ------------------------------------------------------------

    def _live(self, customer: _Customer) -> None:
        rng = self.rng
        span = self.end - self.start
        # Most customers were with the operator before the window and were loaded from
        # BOSS in the first days; the rest join during it, with a first order.
        if customer.index > _SHOWCASE_CUSTOMERS and rng.random() < 0.18:
            day = (self.start + rng.randint(3 * DAY, max(3 * DAY, span - DAY))) // DAY
            customer.registered_at = max(self.start + 1, self._busy_time(day, "store"))
            customer.joined_in_window = True
        else:
            customer.registered_at = self.start + rng.randint(0, 2 * DAY)
        customer.background_from = customer.registered_at
        self._register(customer)
        # First, so that every complaint knows the tier it is opened under (its time limit depends on it).
        self._tier_reviews(customer)

        if customer.index <= _SHOWCASE_CUSTOMERS:
            self._showcase(customer)
        if customer.joined_in_window:
            self._first_order(customer)
        self._orders_over_time(customer)
        self._everyday_contacts(customer)
        self._outbound_contacts(customer)
        self._spontaneous_complaints(customer)

    def _register(self, customer: _Customer) -> None:
        body = self._by_customer_id(customer, "customer.registered")
        body["name"] = customer.name
        body["segment"] = customer.segment
        body["tier"] = customer.tier
        body["msisdns"] = list(customer.msisdns)
        self._add(customer, customer.registered_at, body)

    def _arrivals(self, customer: _Customer, per_month: float) -> Iterator[int]:
        """Days (as day numbers) on which something happens, at `per_month` on average."""
        if per_month <= 0:
            return
        rate = per_month / (30 * DAY)
        t = float(customer.background_from)
        while True:
            t += self.rng.expovariate(rate)
            # Episodes that start after the end would be cut entirely: stop drawing.
            if t > self.end:
                return
            yield int(t) // DAY

    def _starts(self, customer: _Customer, day: int, channel: str) -> int | None:
        t = self._busy_time(day, channel)
        if t <= customer.background_from:
            t = self._open(customer.background_from + self.rng.randint(HOUR, 2 * DAY), channel)
        return t if t <= self.end else None

    def _tier_reviews(self, customer: _Customer) -> None:
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
            rank = _TIER_ORDER.index(tier)
            step = 1 if rng.random() < 0.55 else -1
            if not 0 <= rank + step < len(_TIER_ORDER):
                step = -step
            tier = _TIER_ORDER[rank + step]
            low, high = _ARPU_YUAN[tier]
            body = self._by_customer_id(customer, "customer.tier_changed")
            body["tier"] = tier
            body["arpu"] = round(rng.uniform(low, high), 2)
            self._add(customer, t, body)
            customer.tier_changes.append((t, tier))

    def _everyday_contacts(self, customer: _Customer) -> None:
        """Questions, payments and faults: the bulk of every channel's traffic."""
        per_month = {"ordinary": 1.2, "vip": 1.4, "silver": 1.6, "gold": 1.8, "diamond": 2.0}[customer.tier]
        if customer.segment == "corporate":
            per_month *= 2.2
        for day in self._arrivals(customer, per_month):
            managed = customer.account_manager is not None and self.rng.random() < 0.2
            channel = "account_manager" if managed else _pick_inbound_channel(self.rng)
            t = self._starts(customer, day, channel)
            if t is not None:
                self._issue(customer, t, channel)

    def _issue(self, customer: _Customer, t: int, channel: str) -> None:
        """One issue: a contact, and repeat contacts while it stays unsettled; sometimes a complaint."""
        rng = self.rng
        reason = _pick_reason[channel](rng)
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
            category = _REASON_TO_CATEGORY.get(reason)
            if unsettled >= 2 and category is not None and rng.random() < 0.4:
                if channel not in ("hotline", "store", "app", "web"):
                    channel = "hotline"
                self._complaint(customer, t, channel, category, difficulty=1.3)
                return
            outcome = self._outcome(channel, "inbound")
            self._contact(customer, t, channel, reason, outcome=outcome)
            unsettled += outcome != "resolved"

    def _outbound_contacts(self, customer: _Customer) -> None:
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

    def _spontaneous_complaints(self, customer: _Customer) -> None:
        per_month = 0.03 if customer.segment == "individual" else 0.06
        for day in self._arrivals(customer, per_month):
            channel = _pick_complaint_channel(self.rng)
            if customer.account_manager is not None and self.rng.random() < 0.3:
                channel = "account_manager"
            category = _pick_spontaneous_category(self.rng)
            if category == "broadband_speed" and "broadband" not in customer.services:
                category = "network_quality"
            t = self._starts(customer, day, channel)
            if t is not None:
                self._complaint(customer, t, channel, category)

    # --- orders ---------------------------------------------------------------------

    def _new_order_id(self, t: int) -> str:
        self._orders += 1
        return f"ORD{self._date_code(t)}{self._orders:05d}"

    def _first_order(self, customer: _Customer) -> None:
        """A new customer signs up in a store (or the app) and orders in the same visit."""
        services = _pick_individual_order(self.rng) if customer.segment == "individual" else ("mobile",)
        if "mobile" not in services and self.rng.random() < 0.7:
            services = ("mobile", *services)
        channel = "store" if self.rng.random() < 0.8 else "app"
        self._order(customer, customer.registered_at + self.rng.randint(MINUTE, 5 * MINUTE), services, channel)

    def _orders_over_time(self, customer: _Customer) -> None:
        per_month = 0.085 if customer.segment == "individual" else 0.2
        for day in self._arrivals(customer, per_month):
            pick = _pick_individual_order if customer.segment == "individual" else _pick_corporate_order
            services: tuple[str, ...] = pick(self.rng)
            if customer.account_manager is not None and self.rng.random() < 0.5:
                channel = "account_manager"
            else:
                channel = self.rng.choice(("store", "store", "store", "app", "hotline", "web"))
            t = self._starts(customer, day, channel)
            if t is not None:
                self._order(customer, t, services, channel)

    def _order(self, customer: _Customer, t: int, services: tuple[str, ...], channel: str) -> None:
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

        fixed = [s for s in _INSTALL_ORDER if s in services]
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
                reason = rng.choice(_CANCEL_REASONS)
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

    def _failed_installation(self, customer: _Customer, order_id: str, placed: int, appointment: int) -> int:
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
                rng.choice(_FAILED_VISIT_REASONS),
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

    def _activate(self, customer: _Customer, t: int, order_id: str, service: str) -> None:
        body = self._by_customer_id(customer, "service.activated")
        body["order_id"] = order_id
        body["service"] = service
        self._add(customer, t, body)
        customer.services.add(service)

    def _cancel(self, customer: _Customer, t: int, order_id: str, reason: str) -> None:
        body = self._by_customer_id(customer, "order.cancelled")
        body["order_id"] = order_id
        body["reason"] = reason
        self._add(customer, t, body)

    # --- complaints -------------------------------------------------------------------

    def _new_complaint_id(self, t: int) -> str:
        self._complaints += 1
        return f"TS{self._date_code(t)}{self._complaints:05d}"

    def _complaint(
        self,
        customer: _Customer,
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
        kind = _COMPLAINT_KINDS[category]
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
            severity = _pick_severity(rng)
            if customer.tier_at(t) in _HIGH_TIERS and severity == "low":
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
            if on_time and customer.tier_at(opened) in _HIGH_TIERS and rng.random() < 0.25:
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
                to_channel=_BACK_OFFICE_CHANNEL,
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

    def _open_complaint(
        self,
        customer: _Customer,
        t: int,
        complaint_id: str,
        *,
        category: str,
        severity: str,
        summary: str,
        channel: str,
        owner: str,
    ) -> _Lifecycle:
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
        return _Lifecycle(self, customer, case, t, _workplace(channel))

    def _complaint_desk(self) -> str:
        return f"complaint-desk-{self.rng.randint(1, 9):02d}"

    def _department_handler(self, kind: _ComplaintKind, other_than: str | None = None) -> str:
        while True:
            handler = f"{kind.department}-{self.rng.randint(1, 20):02d}"
            if handler != other_than:
                return handler

    def _acknowledge(self, life: _Lifecycle, channel: str) -> None:
        """The acknowledgement to the customer (受理回复), often by SMS."""
        rng = self.rng
        if channel in ("email", "web", "sms", "app"):  # the complaint desk reads its queue in office hours
            at, by = self._later(life.now, HOUR, 20 * HOUR, "back_office"), self._complaint_desk()
        else:
            at, by = life.now + rng.randint(5 * MINUTE, 50 * MINUTE), life.owner
        replied_by = "sms" if rng.random() < 0.6 else channel
        life.step_unless_overtaken("complaint.acknowledged", at, by=by, channel=replied_by)

    def _hand_to_department(self, life: _Lifecycle, kind: _ComplaintKind) -> None:
        """The first-contact owner hands the complaint over, and the department's handler starts on it."""
        handler = self._department_handler(kind)
        life.hand_over(
            self._later(life.now, 20 * MINUTE, 4 * HOUR, "back_office"),
            to=handler,
            to_channel=_BACK_OFFICE_CHANNEL,
            reason=kind.handover_reason,
            by=life.owner,
            channel=life.owner_channel,
        )
        started = self._later(life.now, 10 * MINUTE, 2 * HOUR, "back_office")
        life.step_unless_overtaken("complaint.started", started, by=handler, channel=_BACK_OFFICE_CHANNEL)

    def _ask_customer(self, life: _Lifecycle, kind: _ComplaintKind) -> None:
        """The handler needs something from the customer: the complaint is pending, its SLA clock stopped."""
        life.step(
            "complaint.pended",
            self._later(life.now, 30 * MINUTE, 4 * HOUR, "back_office"),
            reason=kind.pending_request,
            by=life.owner,
            channel=life.owner_channel,
        )

    def _wait_for_customer(self, life: _Lifecycle, kind: _ComplaintKind, planned: int) -> int:
        """Pending until the customer sends what was asked for; returns when the work, put off as long, is done."""
        rng = self.rng
        self._ask_customer(life, kind)
        asked = life.now
        channel, reply = rng.choice(_CUSTOMER_REPLIES)
        replied = self._later(asked, 2 * HOUR, 4 * DAY, channel)
        self._contact(
            life.customer, replied, channel, "complaint_followup", outcome="resolved", complaint_id=life.complaint_id
        )
        resumed = self._later(replied, 10 * MINUTE, 2 * HOUR, "back_office")
        life.step("complaint.resumed", resumed, reason=reply, by=life.owner, channel=life.owner_channel)
        return self._open(life.now + max(planned - asked, HOUR), "back_office")

    def _wait_for_repair(self, life: _Lifecycle, blocked_by: str, planned: int) -> int:
        """Held while the network is repaired; returns when the work, put off as long, is done."""
        life.hold(self._later(life.now, HOUR, DAY, "back_office"), reason=blocked_by)
        held = life.now
        repaired = self._later(held, 12 * HOUR, 4 * DAY, "back_office")
        life.step(
            "complaint.resumed", repaired, reason="故障已修复，继续处理。", by=life.owner, channel=life.owner_channel
        )
        return self._open(life.now + max(planned - held, HOUR), "back_office")

    def _withdraw(self, life: _Lifecycle, before: int) -> None:
        """The customer calls to withdraw the complaint before it is resolved."""
        rng = self.rng
        at = self._open(rng.randint(life.now + HOUR, max(life.now + HOUR, before - HOUR)), "hotline")
        agent = self._contact(
            life.customer, at, "hotline", "complaint_followup", outcome="resolved", complaint_id=life.complaint_id
        )
        life.step(
            "complaint.cancelled",
            at + rng.randint(2 * MINUTE, 6 * MINUTE),
            reason=rng.choice(_WITHDRAWALS),
            by=agent,
            channel="hotline",
        )

    def _lodged_again(self, original: _Lifecycle, category: str, severity: str, summary: str) -> None:
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
            channel=_BACK_OFFICE_CHANNEL,
        )

    def _resolve(self, life: _Lifecycle, t: int, resolution: str, *, on_site: bool) -> None:
        """Resolved by a technician at the customer's door, or by the complaint's owner."""
        if on_site:
            by, channel = self._handler(life.customer, "technician"), "technician"
        else:
            by, channel = life.owner, life.owner_channel
        life.step("complaint.resolved", t, resolution=resolution, by=by, channel=channel)

    def _note(self, customer: _Customer, complaint_id: str, t: int, *, text: str, by: str, channel: str) -> None:
        """A note on a complaint. Every status allows one, so it needs no place in the lifecycle's order."""
        body = self._by_customer_id(customer, "complaint.noted")
        body.update(complaint_id=complaint_id, text=text, by=by, channel=channel)
        self._add(customer, t, body)

    def _chasers(self, customer: _Customer, complaint_id: str, opened: int, until: int) -> None:
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
                note = _CHASE_NOTES.get(channel)
                if note is not None and rng.random() < 0.5:
                    noted = at + rng.randint(MINUTE, 5 * MINUTE)
                    self._note(customer, complaint_id, noted, text=note, by=handler, channel=channel)

    def _follow_up_and_close(self, life: _Lifecycle, slow: bool, reopen: bool | None) -> bool:
        """The follow-up (回访) and the close, or a reopening; returns whether the complaint was reopened.

        Closed is final, so a customer for whom it is still not fixed has the complaint
        reopened while it is resolved: on the follow-up call, when the complaint desk calls
        back after a low SMS score, or when they call again themselves before it is closed.
        """
        rng = self.rng
        customer, complaint_id = life.customer, life.complaint_id
        pick_satisfaction = _pick_let_down if slow else _pick_pleased
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

    def _reopen(self, life: _Lifecycle, caller: str | None, *, on_the_spot: bool) -> None:
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

    # --- the showcase -----------------------------------------------------------------

    def _showcase(self, customer: _Customer) -> None:
        stories: dict[int, Callable[[_Customer], None]] = {
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

    def _three_weeks_bundle(self, customer: _Customer) -> None:
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

    def _one_point_acceptance(self, customer: _Customer) -> None:
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
            customer, complaint_id, store_visit + 4 * MINUTE, text=_CHASE_NOTES["store"], by=clerk, channel="store"
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

    def _order_waiting_at_end(self, customer: _Customer) -> None:
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

    def _order_without_fibre(self, customer: _Customer) -> None:
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
        self, customer: _Customer, stop_at: ComplaintStatus, before_end: int, channel: str, category: str
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


def _workplace(channel: str) -> str:
    """The channel a complaint's first-contact owner works in: an SMS complaint's owner is the complaint desk."""
    return _BACK_OFFICE_CHANNEL if channel == "sms" else channel


def _months_before(moment: datetime, months: int) -> datetime:
    """The same wall-clock time `months` calendar months earlier (day clamped to the month's length)."""
    years, month_index = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + years, month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
