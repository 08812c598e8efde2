"""The analytics page's charts, drawn by matplotlib on the server as SVG, to be placed inline in the page.

Thread-safe by construction: every chart is its own `Figure` drawn by its own
`FigureCanvasSVG` (no pyplot, no global "current figure"). The only process-wide state is
set once, at import: matplotlib's rcParams below (text stays text in the SVG, so the
browser draws the Chinese labels with its own fonts; labels are never parsed as maths),
and a warnings filter for missing glyphs (a label in a script no installed font covers is
still shown by the browser; the warning would only be noise in logs and test output).

Every label arrives already translated and is plain text: matplotlib escapes text in the
SVG it writes (`<`, `&`, quotes), so a label from the read model cannot become markup.
`svg_markup` then only removes what does not belong inline in an HTML page (the XML
prolog, the document-wide style rule), namespaces the ids the SVG refers to (several
charts share one page), and adds `role="img"` with the chart's name for screen readers.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import matplotlib
import structlog
from markupsafe import Markup, escape
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

log = structlog.get_logger(__name__)

CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "Droid Sans Fallback")
"""Fonts with Simplified Chinese glyphs, preferred in this order, for measuring the labels."""
LATIN_FAMILIES = ("DejaVu Sans",)  # shipped with matplotlib: always there
_CJK_FONT_FILES = ("wqy-microhei.ttc", "wqy-zenhei.ttc", "NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf",
                   "SourceHanSansSC-Regular.otf", "DroidSansFallbackFull.ttf")
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))

INK = "#1d2430"
MUTED = "#5f6b7a"
GRID = "#d9dee5"
BRAND = "#0b5cad"
LATE = "#b3261e"
SOON = "#c98a00"
CHANNEL_COLOURS = {  # Okabe-Ito and neighbours: told apart also with colour-vision deficiencies
    "hotline": "#0072b2", "store": "#e69f00", "web": "#56b4e9", "app": "#009e73", "sms": "#f0e442",
    "email": "#cc79a7", "technician": "#d55e00", "kiosk": "#999999", "account_manager": "#332288",
}
_SPARE_COLOURS = ("#88ccee", "#44aa99", "#117733", "#ddcc77", "#aa4499", "#882255")


def _installed_cjk_families() -> list[str]:
    """The CJK families matplotlib can measure with; fonts installed after its font cache was built are added."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    found = [name for name in CJK_FAMILIES if name in known]
    if found:
        return found
    for directory in _FONT_DIRS:
        if not directory.is_dir():
            continue
        for name in _CJK_FONT_FILES:
            for path in directory.rglob(name):
                try:
                    font_manager.fontManager.addfont(str(path))
                except (OSError, RuntimeError, ValueError):  # an unreadable font file: try the next
                    continue
    known = {f.name for f in font_manager.fontManager.ttflist}
    return [name for name in CJK_FAMILIES if name in known]


CJK_FONTS = _installed_cjk_families()
if not CJK_FONTS:
    log.warning("no_cjk_font", hint="install fonts-wqy-microhei: Chinese chart labels are measured with a Latin font")

matplotlib.rcParams.update({
    "svg.fonttype": "none",  # text stays <text>: selectable, and drawn by the browser's fonts
    "svg.hashsalt": "contacthub",  # the same data draws the same SVG
    "text.parse_math": False,  # a label with two $ signs is text, not mathtext
    "font.family": ["sans-serif"],
    # Only installed families: a missing one makes matplotlib log a "findfont" warning per chart.
    "font.sans-serif": [*CJK_FONTS, *LATIN_FAMILIES],
    "font.size": 10,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "axes.titlesize": 11,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
})
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)


# --- the four charts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One stacked series: `key` picks the colour (a channel), `name` is shown in the legend."""

    key: str
    name: str
    values: Sequence[int]


def stacked_volume(name: str, periods: Sequence[str], series: Sequence[Series], *, y_label: str, empty: str) -> Markup:
    """Contacts per period (day, week or month), stacked by channel."""
    fig = _figure(8.0, 3.6)
    ax = fig.add_subplot()
    totals = [sum(s.values[i] for s in series) for i in range(len(periods))]
    if not periods or not any(totals):
        return _empty(fig, ax, name, "volume", empty)
    positions = range(len(periods))
    bottom = [0] * len(periods)
    spare = iter(_SPARE_COLOURS * 4)
    for s in series:
        shown = [i for i in positions if s.values[i]]  # no zero-height rectangles in the SVG
        colour = CHANNEL_COLOURS.get(s.key) or next(spare, MUTED)
        ax.bar(shown, [s.values[i] for i in shown], bottom=[bottom[i] for i in shown],
               width=0.8, color=colour, label=s.name, linewidth=0)
        for i in shown:
            bottom[i] += s.values[i]
    step = max(1, math.ceil(len(periods) / 12))
    ticks = list(range(0, len(periods), step))
    ax.set_xticks(ticks, [periods[i] for i in ticks])
    ax.set_xlim(-0.6, len(periods) - 0.4)
    ax.set_ylabel(y_label)
    _integer_axis(ax, "y")
    _clean(ax, grid="y")
    fig.legend(loc="outside lower center", ncols=min(len(series), 5), frameon=False, fontsize=9.5)
    return svg_markup(fig, "volume", name)


