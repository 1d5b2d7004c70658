"""The state changelog: what a transaction writes to it, and how a restore reads it back.

Changelog partition p holds the state of input partition p: each committed write under its own
key (a tombstone for a delete), and after them, in the same transaction, a marker record
(``MARKER_KEY``) whose value is the next input offset the state belongs to. The topic is
compacted, so it holds about one record per live key, whatever the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_partitions
from processor.kafka.records import InputRecord, OutputRecord
from processor.settings import Settings

MARKER_KEY = b"\x00lead-router.input-offset"
"""The key of a partition's marker record: reserved, no store may use it."""

READ_TIMEOUT_S = 60.0

_OFFSET_DIGITS = 19
"""Kafka offsets are signed 64-bit integers: at most 19 decimal digits."""


def marker(topic: str, partition: int, input_offset: int) -> OutputRecord:
    """The record saying which input offset ``partition``'s state written so far belongs to."""
    return OutputRecord(topic, MARKER_KEY, str(input_offset).encode(), partition=partition)


def marker_offset(record: InputRecord) -> int | None:
    """The input offset a marker record names; None when ``record`` is no marker. A marker whose
    value is not an offset (written by another hand than the processor's) names none (-1), as a
    changelog without markers does, instead of stopping every restore of its partition."""
    if record.key() != MARKER_KEY:
        return None
    value = record.value() or b""
    if not (value.isdigit() and len(value) <= _OFFSET_DIGITS):
        return -1
    return int(value)


OnRecord = Callable[[InputRecord], object]


class ChangelogReader(Protocol):
    """What a restore needs of Kafka: the committed records of changelog partitions."""

    def read(self, starts: Mapping[int, int], on_record: OnRecord) -> None:
        """Feeds ``on_record`` each committed record of every partition in ``starts``, in order,
        from the offset given there up to the partition's end offset when reading starts."""


class KafkaChangelogReader:
    """Reads the changelog topic (``settings.state_topic``) with a read_committed consumer."""

    def __init__(self, settings: Settings, timeout: float = READ_TIMEOUT_S) -> None:
        self._settings = settings
        self._topic = settings.topics.state_topic
        self._timeout = timeout

    def read(self, starts: Mapping[int, int], on_record: OnRecord) -> None:
        consumer = reading_consumer(self._settings.kafka, "state")
        try:
            read_partitions(consumer, self._topic, starts, on_record, timeout=self._timeout)
        finally:
            consumer.close()
