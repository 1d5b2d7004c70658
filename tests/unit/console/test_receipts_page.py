"""Receipts and revenue per partner and day, on an index filled by the console's own indexer."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from processor.console.index.indexer import Indexer
from processor.console.index.schema import open_index
from processor.console.web.context import ConsoleContext
from tests.unit.console.index_kit import (
    AUDIT,
    DAY_MS,
    RECEIPTS,
    SETTINGS,
    T0,
    Source,
    decision,
    on,
    receipt,
)

DAY1, DAY2 = "2024-10-04", "2024-10-05"  # T0's day and the next
SPAN = {"since": DAY1, "until": DAY2}
HOSTILE = "=HYPERLINK(<b>x</b>)"


@pytest.fixture(autouse=True)
def indexed(context: ConsoleContext, tmp_path: Path) -> None:
    """Day 1: prime-lending gets 3 leads (its cap: 3 a day), harbor-finance 1, a hostile
    partner id 1; two delivered (30 USD each), one failed, one paid in EUR. Day 2: one of
    prime-lending's is returned (30 USD credited)."""
    picks = ["prime-lending"] * 3 + ["harbor-finance", HOSTILE]
    records = [
        on(AUDIT, n, decision(f"lead-{n}", T0 + n * 60_000, partners=[partner], price=30.0))
        for n, partner in enumerate(picks)
    ]
    ends = [
        ("lead-0-0", "lead-0", "prime-lending", "delivered", T0 + 1_000, 30.0),
        ("lead-1-0", "lead-1", "prime-lending", "delivered", T0 + 2_000, 30.0),
        ("lead-2-0", "lead-2", "prime-lending", "failed", T0 + 3_000, None),
        ("lead-3-0", "lead-3", "harbor-finance", "delivered", T0 + 4_000, 12.5),
        ("lead-0-0", "lead-0", "prime-lending", "returned", T0 + DAY_MS + 1, -30.0),
    ]
    made = [receipt(*end) for end in ends]
    made[3]["currency"] = "EUR"
    records += [on(RECEIPTS, n, found) for n, found in enumerate(made)]
    context.engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    indexer = Indexer(SETTINGS, context.engine, source=Source(records), batch=4)
    while indexer.poll_once(0):
        pass


def _row(page: str, day: str, partner: str) -> list[str]:
    table = page[page.index('id="receipts-table"') :]
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells[:2] == [day, partner]:
            return cells
    raise AssertionError(f"no row for {day} {partner}")


def test_per_partner_and_day(viewer: TestClient) -> None:
    page = viewer.get("/receipts", params=SPAN)
    assert page.status_code == 200
    _, _, decided, delivered, failed, returned, revenue, credits, cap = _row(
        page.text, DAY1, "prime-lending"
    )
    assert (decided, delivered, failed, returned) == ("3", "2", "1", "0")
    assert (revenue, credits, cap) == ("60.00 USD", "", "3 / 3")
    assert _row(page.text, DAY2, "prime-lending")[5:8] == ["1", "", "30.00 USD"]
    harbor = _row(page.text, DAY1, "harbor-finance")
    assert harbor[6] == "12.50 EUR" and harbor[8] == ""  # no daily cap in the rules


def test_totals_never_add_currencies(viewer: TestClient) -> None:
    text = viewer.get("/receipts", params=SPAN).text
    assert re.search(r'id="total-decided">5<', text)
    assert re.search(r'id="total-delivered">3<', text)
    assert re.search(r'id="total-returned">1<', text)
    assert 'id="total-revenue">12.50 EUR, 60.00 USD<' in text
    assert "credits 30.00 USD" in text


def test_charts_are_drawn_on_the_page(viewer: TestClient) -> None:
    text = viewer.get("/receipts", params=SPAN).text
    for chart in ("chart-deliveries", "chart-revenue", "chart-top-partners-0"):
        assert f'<svg id="{chart}"' in text
    assert '<title id="chart-deliveries-title">Deliveries per day</title>' in text
    assert "Top partners by revenue in USD" in text


def test_one_partner(viewer: TestClient) -> None:
    text = viewer.get("/receipts", params={**SPAN, "partner": "harbor-finance"}).text
    assert "harbor-finance" in text and "prime-lending</a>" not in text


def test_a_hostile_partner_id_is_escaped(viewer: TestClient) -> None:
    text = viewer.get("/receipts", params=SPAN).text
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_the_default_span_is_the_last_two_weeks(viewer: TestClient) -> None:
    text = viewer.get("/receipts").text
    assert 'id="no-receipts"' in text  # the index's days are in 2024


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "Since: give a day as 2026-11-30"),
        ({"since": DAY2, "until": DAY1}, "the first day comes before the last"),
        ({"since": "2020-01-01", "until": DAY1}, "at most 366 days"),
        ({"partner": "p" * 201}, "Partner: at most 200 characters"),
    ],
)
def test_a_bad_filter_is_refused(viewer: TestClient, params: dict[str, str], message: str) -> None:
    for path in ("/receipts", "/receipts.csv"):
        answer = viewer.get(path, params=params)
        assert answer.status_code == 400 and message in answer.text


def test_csv_has_a_line_per_partner_day_and_currency(viewer: TestClient) -> None:
    answer = viewer.get("/receipts.csv", params=SPAN)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(answer.text)))
    prime = [line for line in lines if line["partner"] == "prime-lending"]
    assert [(p["day"], p["decided"], p["currency"], p["revenue"], p["credits"]) for p in prime] == [
        (DAY1, "3", "USD", "60.00", "0.00"),
        (DAY2, "0", "USD", "0.00", "30.00"),
    ]
    assert prime[0]["daily_cap"] == "3"
    hostile = [line["partner"] for line in lines if "HYPERLINK" in line["partner"]]
    assert hostile == ["'" + HOSTILE]  # a spreadsheet shows it, never runs it