def calls_distribution(name: str, buckets: Sequence[str], orders: Sequence[int], *, x_label: str, y_label: str,
                       empty: str) -> Markup:
    """Activated orders by how many inbound hotline calls their customer made before activation."""
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    if not any(orders):
        return _empty(fig, ax, name, "calls", empty)
    bars = ax.bar(list(buckets), list(orders), width=0.75, color=BRAND, linewidth=0)
    ax.bar_label(bars, labels=[str(n) if n else "" for n in orders], padding=2, fontsize=9, color=INK)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_ylim(0, max(orders) * 1.15)
    _integer_axis(ax, "y")
    _clean(ax, grid="y")
    return svg_markup(fig, "calls", name)


def sla_compliance(name: str, groups: Sequence[str], met: Sequence[int], decided: Sequence[int], *, y_label: str,
                   none: str, empty: str) -> Markup:
    """Share of decided complaints (met + missed + overdue) that met their deadline, per group, labelled met/decided."""
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    if not any(decided):
        return _empty(fig, ax, name, "sla", empty)
    shares = [100 * m / d if d else 0.0 for m, d in zip(met, decided, strict=True)]
    colours = [BRAND if d else GRID for d in decided]
    bars = ax.bar(list(groups), shares, width=0.6, color=colours, linewidth=0)
    labels = [f"{m}/{d} · {100 * m / d:.0f}%" if d else none for m, d in zip(met, decided, strict=True)]
    ax.bar_label(bars, labels=labels, padding=2, fontsize=9, color=INK)
    ax.set_ylim(0, 115)
    ax.set_yticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_ylabel(y_label)
    _clean(ax, grid="y")
    return svg_markup(fig, "sla", name)


def jeopardy_orders(name: str, orders: Sequence[str], waiting_days: Sequence[float], notes: Sequence[str], *,
                    x_label: str, empty: str) -> Markup:
    """Open orders in jeopardy, longest waiting on top: days since placing, each bar noted (its calls)."""
    fig = _figure(6.4, max(2.4, 0.9 + 0.32 * len(orders)))
    ax = fig.add_subplot()
    if not orders:
        return _empty(fig, ax, name, "jeopardy", empty)
    positions = list(range(len(orders)))[::-1]  # first order on top
    bars = ax.barh(positions, list(waiting_days), height=0.65, color=LATE, linewidth=0)
    ax.bar_label(bars, labels=list(notes), padding=3, fontsize=9, color=INK)
    ax.set_yticks(positions, [_short(o) for o in orders], fontsize=9)
    ax.set_xlim(0, max(waiting_days) * 1.3)
    ax.set_xlabel(x_label)
    _clean(ax, grid="x")
    return svg_markup(fig, "jeopardy", name)


# --- drawing and writing -----------------------------------------------------------------------------


def _figure(width_in: float, height_in: float) -> Figure:
    return Figure(figsize=(width_in, height_in), layout="constrained", facecolor="white")


def _clean(ax: Axes, grid: Literal["both", "x", "y"]) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    ax.grid(axis=grid, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _integer_axis(ax: Axes, axis: str) -> None:
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=1))


def _empty(fig: Figure, ax: Axes, name: str, kind: str, text: str) -> Markup:
    """A chart with nothing to draw: the frame and one line saying so."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=MUTED, fontsize=11)
    return svg_markup(fig, kind, name)


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


_TAG = re.compile(r"<[^<>]+>")
_ID = re.compile(r'\sid="([^"]*)"')
_REFERENCE = re.compile(r'url\(#([^)"]+)\)|xlink:href="#([^"]+)"')
_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)


def svg_markup(fig: Figure, kind: str, name: str) -> Markup:
    """The figure as an `<svg>` element for an HTML page (see the module's docstring for what changes)."""
    out = io.StringIO()
    FigureCanvasSVG(fig).print_svg(out, metadata={"Date": None})  # type: ignore[no-untyped-call]  # no date: the same chart draws the same bytes
    svg = _STYLE.sub("", _PROLOG.sub("", out.getvalue(), count=1), count=1)
    referenced = {a or b for a, b in _REFERENCE.findall(svg)}
    prefix = f"chart-{kind}-"

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        text = _ID.sub(lambda m: f' id="{prefix}{m.group(1)}"' if m.group(1) in referenced else "", text)
        text = text.replace("url(#", f"url(#{prefix}").replace('xlink:href="#', f'xlink:href="#{prefix}')
        if text.startswith("<svg "):
            text = re.sub(r'\s(width|height)="[^"]*"', "", text)  # sized by the page (viewBox kept)
            text = f'<svg class="chart" data-chart="{kind}" role="img" aria-label="{escape(name)}"' + text[4:]
        return text

    # Only inside tags: text between them is the labels, already escaped, and left as written.
    return Markup(_TAG.sub(tag, svg).strip())  # matplotlib's own output, its text escaped by it
