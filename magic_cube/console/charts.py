"""Small server-rendered SVG charts: bars and lines with axes, tick labels and axis titles.

No JavaScript, no library, no CDN: the page is complete as HTML. Each chart is an
`<svg role="img">` with a `<title>` and a `<desc>` summarising it for screen readers, and every
bar or point carries its value in a `<title>` (a hover tooltip).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

# A narrow canvas with large type: on a 390 px phone it scales to about two thirds, and its
# text stays readable.
WIDTH, HEIGHT = 480, 260
LEFT, RIGHT, TOP, BOTTOM = 62, 24, 16, 56
MAX_X_LABELS = 6
TICK_FONT, TITLE_FONT = 15, 15


def nice_ticks(top: float, count: int = 5, whole: bool = False) -> list[float]:
    """0 and round steps (1, 2 or 5 × 10ⁿ) up to at least `top`; `whole`: steps of at least 1
    (a count of people has no half)."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1, step)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _number(value: float, decimals: int | None = None) -> str:
    if decimals is None:
        if float(value).is_integer():
            return f"{int(value):,}"
        return f"{value:,.1f}"
    return f"{value:,.{decimals}f}"


def tick_decimals(ticks: list[float]) -> int:
    """Decimals that tell every tick apart (steps of 0.02 need two: 0, 0.02, 0.04)."""
    if len(ticks) < 2:
        return 0
    step = ticks[1] - ticks[0]
    if step >= 1:
        return 0
    return max(0, -math.floor(math.log10(step) + 1e-9))


class _Frame:
    """The plotting area, the scales and the axes shared by both kinds of chart."""

    def __init__(self, labels: Sequence[str], values: Sequence[float], width: int,
                 height: int) -> None:
        self.labels, self.values = list(labels), [float(v) for v in values]
        self.width, self.height = width, height
        whole = all(v.is_integer() for v in self.values)
        self.ticks = nice_ticks(max(self.values, default=0), whole=whole)
        self.decimals = tick_decimals(self.ticks)
        self.top = self.ticks[-1] or 1
        self.plot_w = width - LEFT - RIGHT
        self.plot_h = height - TOP - BOTTOM
        self.slot = self.plot_w / max(1, len(self.labels))

    def y(self, value: float) -> float:
        return TOP + self.plot_h - (value / self.top) * self.plot_h

    def x_center(self, i: int) -> float:
        return LEFT + self.slot * (i + 0.5)

    def axes(self, x_title: str, y_title: str) -> list[str]:
        out = []
        for tick in self.ticks:
            y = self.y(tick)
            out.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{self.width - RIGHT}" '
                       f'y2="{y:.1f}" stroke="#e3e6ea" />')
            out.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end" '
                       f'font-size="{TICK_FONT}">{_number(tick, self.decimals)}</text>')
        base = TOP + self.plot_h
        out.append(f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{self.width - RIGHT}" '
                   f'y2="{base}" stroke="#555" />')
        out.append(f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" '
                   f'stroke="#555" />')
        every = max(1, math.ceil(len(self.labels) / MAX_X_LABELS))
        for i, label in enumerate(self.labels):
            if i % every == 0:
                out.append(f'<text class="tick" x="{self.x_center(i):.1f}" y="{base + 19}" '
                           f'text-anchor="middle" font-size="{TICK_FONT}">{escape(label)}'
                           f'</text>')
        middle = TOP + self.plot_h / 2
        out.append(f'<text class="axis-title" x="{LEFT + self.plot_w / 2:.1f}" '
                   f'y="{self.height - 8}" text-anchor="middle" font-size="{TITLE_FONT}">'
                   f'{escape(x_title)}</text>')
        out.append(f'<text class="axis-title" x="16" y="{middle:.1f}" text-anchor="middle" '
                   f'font-size="{TITLE_FONT}" transform="rotate(-90 16 {middle:.1f})">'
                   f'{escape(y_title)}</text>')
        return out


def _svg(chart_id: str, title: str, desc: str, body: list[str], width: int, height: int,
         kind: str) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart--{kind}" '
            f'id="{escape(chart_id)}" role="img" viewBox="0 0 {width} {height}" '
            f'width="100%" preserveAspectRatio="xMidYMid meet" '
            f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
            f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
            f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def _describe(labels: Sequence[str], values: Sequence[float],
              describe: Callable[[float, str, float], str] | None) -> str:
    if not values:
        return ""
    peak = max(range(len(values)), key=lambda i: values[i])
    total = sum(values)
    if describe is not None:
        return describe(total, labels[peak], values[peak])
    return f"{_number(total)}; max {_number(values[peak])} ({labels[peak]})"


def bar_chart(chart_id: str, labels: Sequence[str], values: Sequence[float], *, title: str,
              x_title: str, y_title: str, tooltips: Sequence[str] | None = None,
              describe: Callable[[float, str, float], str] | None = None,
              width: int = WIDTH, height: int = HEIGHT) -> Markup:
    frame = _Frame(labels, values, width, height)
    body = frame.axes(x_title, y_title)
    bar_w = min(32.0, max(1.0, frame.slot * 0.7))
    for i, value in enumerate(frame.values):
        y = frame.y(value)
        tip = tooltips[i] if tooltips else labels[i]
        body.append(f'<rect class="bar" x="{frame.x_center(i) - bar_w / 2:.1f}" y="{y:.1f}" '
                    f'width="{bar_w:.1f}" height="{TOP + frame.plot_h - y:.1f}" fill="#3b6fd8">'
                    f'<title>{escape(tip)}: {_number(value)}</title></rect>')
    return _svg(chart_id, title, _describe(labels, frame.values, describe), body, width, height,
                "bar")


def line_chart(chart_id: str, labels: Sequence[str], values: Sequence[float], *, title: str,
               x_title: str, y_title: str, tooltips: Sequence[str] | None = None,
               describe: Callable[[float, str, float], str] | None = None,
               width: int = WIDTH, height: int = HEIGHT) -> Markup:
    frame = _Frame(labels, values, width, height)
    body = frame.axes(x_title, y_title)
    points = [(frame.x_center(i), frame.y(v)) for i, v in enumerate(frame.values)]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline class="line" points="{path}" fill="none" stroke="#1f9d6b" '
                    f'stroke-width="2" />')
    for i, (x, y) in enumerate(points):
        tip = tooltips[i] if tooltips else labels[i]
        body.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1f9d6b">'
                    f'<title>{escape(tip)}: {_number(frame.values[i])}</title></circle>')
    return _svg(chart_id, title, _describe(labels, frame.values, describe), body, width, height,
                "line")
