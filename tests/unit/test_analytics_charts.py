"""The analytics page's charts and its period, on their own (adapters/web/charts.py, analytics.py): no database.

The page itself, over a history posted through the API, is tested in tests/e2e/test_analytics.py.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from contacthub.adapters.web import charts
from contacthub.adapters.web.analytics import BadInput, Period, read_period, volume_section
from contacthub.adapters.web.i18n import Translator


def test_text_from_the_read_model_is_escaped_in_the_charts() -> None:
    """A label the vocabulary does not know is shown as it is: as text, never as markup."""
    hostile = '<script>alert("x")</script> & <b>多扣</b>'
    period = Period(date(2026, 11, 1), date(2026, 11, 2))
    rows = [{"day": "2026-11-01", "channel": hostile, "contacts": 3},
            {"day": "2026-11-02", "channel": "hotline", "contacts": 2}]

    volume = volume_section(rows, period, Translator("zh"))

    svg = str(volume["chart"])
    assert "<script" not in svg and "<b>" not in svg
    assert '>&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;多扣&lt;/b&gt;</text>' in svg  # the legend
    assert [t["channel"] for t in volume["totals"]][-1] == hostile  # listed after the known channels
    bars = charts.jeopardy_orders(hostile, ["<img src=x onerror=alert(1)>"], [3.0], ["<i>5</i>"], x_label="x",
                                  empty="-")
    assert "<img" not in str(bars) and "<i>" not in str(bars) and 'aria-label="&lt;script&gt;' in str(bars)


def test_chinese_labels_are_measured_with_a_chinese_font_and_warn_of_nothing() -> None:
    assert charts.CJK_FONTS, "no Chinese font for matplotlib: install fonts-wqy-microhei"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # also what the module's filter would hide
        charts.stacked_volume("各渠道接触量", ["11-01", "11-02"], [charts.Series("app", "手机营业厅（APP）", [1, 2])],
                              y_label="接触次数", empty="暂无")
        charts.sla_compliance("按时办结率", ["钻石", "金卡"], [0, 1], [0, 2], y_label="按时办结率", none="无",
                              empty="暂无")
    assert [str(w.message) for w in caught] == []


def test_the_same_numbers_draw_the_same_svg_also_in_parallel_requests() -> None:
    def draw(n: int) -> str:
        return str(charts.calls_distribution("开通前来电", ["0", "1", "2+"], [n, 1, 2], x_label="来电", y_label="订单",
                                             empty="-"))

    alone = [draw(n) for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # requests render in threads: no shared figure state
        together = list(pool.map(draw, range(8)))
    assert together == alone and len(set(alone)) == 8


def test_reading_the_period() -> None:
    today = date(2026, 11, 2)
    assert read_period({}, today) == Period(date(2026, 10, 4), today)
    assert read_period({"from": " 2026-11-01 ", "tier": ""}, today) == Period(date(2026, 11, 1), today)
    assert read_period({"to": "2026-10-31", "tier": "vip"}, today) == Period(
        date(2026, 10, 2), date(2026, 10, 31), "vip")
    with pytest.raises(BadInput) as bad:
        read_period({"from": "x" * 500}, today)
    assert bad.value.values == {"value": "x" * 40}
    period = Period(date(2026, 7, 1), date(2026, 11, 2))
    assert period.granularity == "week"
    assert period.buckets()[:3] == [date(2026, 7, 1), date(2026, 7, 6), date(2026, 7, 13)]  # weeks start on Monday
    assert Period(date(2025, 1, 15), date(2026, 11, 2)).buckets()[:2] == [date(2025, 1, 15), date(2025, 2, 1)]
