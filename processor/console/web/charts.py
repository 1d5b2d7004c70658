"""Charts as inline SVG, drawn on the server: no script library, nothing the page's CSP refuses.

Each function takes plain numbers and labels and returns markup: bars scaled to the largest value
shown, a <title> and <desc> for screen readers, each bar's own <title> as its tooltip. Labels come
from Kafka records (partner ids, currencies), so every one is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 240
LEFT = 56
"""Room for the value axis' labels."""
BOTTOM = 34
"""Room for the category labels and the legend."""
TOP = 12
LABELS_MAX = 16
"""The most category labels written under the bars; more would overlap, so every n-th is."""
LABEL_CHARS = 24
ROW = 22
"""A horizontal bar's height with its gap."""


@dataclass(frozen=True, slots=True)
class Series:
    """One kind of bar: its name (in the legend and tooltips), its CSS class, a value per label."""

    name: str
    css: str
    values: Sequence[float]


def columns(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool,
    unit: str = "",
) -> Markup:
    """Vertical bars, one group per label: the series stacked on each other, or side by side
    (values in different units, such as currencies, must not be stacked)."""
    if any(len(s.values) != len(labels) for s in series):
        raise ValueError("each series needs one value per label")
    heights = [
        sum(_positive(s.values[i]) for s in series)
        if stacked
        else max((_positive(s.values[i]) for s in series), default=0.0)
        for i in range(len(labels))
    ]
    top = max(heights, default=0.0)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    width = slot * 0.7 / (1 if stacked or not series else len(series))
    parts = [_axis(top, plot_h, unit)]
    for i, label in enumerate(labels):
        x = LEFT + i * slot + slot * 0.15
        base: float = TOP + plot_h
        for s in series:
            value = _positive(s.values[i])
            height = _scaled(value, top, plot_h)
            parts.append(
                f'<rect class="bar {escape(s.css)}" x="{x:.1f}" y="{base - height:.1f}" '
                f'width="{width:.1f}" height="{height:.1f}">'
                f"<title>{escape(label)}: {escape(s.name)} {_number(value)}{escape(unit)}</title>"
                "</rect>"
            )
            if stacked:
                base -= height
            else:
                x += width
    parts.extend(_category_labels(labels, slot, HEIGHT - BOTTOM + 14))
    parts.append(_legend(series))
    return _svg(chart_id, title, _description(title, labels, series, unit), HEIGHT, parts)


def horizontal(
    chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], unit: str = ""
) -> Markup:
    """One horizontal bar per label, longest first as given: a ranking."""
    height = TOP + ROW * max(len(labels), 1) + 8
    top = max((_positive(v) for v in values), default=0.0)
    left, plot_w = 170, WIDTH - 170 - 90
    parts = [] if labels else [_empty(height)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + i * ROW
        length = _scaled(_positive(value), top, plot_w)
        text = f"{_number(value)}{escape(unit)}"
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(_cut(label))}</text>'
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{length:.1f}" height="{ROW - 6}">'
            f"<title>{escape(label)}: {text}</title></rect>"
            f'<text x="{left + length + 6:.1f}" y="{y + 14}">{text}</text>'
        )
    described = "; ".join(
        f"{label} {_number(v)}{unit}" for label, v in zip(labels, values, strict=True)
    )
    return _svg(chart_id, title, described or "no data", height, parts)


def _positive(value: float) -> float:
    """Bars grow upwards from zero: a negative or non-finite value draws nothing."""
    return value if value > 0 and value != float("inf") else 0.0


def _scaled(value: float, top: float, room: float) -> float:
    return 0.0 if top <= 0 else value / top * room


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _cut(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _axis(top: float, plot_h: float, unit: str) -> str:
    """The baseline, and the largest value at the top of the scale."""
    base = TOP + plot_h
    if top <= 0:
        return _empty(HEIGHT) + f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}"/>'
    return (
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}"/>'
        f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">{_number(top)}{escape(unit)}</text>'
        f'<text x="{LEFT - 6}" y="{base}" text-anchor="end">0</text>'
    )


def _empty(height: float) -> str:
    return f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">no data</text>'


def _category_labels(labels: Sequence[str], slot: float, y: float) -> list[str]:
    step = max(1, -(-len(labels) // LABELS_MAX))
    return [
        f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{y}" text-anchor="middle">'
        f"{escape(_cut(label))}</text>"
        for i, label in enumerate(labels)
        if i % step == 0
    ]


def _legend(series: Sequence[Series]) -> str:
    items = []
    for i, s in enumerate(series):
        x = LEFT + i * 130
        items.append(
            f'<rect class="bar {escape(s.css)}" x="{x}" y="{HEIGHT - 12}" width="10" height="10"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 3}">{escape(_cut(s.name))}</text>'
        )
    return "".join(items)


def _description(title: str, labels: Sequence[str], series: Sequence[Series], unit: str) -> str:
    """The chart's numbers in words, for whoever cannot see it."""
    if not labels:
        return "no data"
    totals = ", ".join(f"{s.name} {_number(sum(map(_positive, s.values)))}{unit}" for s in series)
    return f"{title} from {labels[0]} to {labels[-1]}: in all {totals}"


def _svg(chart_id: str, title: str, description: str, height: float, parts: list[str]) -> Markup:
    ids = escape(chart_id)
    return Markup(
        f'<svg id="{ids}" class="chart" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-labelledby="{ids}-title {ids}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ids}-title">{escape(title)}</title>'
        f'<desc id="{ids}-desc">{escape(description)}</desc>' + "".join(parts) + "</svg>"
    )
