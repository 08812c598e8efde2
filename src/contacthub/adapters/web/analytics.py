"""The analytics page (/analytics): channel volume, calls to activation, SLA compliance by tier, orders in jeopardy.

Server-rendered like the desk (Chinese by default, `?lang=en`, no JavaScript): a period
form, four charts drawn by matplotlib on the server (charts.py), and beside each chart a
table with the exact numbers it draws. Every number comes from the same queries as
`GET /v1/metrics/*` (`hub.metrics`) and `GET /v1/orders?jeopardy=true` (`hub.journeys`);
definitions in docs/metrics.md. Days are local days in the operator's time zone.

GET /analytics?from=YYYY-MM-DD&to=YYYY-MM-DD&tier=&lang=zh|en, for a clerk or an auditor logged in
at /desk/login (otherwise 303 there). Without a period: the 30
days up to today, as the metrics API. Input that is not a period or a tier: 422 with one
message, on the same page with the form to correct it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

from contacthub.adapters.http.access_log import record_shown
from contacthub.adapters.http.dependencies import Hub, require_page
from contacthub.adapters.http.parameters import DEFAULT_PERIOD_DAYS, FIRST_QUERY_DAY, LAST_QUERY_DAY, MAX_PERIOD_DAYS
from contacthub.adapters.web import charts
from contacthub.adapters.web.desk import LANG_COOKIE
from contacthub.adapters.web.i18n import Translator, choose_language, when
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import Capability, Principal
from contacthub.domain.vocabulary import Channel, Tier
from contacthub.projections.journey_queries import OPEN_STATES, OrderFilter
from contacthub.projections.metrics_queries import MetricsFilter

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

PAGE_PATH = "/analytics"
FIRST_YEAR, LAST_YEAR = FIRST_QUERY_DAY.year, LAST_QUERY_DAY.year
"""Dates outside these years are refused (a period's end + 1 day must stay a date), as by the metrics API."""
DAILY_UP_TO_DAYS = 62
WEEKLY_UP_TO_DAYS = 371
"""The volume chart draws days up to two months, then weeks up to a year, then months."""
JEOPARDY_LISTED = 100
JEOPARDY_CHARTED = 12
"""Open orders in jeopardy: the longest waiting listed in the table, and drawn in the chart."""
MAX_ECHO = 40
"""At most this much of a bad input is shown back in the message."""

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TIERS = [tier.value for tier in Tier]
_CHANNELS = [channel.value for channel in Channel]

_templates = Environment(
    loader=PackageLoader("contacthub.adapters.web", "templates"),
    autoescape=True,  # read-model text (ids, services, unknown vocabulary) is text, never markup
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def number(value: float | None) -> str:
    """12,345 · 3.5 · — (nothing to show)."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def percent(part: int, whole: int) -> str:
    return "—" if whole == 0 else f"{100 * part / whole:.1f}%"


_templates.globals.update(number=number, percent=percent, when=when)


# --- the period ----------------------------------------------------------------------------------


class BadInput(ValueError):
    """A query parameter that is not a period or a tier: the message's key and values."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date
    tier: str | None = None

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def granularity(self) -> str:
        """What one bar of the volume chart counts: day, week or month."""
        if self.days <= DAILY_UP_TO_DAYS:
            return "day"
        return "week" if self.days <= WEEKLY_UP_TO_DAYS else "month"

    def metrics_filter(self) -> MetricsFilter:
        return MetricsFilter(first_day=self.first_day, last_day=self.last_day, tier=self.tier)

    def bucket(self, day: date) -> date:
        """The first day of the bar `day` is counted in (never before the period's first day)."""
        if self.granularity == "day":
            return day
        start = day - timedelta(days=day.weekday()) if self.granularity == "week" else day.replace(day=1)
        return max(start, self.first_day)

    def buckets(self) -> list[date]:
        starts: list[date] = []
        day = self.first_day
        while day <= self.last_day:
            start = self.bucket(day)
            if not starts or starts[-1] != start:
                starts.append(start)
            day += timedelta(days=1)
        return starts


def _day(raw: str) -> date:
    text = raw.strip()
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise BadInput("analytics.bad_date", value=raw[:MAX_ECHO]) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise BadInput("analytics.bad_date", value=raw[:MAX_ECHO])
    return day


def read_period(params: Mapping[str, str], today: date) -> Period:
    """The period and tier asked for (blank fields: the defaults). BadInput names the first problem."""
    raw_from, raw_to, raw_tier = (params.get(name, "").strip() for name in ("from", "to", "tier"))
    first = _day(raw_from) if raw_from else None
    last = _day(raw_to) if raw_to else None
    if raw_tier and raw_tier not in _TIERS:
        raise BadInput("analytics.bad_tier", value=raw_tier[:MAX_ECHO])
    last = last or today
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise BadInput("analytics.reversed", first=first.isoformat(), last=last.isoformat())
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise BadInput("analytics.too_long", days=MAX_PERIOD_DAYS)
    return Period(first, last, raw_tier or None)


# --- the numbers, and their charts ----------------------------------------------------------------


def volume_section(days: Sequence[dict[str, Any]], period: Period, t: Translator) -> dict[str, Any]:
    """Contacts per channel and per bar (day, week or month), and their totals."""
    buckets = period.buckets()
    index = {start: i for i, start in enumerate(buckets)}
    counts: dict[str, list[int]] = {}
    for row in days:
        series = counts.setdefault(row["channel"], [0] * len(buckets))
        series[index[period.bucket(date.fromisoformat(str(row["day"])))]] += int(row["contacts"])
    order = _CHANNELS + sorted(set(counts) - set(_CHANNELS))  # a channel of an older catalogue last
    total = sum(sum(values) for values in counts.values())
    totals = [
        {"channel": ch, "name": t.term("channel", ch), "contacts": sum(counts.get(ch, ())),
         "share": percent(sum(counts.get(ch, ())), total)}
        for ch in order  # every channel of the vocabulary, also those with no contact
    ]
    shown = [ch for ch in order if sum(counts.get(ch, ())) > 0]
    unit = t(f"unit.granularity.{period.granularity}")
    long_labels = period.first_day.year != period.last_day.year and period.granularity != "month"
    tick_format = "%Y-%m" if period.granularity == "month" else "%Y-%m-%d" if long_labels else "%m-%d"
    chart = charts.stacked_volume(
        t("volume.heading", unit=unit),
        [start.strftime(tick_format) for start in buckets],
        [charts.Series(ch, t.term("channel", ch), counts[ch]) for ch in shown],
        y_label=t("volume.y"),
        empty=t("analytics.empty"),
    )
    rows = [
        {"start": start.isoformat(), "counts": [counts[ch][i] for ch in shown],
         "total": sum(counts[ch][i] for ch in shown)}
        for i, start in enumerate(buckets)
    ]
    return {"unit": unit, "granularity": period.granularity, "totals": totals, "total": total,
            "channels": [{"channel": ch, "name": t.term("channel", ch)} for ch in shown], "rows": rows, "chart": chart}


def calls_section(journeys: dict[str, Any], t: Translator) -> dict[str, Any]:
    calls = journeys["calls_to_activation"]
    buckets = calls["distribution"]
    chart = charts.calls_distribution(
        t("calls.heading"),
        [b["calls"] for b in buckets],
        [int(b["orders"]) for b in buckets],
        x_label=t("calls.x"),
        y_label=t("calls.y"),
        empty=t("analytics.empty"),
    )
    return {"buckets": buckets, "spread": calls, "chart": chart}


def compliance_section(complaints: dict[str, Any], period: Period, t: Translator) -> dict[str, Any]:
    by_tier = {row["tier"]: row for row in complaints["by_tier"]}
    tiers = [period.tier] if period.tier else _TIERS + sorted(set(by_tier) - set(_TIERS))

    def row(tier: str | None, found: dict[str, Any] | None) -> dict[str, Any]:
        sla = found["sla"] if found else {"met": 0, "missed": 0, "overdue_unresolved": 0}
        decided = int(sla["met"]) + int(sla["missed"]) + int(sla["overdue_unresolved"])
        return {
            "tier": tier, "name": t.term("tier", tier) if tier else t("analytics.all"),
            "complaints": int(found["complaints"]) if found else 0,
            "met": int(sla["met"]), "missed": int(sla["missed"]), "overdue": int(sla["overdue_unresolved"]),
            "decided": decided, "rate": percent(int(sla["met"]), decided),
        }

    rows = [row(tier, by_tier.get(tier)) for tier in tiers]
    chart = charts.sla_compliance(
        t("compliance.heading"),
        [r["name"] for r in rows],
        [r["met"] for r in rows],
        [r["decided"] for r in rows],
        y_label=t("compliance.y"),
        none=t("compliance.none"),
        empty=t("analytics.empty"),
    )
    return {"rows": rows, "total": row(None, complaints["totals"]), "chart": chart}


def open_orders_in_jeopardy(hub: ContactHub, wanted: int) -> tuple[list[dict[str, Any]], int]:
    """The `wanted` open orders in jeopardy placed longest ago, oldest first, and how many there are in all.

    The journey list pages newest placing first, so the oldest are on its last pages.
    """
    flagged_open = OrderFilter(jeopardy=True, states=OPEN_STATES)
    items, total = hub.journeys.orders(flagged_open, 1, wanted)
    if total > wanted:
        last_page = math.ceil(total / wanted)
        before, _ = hub.journeys.orders(flagged_open, last_page - 1, wanted)
        tail, _ = hub.journeys.orders(flagged_open, last_page, wanted)
        items = (before + tail)[-wanted:]
    items.sort(key=lambda o: (datetime.fromisoformat(o["placed_at"]), o["order_id"]))
    return items, total


def jeopardy_section(hub: ContactHub, journeys: dict[str, Any], t: Translator) -> dict[str, Any]:
    orders, total = open_orders_in_jeopardy(hub, JEOPARDY_LISTED)
    now = hub.clock()
    rows = []
    for order in orders:
        flag = order["jeopardy"] or {}
        rows.append({
            "order_id": order["order_id"],
            "journey_url": f"/v1/orders/{quote(order['order_id'], safe='')}/journey",
            "customer_id": order["customer_id"],
            "customer_url": f"/desk/customers/{quote(order['customer_id'], safe='')}",
            "state": order["state"],
            "placed_at": order["placed_at"],
            "waiting_s": max(0.0, (now - datetime.fromisoformat(order["placed_at"])).total_seconds()),
            "calls": order["calls_to_activation"],
            "contacts": order["contacts_to_activation"],
            "visits": order["technician_visits_to_activation"],
            "pending": order["pending"],
            "reasons": flag.get("reasons", []),
            "flagged_at": flag.get("at"),
        })
    charted = rows[:JEOPARDY_CHARTED]
    chart = charts.jeopardy_orders(
        t("jeopardy.heading"),
        [r["order_id"] for r in charted],
        [r["waiting_s"] / 86400 for r in charted],
        [t("jeopardy.calls_note_one") if r["calls"] == 1 else t("jeopardy.calls_note", n=r["calls"]) for r in charted],
        x_label=t("jeopardy.x"),
        empty=t("jeopardy.none"),
    )
    return {"rows": rows, "total": total, "charted": len(charted), "in_period": journeys["orders"], "chart": chart,
            "limits": {"days": number(hub.settings.jeopardy_days), "calls": hub.settings.jeopardy_calls}}


def analytics_data(hub: ContactHub, period: Period, t: Translator) -> dict[str, Any]:
    """Everything the page shows for a period: read from the read models, then drawn."""
    f = period.metrics_filter()
    channel_days = hub.metrics.channels(f)["days"]
    journeys = hub.metrics.journeys(f)
    complaints = hub.metrics.complaints(f)
    volume = volume_section(channel_days, period, t)
    compliance = compliance_section(complaints, period, t)
    return {
        "volume": volume,
        "calls": calls_section(journeys, t),
        "compliance": compliance,
        "jeopardy": jeopardy_section(hub, journeys, t),
        "kpi": {"contacts": volume["total"], "orders": journeys["orders"],
                "complaints": complaints["totals"]["complaints"], "sla": compliance["total"]},
    }


# --- the page ---------------------------------------------------------------------------------------


def _switch_url(params: Mapping[str, str], lang: str) -> str:
    kept = [(name, params[name]) for name in ("from", "to", "tier") if params.get(name)]
    return f"{PAGE_PATH}?{urlencode([*kept, ('lang', lang)])}"


Viewer = Annotated[Principal, Depends(require_page(Capability.READ_METRICS, record=True))]
"""A clerk or an auditor (login: /desk/login). Recorded in the access log: the jeopardy table names customers."""


@router.get(PAGE_PATH)
async def analytics_page(request: Request, hub: Hub, who: Viewer) -> HTMLResponse:
    params = {name: request.query_params.get(name, "")[:200] for name in ("from", "to", "tier")}
    lang, remember = choose_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
    t = Translator(lang)
    context: dict[str, Any] = {
        "t": t, "zone": hub.settings.timezone, "q": "", "flash": None, "form_error": None, "section": "analytics", "who": who,
        "switch_url": _switch_url(params, "en" if lang == "zh" else "zh"), "tiers": _TIERS, "form": params,
        "hint": t("analytics.period_hint", low=FIRST_YEAR, high=LAST_YEAR, days=DEFAULT_PERIOD_DAYS),
    }
    status = 200
    try:
        period = read_period(params, hub.metrics.today())
    except BadInput as bad:
        status = 422
        context.update(problem=t(bad.key, **bad.values), period=None)
    else:
        started = time.perf_counter()
        data = await run_in_threadpool(analytics_data, hub, period, t)
        record_shown(request, (row["customer_id"] for row in data["jeopardy"]["rows"]))  # the jeopardy table names them
        log.debug("analytics_rendered", first_day=str(period.first_day), last_day=str(period.last_day),
                  tier=period.tier, ms=round(1000 * (time.perf_counter() - started)))
        form = {"from": period.first_day.isoformat(), "to": period.last_day.isoformat(), "tier": period.tier or ""}
        context.update(problem=None, period=period, form=form, **data)
    response = HTMLResponse(_templates.get_template("analytics.html").render(context), status_code=status)
    if remember:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path=PAGE_PATH, httponly=True, samesite="lax")
    return response
