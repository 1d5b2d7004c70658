"""Time spans as people write them for the commands that read a span of a topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from processor.errors import InvalidInput
from processor.kafka.span import Span

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def test_since_is_a_span_back_from_now_and_until_a_time_or_a_span_ago() -> None:
    assert Span.parse("7d", None, NOW) == Span(NOW - timedelta(days=7), None)
    assert Span.parse("2w", "1h", NOW) == Span(NOW - timedelta(weeks=2), NOW - timedelta(hours=1))
    # An ISO time without an offset is UTC; with one, it is that moment.
    assert Span.parse("3d", "2026-11-29T08:00:00", NOW).until == datetime(
        2026, 11, 29, 8, tzinfo=UTC
    )
    assert Span.parse("3d", "2026-11-29T08:00:00-05:00", NOW).until == datetime(
        2026, 11, 29, 13, tzinfo=UTC
    )
    assert Span.parse(None, None, NOW) == Span(None, None)


@pytest.mark.parametrize(
    ("since", "until", "error"),
    [
        ("forever", None, "bad duration 'forever'"),
        ("400d", None, "at most 366 days"),
        ("1d", "yesterday", "bad time 'yesterday'"),
        ("1d", "2d", "--until 2d is not after --since 1d"),
    ],
)
def test_a_bad_span_is_refused_saying_why(since: str, until: str | None, error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        Span.parse(since, until, NOW)


def test_a_span_holds_its_start_and_not_its_end() -> None:
    span = Span(NOW - timedelta(hours=1), NOW)
    assert span.holds(ms(NOW - timedelta(hours=1)))
    assert span.holds(ms(NOW) - 1)
    assert not span.holds(ms(NOW))
    assert not span.holds(ms(NOW - timedelta(hours=1)) - 1)
    assert Span(None).holds(0)
    assert span.describe() == "from 2026-11-30 11:00:00 UTC until 2026-11-30 12:00:00 UTC"
    assert Span(None).describe() == "from the beginning until now"
