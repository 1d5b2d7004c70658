"""The charts' bars are as long as their values say, and no label can inject markup."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from processor.console.web.charts import Series, columns, horizontal

SVG = "{http://www.w3.org/2000/svg}"


def _bars(markup: str) -> list[ET.Element]:
    """The chart's bars (the legend's swatches are 10 high and have no <title>)."""
    root = ET.fromstring(markup)  # also proves the markup is well-formed XML
    return [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]


def test_stacked_bars_are_proportional_and_stack() -> None:
    chart = columns(
        "chart-deliveries",
        "Deliveries per day",
        ["d1", "d2", "d3"],
        [Series("delivered", "delivered", [4, 2, 0]), Series("failed", "failed", [0, 2, 1])],
        stacked=True,
    )
    bars = _bars(chart)
    heights = [float(b.get("height", "0")) for b in bars]
    # d1: 4 + 0, d2: 2 + 2, d3: 0 + 1; the tallest stack fills the plot.
    assert (
        heights[0]
        == pytest.approx(2 * heights[2], abs=0.2)
        == pytest.approx(2 * heights[3], abs=0.2)
    )
    assert heights[0] == pytest.approx(4 * heights[5], abs=0.2)
    assert heights[1] == heights[4] == 0
    # d2's failed bar sits on its delivered bar.
    assert float(bars[3].get("y", "0")) + heights[3] == pytest.approx(float(bars[2].get("y", "0")))
    assert 'id="chart-deliveries"' in chart and "<desc" in chart


def test_side_by_side_bars_share_one_scale() -> None:
    chart = columns(
        "chart-revenue",
        "Revenue",
        ["d1", "d2"],
        [Series("USD", "usd", [100.0, 50.0]), Series("EUR", "eur", [25.0, 0.0])],
        stacked=False,
    )
    heights = [float(b.get("height", "0")) for b in _bars(chart)]
    assert (
        heights[0]
        == pytest.approx(2 * heights[2], abs=0.2)
        == pytest.approx(4 * heights[1], abs=0.2)
    )
    xs = [float(b.get("x", "0")) for b in _bars(chart)]
    assert xs[1] > xs[0]  # EUR beside USD, not on it


def test_labels_and_names_are_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    chart = columns("c", hostile, [hostile], [Series(hostile, '" onload="x', [1.0])], stacked=True)
    ranked = horizontal("h", "t", [hostile], [3.0])
    for markup in (chart, ranked):
        assert "<script>" not in markup and 'onload="x' not in markup
        ET.fromstring(markup)


def test_no_data_draws_an_empty_chart_saying_so() -> None:
    for chart in (
        columns("c", "t", [], [Series("a", "a", [])], stacked=True),
        columns("c", "t", ["d1"], [Series("a", "a", [0.0])], stacked=True),
        horizontal("h", "t", [], []),
    ):
        assert "no data" in chart
        assert all(float(b.get("height", "0")) == 0 for b in _bars(chart))


def test_negative_and_non_finite_values_draw_nothing() -> None:
    chart = columns(
        "c", "t", ["a", "b", "c"], [Series("s", "s", [-5.0, float("nan"), 2.0])], stacked=True
    )
    heights = [float(b.get("height", "0")) for b in _bars(chart)]
    assert heights[0] == heights[1] == 0 and heights[2] > 0


def test_horizontal_bars_are_proportional() -> None:
    chart = horizontal("top", "Top partners", ["p1", "p2"], [300.0, 100.0], " USD")
    widths = [float(b.get("width", "0")) for b in _bars(chart)]
    assert widths[0] == pytest.approx(3 * widths[1], abs=0.2)
    assert "300 USD" in chart


def test_many_days_write_fewer_labels() -> None:
    labels = [f"day{i}" for i in range(90)]
    chart = columns("c", "t", labels, [Series("s", "s", [1.0] * 90)], stacked=True)
    written = re.findall(r">(day\d+)</text>", chart)
    assert 0 < len(written) <= 16


def test_a_series_must_have_a_value_per_label() -> None:
    with pytest.raises(ValueError, match="one value per label"):
        columns("c", "t", ["a", "b"], [Series("s", "s", [1.0])], stacked=True)
