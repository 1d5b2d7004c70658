"""Partners' opening hours: their ``timezone`` and ``schedule`` (contract sections 4 and 5).

A schedule is written for people (days and day ranges, ``HH:MM-HH:MM`` ranges, closed dates) but
judged for every candidate of every lead, so the text is read here twice: once when a document is
validated (each ``*_problem`` function says what is wrong with one value, for an error at its
path), and once per snapshot by :func:`compile_hours`, into :class:`OpeningHours`: per weekday a
tuple of minute ranges and a set of closed dates. Judging a lead is then one conversion of its
time into the partner's zone, a set look-up and a few integer comparisons.

Times are wall-clock times in the partner's zone, converted with :mod:`zoneinfo` (its data from
the ``tzdata`` package where the system has none), so daylight saving time needs no special case:
on the day clocks go forward the skipped hour is never the local time of any lead, and on the day
they go back the repeated hour is judged twice by the same hours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day keys in the order of :meth:`datetime.weekday`."""

DEFAULT_ZONE = "UTC"
MINUTES_PER_DAY = 24 * 60

_RANGE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")

Minutes = tuple[int, int]
"""A range of minutes since local midnight: the start included, the end excluded."""


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None when it is one."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {name!r}: use an IANA name such as 'America/New_York' or 'UTC'"
    return None


def parse_days(key: str) -> tuple[int, ...] | str:
    """The weekdays a day key covers (``mon``, or a range ``mon-fri`` that may wrap past Sunday,
    ``fri-mon``), or why it is not a day key."""
    first, dash, last = key.partition("-")
    ends = (first, last) if dash else (first,)
    if any(end not in DAYS for end in ends):
        return (
            f"unknown day {key!r}: use {', '.join(DAYS)}, a range such as 'mon-fri', "
            "or closed_dates"
        )
    start, stop = DAYS.index(first), DAYS.index(ends[-1])
    if dash and start == stop:
        return f"day range {key!r} starts and ends on the same day: write {first!r}"
    return tuple((start + offset) % len(DAYS) for offset in range((stop - start) % len(DAYS) + 1))


def parse_range(text: str) -> Minutes | str:
    """``"08:00-18:00"`` as minutes since midnight, ``(480, 1080)``, or why it is not a range."""
    found = _RANGE.fullmatch(text)
    if found is None:
        return f"bad hours {text!r}: write HH:MM-HH:MM, e.g. '08:00-18:00'"
    start_h, start_m, end_h, end_m = (int(part) for part in found.groups())
    if start_h > 23 or start_m > 59 or end_m > 59 or end_h > 24 or (end_h == 24 and end_m):
        return f"bad hours {text!r}: times run from 00:00 to 23:59, and 24:00 may end a range"
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if end <= start:
        return (
            f"bad hours {text!r}: the end must be after the start; a range past midnight is "
            "two, one ending at 24:00 and one the next day from 00:00"
        )
    return start, end


def parse_date(text: str) -> date | str:
    """A closed date, ``YYYY-MM-DD``, or why it is not one."""
    try:
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    return f"bad date {text!r}: write YYYY-MM-DD, e.g. '2026-12-25'"


def overlapping_days(keys: Sequence[str]) -> list[tuple[str, str, str]]:
    """Each key (after the first) that covers a day an earlier key covers: ``(key, earlier key,
    day)``; keys that are not day keys are left out."""
    owner: dict[int, str] = {}
    found = []
    for key in keys:
        days = parse_days(key)
        if isinstance(days, str):
            continue
        clash = next((day for day in days if day in owner), None)
        if clash is not None:
            found.append((key, owner[clash], DAYS[clash]))
        for day in days:
            owner.setdefault(day, key)
    return found


def overlapping_ranges(ranges: Sequence[str]) -> tuple[str, str] | None:
    """Two of one day's ranges that overlap, or None (ranges that are not valid are left out)."""
    parsed = sorted(
        (minutes, text) for text in ranges if not isinstance(minutes := parse_range(text), str)
    )
    for (earlier, earlier_text), (later, later_text) in pairwise(parsed):
        if later[0] < earlier[1]:
            return earlier_text, later_text
    return None


def lead_time(lead: Mapping[str, object]) -> datetime | None:
    """The lead's ``submitted_at`` as an aware datetime (naive read as UTC), or None when it has
    none: a decoded lead carries a datetime, a lead given to the engine as JSON an ISO string."""
    value = lead.get("submitted_at")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def local(when: datetime, zone: ZoneInfo) -> datetime:
    """``when`` in ``zone``; in UTC for the first and last hours of the calendar, which a zone
    west or east of UTC would push out of it (a lead of 0001-01-01T00:00Z is valid)."""
    try:
        return when.astimezone(zone)
    except (OverflowError, ValueError):
        return when.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """A partner's schedule compiled for routing: ``week[weekday]`` holds that day's ranges in
    order, ``closed_dates`` the local dates it is closed whatever the day's hours say."""

    zone: ZoneInfo
    week: tuple[tuple[Minutes, ...], ...]
    closed_dates: frozenset[date]

    @property
    def never_open(self) -> bool:
        return not any(self.week)

    @property
    def always_open(self) -> bool:
        return not self.closed_dates and all(day == ((0, MINUTES_PER_DAY),) for day in self.week)

    def is_open(self, when: datetime | None) -> bool:
        """Whether the partner is open at ``when`` (closed when the lead's time is unknown)."""
        if when is None:
            return False
        there = local(when, self.zone)
        if there.date() in self.closed_dates:
            return False
        minute = there.hour * 60 + there.minute
        return any(start <= minute < end for start, end in self.week[there.weekday()])

    def why_closed(self, when: datetime | None) -> str:
        """Why the partner is closed at ``when``, in its local time and its hours that day:
        ``closed: Sat 19:42 America/New_York; open sat 09:00-12:00, 13:00-16:00``."""
        if when is None:
            return "closed: the lead has no submitted_at to judge the schedule by"
        there = local(when, self.zone)
        head = f"closed: {there:%a %H:%M} {self.zone.key}"
        if there.date() in self.closed_dates:
            return f"{head}; {there.date().isoformat()} is a closed date"
        day = DAYS[there.weekday()]
        hours = self.week[there.weekday()]
        if not hours:
            return f"{head}; never open on {day}"
        return f"{head}; open {day} " + ", ".join(_range_text(minutes) for minutes in hours)


def compile_hours(
    zone_name: str, days: Mapping[str, Sequence[str]], closed_dates: Sequence[str]
) -> OpeningHours:
    """A valid schedule's hours; overlapping ranges of one day are merged."""
    week: list[list[Minutes]] = [[] for _ in DAYS]
    for key, ranges in days.items():
        weekdays = parse_days(key)
        assert not isinstance(weekdays, str), "validated"
        for text in ranges:
            minutes = parse_range(text)
            assert not isinstance(minutes, str), "validated"
            for weekday in weekdays:
                week[weekday].append(minutes)
    closed = {parse_date(text) for text in closed_dates}
    return OpeningHours(
        ZoneInfo(zone_name),
        tuple(_merged(ranges) for ranges in week),
        frozenset(day for day in closed if isinstance(day, date)),
    )


def _merged(ranges: list[Minutes]) -> tuple[Minutes, ...]:
    merged: list[Minutes] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _range_text(minutes: Minutes) -> str:
    (start_h, start_m), (end_h, end_m) = (divmod(edge, 60) for edge in minutes)
    return f"{start_h:02d}:{start_m:02d}-{end_h:02d}:{end_m:02d}"
