"""The operator's world: stores, people's names, number ranges, tiers, channels, orders.

Fixed tables, and the weighted draws made from them. What complaints are about, and who
handles them, is in `contacthub.demo.complaints`.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contacthub.demo.plan import HOUR, MINUTE


@dataclass(frozen=True)
class Store:
    name: str  # the site name shown on contacts, e.g. 杭州西湖营业厅
    code: str  # the store's code in staff ids: clerk-HZ01-03
    city: str
    district: str  # where the technicians go for customers of this store


_STORES: tuple[tuple[Store, int], ...] = (
    (Store("杭州西湖营业厅", "HZ01", "杭州", "杭州市西湖区"), 9),
    (Store("杭州滨江营业厅", "HZ02", "杭州", "杭州市滨江区"), 7),
    (Store("杭州萧山营业厅", "HZ03", "杭州", "杭州市萧山区"), 7),
    (Store("杭州余杭营业厅", "HZ04", "杭州", "杭州市余杭区"), 7),
    (Store("杭州武林营业厅", "HZ05", "杭州", "杭州市拱墅区"), 6),
    (Store("宁波天一营业厅", "NB01", "宁波", "宁波市海曙区"), 6),
    (Store("宁波鄞州营业厅", "NB02", "宁波", "宁波市鄞州区"), 5),
    (Store("温州五马营业厅", "WZ01", "温州", "温州市鹿城区"), 6),
    (Store("绍兴柯桥营业厅", "SX01", "绍兴", "绍兴市柯桥区"), 4),
    (Store("嘉兴南湖营业厅", "JX01", "嘉兴", "嘉兴市南湖区"), 4),
    (Store("金华婺城营业厅", "JH01", "金华", "金华市婺城区"), 3),
    (Store("义乌稠城营业厅", "YW01", "义乌", "义乌市稠城街道"), 3),
    (Store("台州椒江营业厅", "TZ01", "台州", "台州市椒江区"), 3),
    (Store("湖州吴兴营业厅", "HU01", "湖州", "湖州市吴兴区"), 3),
)

# Self-service terminals stand in stores and in the places people pass through.
KIOSK_SITES = ("杭州东站自助终端", "宁波南站自助终端", "义乌国际商贸城自助终端", "杭州萧山机场自助终端")

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_NAME_CHARACTERS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉萍红鹏飞辉建国文晨宇浩然子涵梓轩欣怡思雨嘉佳俊博一诺"
    "家豪晓婷雪琳丹颖慧春兰海波斌志林峰宁亮成凯宏坤瑞鑫晶倩璐梅燕莉蕾雅琪诗梦泽睿航铭昊天皓伦新彬元德荣永"
    "生秋云霖婧瑶妍悦欢乐心安若依语"
)
COMPANY_BRANDS = tuple(
    "星河 华信 远航 恒泰 瑞丰 中天 海纳 金桥 东方 新锐 博远 天成 汇通 鼎盛 宏达 明珠 九州 万象 长风 众合".split()
)
COMPANY_TRADES = tuple("科技 物流 贸易 建设工程 餐饮管理 电子商务 医疗器械 教育咨询 纺织 汽车服务".split())

# The operator's own number ranges carry most customers; the rest ported their number in
# from another operator (携号转网), which is why every Chinese mobile prefix appears.
OWN_PREFIXES = tuple("134 135 136 137 138 139 150 151 152 157 158 159 182 183 184 187 188".split())
PORTED_IN_PREFIXES = tuple("130 131 132 155 156 185 186 133 153 180 181 189 199".split())

# Tier shares of an operator's individual base, by ARPU.
TIER_SHARES = (("diamond", 0.01), ("gold", 0.04), ("silver", 0.10), ("vip", 0.15), ("ordinary", 0.70))
TIER_ORDER = ("ordinary", "vip", "silver", "gold", "diamond")
ARPU_YUAN = {
    "ordinary": (28.0, 88.0),
    "vip": (100.0, 199.0),
    "silver": (200.0, 299.0),
    "gold": (300.0, 499.0),
    "diamond": (500.0, 1680.0),
}
HIGH_TIERS = frozenset({"diamond", "gold", "silver"})

# When each channel is staffed or used: (opens, closes) in seconds of the local day.
OPENING_HOURS: dict[str, tuple[int, int]] = {
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
BUSY_HOURS: dict[str, tuple[int, ...]] = {
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
BY_NUMBER_SHARE = {
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
REASON_TO_CATEGORY = {
    "billing_query": "billing",
    "network_fault": "network_quality",
    "broadband_slow": "broadband_speed",
    "roaming": "roaming_charges",
    "data_usage": "value_added_services",
}
RESOLVED_SHARE = {"hotline": 0.66, "store": 0.84, "app": 0.8, "web": 0.74, "sms": 0.95, "email": 0.7, "kiosk": 0.88}

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
CANCEL_REASONS = ("customer_changed_mind", "duplicate_order", "price_dispute", "moved_house")
# Fixed-line services need someone at the customer's door; the order they go in.
INSTALL_ORDER = ("broadband", "landline", "iptv")
FAILED_VISIT_REASONS = ("installation", "installation", "fibre_survey", "modem_replacement")


class Weighted:
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


pick_store = Weighted(_STORES)
pick_surname = Weighted([(s, 1.0 / (rank + 8)) for rank, s in enumerate(_SURNAMES)])
pick_inbound_channel = Weighted(_INBOUND_CHANNELS)
pick_reason = {channel: Weighted(table) for channel, table in _INBOUND_REASONS.items()}
pick_individual_order = Weighted(_INDIVIDUAL_ORDERS)
pick_corporate_order = Weighted(_CORPORATE_ORDERS)
