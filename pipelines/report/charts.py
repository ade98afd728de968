"""Charts drawn on the server as inline SVG.

No chart library and no script: the report must open offline, from a mail
attachment, and keep working for years. Each chart is a responsive SVG
(`viewBox`, width 100 %) whose text inherits the page font; callers give the
viewBox about the width the chart is shown at, so its text keeps its size; hovering a bar or a
period shows its exact value through the SVG `<title>` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

BLUE = "#2563eb"
GREEN = "#16a34a"
RED = "#dc2626"
AMBER = "#d97706"
GREY = "#94a3b8"
_GRID = "#e5e7eb"
_INK = "#64748b"
_MAX_X_LABELS = 8
_LEFT, _RIGHT = 64, 24  # plot margins: y-axis labels; room for the last x-axis label
_LEGEND_LINE = 18


@dataclass(frozen=True)
class Point:
    label: str  # axis label
    value: float | None
    tooltip: str


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str


@dataclass(frozen=True)
class HBar:
    label: str
    value: float
    text: str  # shown right of the bar
    color: str = BLUE


def _svg(width: int, height: int, body: list[str], title: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def nice_ticks(top: float, integer: bool, count: int = 4) -> list[float]:
    """Round axis steps (1, 2, 2.5, 5 x 10^k) from 0 to at least `top`."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, math.ceil(step))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _x_label_every(n: int) -> int:
    return max(1, math.ceil(n / _MAX_X_LABELS))


def _frame(ticks: list[float], axis: Callable[[float], str], left: int, top: int, plot_h: int, width: int) -> list[str]:
    ys = [top + plot_h - plot_h * tick / ticks[-1] for tick in ticks]
    lines = "".join(f'<line x1="{left}" x2="{width - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>' for y in ys)
    texts = "".join(f'<text x="{left - 8}" y="{y + 4:.1f}">{escape(axis(t))}</text>' for t, y in zip(ticks, ys))
    return [
        f'<g stroke="{_GRID}" stroke-width="1">{lines}</g>',
        f'<g font-size="11" fill="{_INK}" text-anchor="end">{texts}</g>',
    ]


def _x_labels(labels: Sequence[str], xs: Sequence[float], y: float) -> str:
    every = _x_label_every(len(labels))
    last = len(labels) - 1
    texts = "".join(
        f'<text x="{x:.1f}" y="{y:.1f}">{escape(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, xs))
        if (last - i) % every == 0  # always label the current (last) period
    )
    return f'<g font-size="11" fill="{_INK}" text-anchor="middle">{texts}</g>'


def _empty(width: int, height: int, text: str) -> str:
    return (
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="13" fill="{_INK}">'
        f"{escape(text)}</text>"
    )


def bar_chart(
    points: Sequence[Point], *, title: str, axis: Callable[[float], str], empty_text: str,
    color: str = BLUE, width: int, height: int = 220, integer: bool = False,
) -> Markup:
    """Vertical bars over time; the last (current, unfinished) period is drawn lighter."""
    left, top, bottom = _LEFT, 12, 26
    plot_h = height - top - bottom
    values = [p.value or 0 for p in points]
    ticks = nice_ticks(max(values, default=0), integer)
    body = _frame(ticks, axis, left, top, plot_h, width)
    slot = (width - _RIGHT - left) / max(len(points), 1)
    bar_w = max(1.0, slot * 0.7)
    xs = [left + slot * (i + 0.5) for i in range(len(points))]
    bars = []
    for i, (point, value, x) in enumerate(zip(points, values, xs)):
        h = plot_h * value / ticks[-1]
        opacity = ' fill-opacity="0.55"' if i == len(points) - 1 else ""
        bars.append(
            f'<rect class="bar" data-value="{value!r}" x="{x - bar_w / 2:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{bar_w:.1f}" height="{h:.1f}"{opacity}><title>{escape(point.tooltip)}</title></rect>'
        )
    body.append(f'<g fill="{color}">{"".join(bars)}</g>')
    body.append(_x_labels([p.label for p in points], xs, height - 8))
    if not any(values):
        body.append(_empty(width, height, empty_text))
    return _svg(width, height, body, title)


