"""The receipts view's --since, and the count under its table."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from processor.cli.receipts import _summary
from processor.kafka.span import moment_arg as since


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        (" 3 h ", timedelta(hours=3)),
    ],
)
def test_a_span_counts_back_from_now(text: str, back: timedelta) -> None:
    before = datetime.now(UTC)
    moment = since(text)
    assert before - back <= moment <= datetime.now(UTC) - back


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T14:00:00Z", datetime(2026, 11, 20, 14, tzinfo=UTC)),
        ("2026-11-20T14:00", datetime(2026, 11, 20, 14, tzinfo=UTC)),
        ("2026-11-20T09:00-05:00", datetime(2026, 11, 20, 9, tzinfo=timezone(timedelta(hours=-5)))),
    ],
)
def test_an_iso_moment_without_an_offset_is_utc(text: str, moment: datetime) -> None:
    assert since(text) == moment


@pytest.mark.parametrize("text", ["yesterday", "2h ago", "-2h", "2026-13-01", ""])
def test_anything_else_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="neither an ISO 8601 time"):
        since(text)


def receipt(status: str, price: float | None, currency: str | None = "USD") -> dict[str, Any]:
    return {"status": status, "price": price, "currency": currency}


def test_the_count_says_how_deliveries_ended_and_what_the_delivered_earned() -> None:
    receipts = [
        receipt("delivered", 40.0),
        receipt("delivered", 1200.5),
        receipt("delivered", 10.0, "EUR"),
        receipt("failed", 99.0),
        receipt("rejected", None, None),
    ]
    assert _summary(receipts) == (
        "5 deliveries: 3 delivered, 1 failed, 1 rejected, earning 10.00 EUR, 1,240.50 USD"
    )
    assert _summary([receipt("failed", 5.0)]) == "1 delivery: 1 failed"
    assert _summary([]) == "no receipts match"
