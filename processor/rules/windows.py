"""Cap windows: which hour, day, ISO week or month of a partner's local time a lead falls in.

A cap counts the deliveries of one window, and a window is named by its start in the partner's
time zone: ``2026-11-30`` for a day, ``2026-W49`` for an ISO week (from Monday), ``2026-11`` for a
month. An hour is named with its UTC offset, ``2026-11-01T01:00-04:00``, so that the hour repeated
when clocks go back is two windows, as it is two hours. Windows come from the lead's time, never
the clock, so a replay counts as the first run did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from processor.rules.schedule import local

Period = Literal["hour", "day", "week", "month", "total"]
PERIODS: tuple[Period, ...] = ("hour", "day", "week", "month", "total")
"""Shortest first: a longer window holds every shorter one."""

TOTAL = "total"


def window(per: Period, when: datetime, zone: ZoneInfo) -> tuple[str, datetime | None]:
    """The name of the window ``when`` falls in, and when the next one starts (None: never, for
    ``total`` and for the calendar's last windows, whose successor would start after 9999)."""
    if per == "total":
        return TOTAL, None
    there = local(when, zone)
    if per == "hour":
        start = there.replace(minute=0, second=0, microsecond=0)
        name = start.isoformat(timespec="minutes")
        return name, _later(lambda: start.astimezone(UTC) + timedelta(hours=1))
    day = there.date()
    if per == "day":
        return day.isoformat(), _later(lambda: _midnight(day + timedelta(days=1), zone))
    if per == "week":
        year, week, weekday = day.isocalendar()
        monday = _later(lambda: _midnight(day + timedelta(days=8 - weekday), zone))
        return f"{year}-W{week:02d}", monday
    first = _later(lambda: _midnight(date(day.year + day.month // 12, day.month % 12 + 1, 1), zone))
    return f"{day.year}-{day.month:02d}", first


def _later(start: Callable[[], datetime]) -> datetime | None:
    """The next window's start, or None when the calendar has no room for it."""
    try:
        return start()
    except (OverflowError, ValueError):
        return None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