def line_chart(
    labels: Sequence[str], series: Sequence[Series], tooltips: Sequence[str], *, title: str,
    axis: Callable[[float], str], empty_text: str, width: int, height: int = 220, integer: bool = False,
) -> Markup:
    """Lines over time with a legend (wrapped onto more lines when long); hovering a period shows every value."""
    legend, legend_x, legend_y = [], _LEFT, 12
    for s in series:
        step = 34 + 7.5 * len(s.name)
        if legend_x > _LEFT and legend_x + step > width - _RIGHT:
            legend_x, legend_y = _LEFT, legend_y + _LEGEND_LINE
        legend.append(
            f'<circle cx="{legend_x + 5}" cy="{legend_y}" r="5" fill="{s.color}"/>'
            f'<text x="{legend_x + 14}" y="{legend_y + 4}">{escape(s.name)}</text>'
        )
        legend_x += step
    extra = legend_y - 12  # the legend's added lines push the plot down and the chart grows
    left, top, bottom = _LEFT, 30 + extra, 26
    height += extra
    plot_h = height - top - bottom
    peak = max((v for s in series for v in s.values if v is not None), default=0)
    ticks = nice_ticks(peak, integer)
    body = _frame(ticks, axis, left, top, plot_h, width)
    slot = (width - _RIGHT - left) / max(len(labels), 1)
    xs = [left + slot * (i + 0.5) for i in range(len(labels))]
    body.append(f'<g font-size="12" fill="#334155">{"".join(legend)}</g>')
    for s in series:
        points = [(x, top + plot_h - plot_h * v / ticks[-1]) for x, v in zip(xs, s.values) if v is not None]
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        marks = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in points) if len(labels) <= 31 else ""
        exact = ",".join("" if v is None else repr(float(v)) for v in s.values)  # for tests and scripts
        body.append(
            f'<g class="line" data-values="{exact}" fill="{s.color}"><polyline points="{line}" fill="none" stroke="{s.color}" '
            f'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>{marks}</g>'
        )
    hover = "".join(  # invisible targets, one per period
        f'<rect x="{x - slot / 2:.1f}" y="{top}" width="{slot:.1f}" height="{plot_h}"><title>{escape(tip)}</title></rect>'
        for x, tip in zip(xs, tooltips)
    )
    body.append(f'<g fill="transparent">{hover}</g>')
    body.append(_x_labels(labels, xs, height - 8))
    if not peak:
        body.append(_empty(width, height, empty_text))
    return _svg(width, height, body, title)


def hbar_chart(
    rows: Sequence[HBar], *, title: str, empty_text: str, width: int, label_width: int = 230
) -> Markup:
    """Horizontal bars with their label and value: rankings, losses, funnels."""
    row_h, text_w = 30, 150
    height = max(len(rows), 1) * row_h + 8
    peak = max((r.value for r in rows), default=0)
    bar_max = width - label_width - text_w
    fits = int(label_width / 7.6)  # characters that fit at 12px in a wide font
    body = []
    for i, row in enumerate(rows):
        y = 4 + i * row_h
        w = bar_max * row.value / peak if peak else 0
        short = row.label if len(row.label) <= fits else row.label[: fits - 1] + "…"
        body.append(
            f'<g class="hbar"><title>{escape(row.label)}: {escape(row.text)}</title>'
            f'<text x="{label_width - 10}" y="{y + 19}" text-anchor="end" fill="#334155">{escape(short)}</text>'
            f'<rect x="{label_width}" y="{y + 5}" width="{bar_max}" height="{row_h - 10}" rx="3" fill="#f1f5f9"/>'
            f'<rect class="bar" data-value="{row.value!r}" x="{label_width}" y="{y + 5}" width="{w:.1f}" '
            f'height="{row_h - 10}" rx="3" fill="{row.color}"/>'
            f'<text x="{label_width + bar_max + 10}" y="{y + 19}" fill="#0f172a">{escape(row.text)}</text></g>'
        )
    body = [f'<g font-size="12">{"".join(body)}</g>']
    if not rows:
        body.append(_empty(width, height, empty_text))
    return _svg(width, height, body, title)
