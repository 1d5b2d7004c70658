"""A time span of a topic, read by record time: what ``audit search``, ``audit show --since`` and
``redrive`` scan.

The broker finds the first offset at or after a time in each partition (``offsets_for_times``,
from its time index), so the last day of a topic that holds a month costs a day's reading. Record
times are create times: records written at nearly the same moment by producers whose clocks
differ a little can be out of order. So the scan starts ``SKEW`` before the span and ends ``SKEW``
after it, and each record's own time decides whether it lies in the span.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, KafkaException, Message
from confluent_kafka import TopicPartition as Partition

from processor.errors import InvalidInput, ServiceUnavailable
from processor.kafka.errors import retry_transient
from processor.kafka.reading import end_offsets, read_partitions
from processor.rules.durations import parse_duration

KAFKA_TIMEOUT_S = 15.0
SCAN_TIMEOUT_S = 3600.0
"""How long one scan may take: millions of records are read in a minute or two."""
PROGRESS_EVERY_S = 5.0
SKEW = timedelta(minutes=5)
"""How far out of time order records written together can be, and still be found."""

_RELATIVE = re.compile(r"([0-9]{1,6})\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

SPAN_HELP = "a span back from now: 30m, 12h, 7d, 2w"
MOMENT_HELP = "an ISO 8601 time (2026-11-20T14:00:00Z; UTC without an offset) or a span ago (2h)"


def parse_span(text: str) -> timedelta:
    """A span written ``30m``, ``12h``, ``7d``, ``2w``; :class:`InvalidInput` saying why not."""
    seconds = parse_duration(text)
    if isinstance(seconds, str):
        raise InvalidInput(seconds)
    return timedelta(seconds=seconds)


def parse_moment(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC without an offset), or a span before ``now`` (``90s``, ``15m``,
    ``2h``, ``7d``, ``1w``); :class:`InvalidInput` saying why not."""
    relative = _RELATIVE.fullmatch(text.strip())
    try:
        if relative:
            amount, unit = relative.groups()
            return now - timedelta(**{_UNITS[unit]: int(amount)})
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"bad time {text!r}: neither an ISO 8601 time (2026-11-20T14:00:00Z) nor a span "
            "ago (2h, 7d)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def moment_arg(text: str) -> datetime:
    """:func:`parse_moment` from now, as an argparse type: a bad time is bad usage (exit 2)."""
    try:
        return parse_moment(text, datetime.now(UTC))
    except InvalidInput as error:
        raise argparse.ArgumentTypeError(str(error)) from None


@dataclass(frozen=True, slots=True)
class Span:
    """Records whose time is at or after ``since`` and before ``until``; None leaves that side
    open (the beginning of the topic; its end as it is when reading starts)."""

    since: datetime | None
    until: datetime | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None, now: datetime | None = None) -> Span:
        """The span of ``--since SPAN`` and ``--until TIME`` as a person wrote them."""
        now = now or datetime.now(UTC)
        span = cls(
            None if since is None else now - parse_span(since),
            None if until is None else parse_moment(until, now),
        )
        if span.since is not None and span.until is not None and span.until <= span.since:
            raise InvalidInput(f"--until {until} is not after --since {since}: the span is empty")
        return span

    def holds(self, ms: int) -> bool:
        return (self.since is None or ms >= _ms(self.since)) and (
            self.until is None or ms < _ms(self.until)
        )

    def describe(self) -> str:
        """``since 2026-11-29 10:00:00 UTC until now``, for people."""
        since = "the beginning" if self.since is None else shown(self.since)
        until = "now" if self.until is None else shown(self.until)
        return f"from {since} until {until}"


def topic_partitions(consumer: Consumer, topic: str, servers: str) -> list[int] | None:
    """The topic's partitions; None when there is no such topic."""
    try:
        topics = consumer.list_topics(timeout=KAFKA_TIMEOUT_S).topics
    except KafkaException as error:
        raise ServiceUnavailable(
            f"Kafka at {servers} did not answer: {error.args[0].str()}"
        ) from None
    found = topics.get(topic)
    return None if found is None else sorted(found.partitions)


def read_span(
    consumer: Consumer,
    topic: str,
    partitions: list[int],
    span: Span,
    on_message: Callable[[Message], object],
    progress: Callable[[str], object] | None = None,
) -> int:
    """Feeds ``on_message`` each committed record of the partitions whose time lies in ``span``;
    returns how many that was. ``progress`` is told now and then how far a long scan is."""
    ranges = span_offsets(consumer, topic, partitions, span)
    starts = {p: start for p, (start, _) in ranges.items()}
    stops = {p: stop for p, (_, stop) in ranges.items()}
    total = sum(max(0, stops[p] - starts[p]) for p in stops)
    seen = [0, 0]  # records read, records in the span
    told = [time.monotonic()]

    def take(message: Message) -> None:
        partition = message.partition() or 0
        if (message.offset() or 0) >= stops[partition]:
            return
        seen[0] += 1
        if span.holds(message.timestamp()[1]):
            seen[1] += 1
            on_message(message)
        if progress is not None and time.monotonic() - told[0] > PROGRESS_EVERY_S:
            told[0] = time.monotonic()
            progress(f"reading {topic}: {seen[0]:,} of {total:,} records")

    read_partitions(consumer, topic, starts, take, timeout=SCAN_TIMEOUT_S, ends=stops)
    return seen[1]


def span_offsets(
    consumer: Consumer, topic: str, partitions: list[int], span: Span
) -> dict[int, tuple[int, int]]:
    """Per partition, the offsets that hold the records of ``span`` (and of ``SKEW`` around it):
    where reading starts, and where it stops."""
    listed = [Partition(topic, p) for p in partitions]
    ends = end_offsets(consumer, listed, KAFKA_TIMEOUT_S)
    starts = _offsets_at(consumer, listed, span.since and span.since - SKEW, ends, 0)
    stops = _offsets_at(consumer, listed, span.until and span.until + SKEW, ends, None)
    return {p: (starts[p], stops[p]) for p in partitions}


def _offsets_at(
    consumer: Consumer,
    partitions: list[Partition],
    when: datetime | None,
    ends: dict[int, int],
    unbounded: int | None,
) -> dict[int, int]:
    """Each partition's first offset at or after ``when``, its end when it has none; without a
    time, ``unbounded`` (None: the end)."""
    if when is None:
        return {
            p.partition: ends[p.partition] if unbounded is None else unbounded for p in partitions
        }
    at = _ms(when)

    @retry_transient(KAFKA_TIMEOUT_S)
    def lookup() -> list[Partition]:
        asked = [Partition(p.topic, p.partition, at) for p in partitions]
        found: list[Partition] = consumer.offsets_for_times(asked, timeout=KAFKA_TIMEOUT_S)
        return found

    offsets = {}
    for found in lookup():
        end = ends[found.partition]
        offsets[found.partition] = end if found.offset < 0 else min(found.offset, end)
    return offsets


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def shown(when: datetime) -> str:
    """A moment as the commands print it: ``2026-11-30 12:00:00 UTC``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
