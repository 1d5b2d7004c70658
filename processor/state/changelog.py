"""The state changelog: what a transaction writes to it, and how a restore reads it back.

Changelog partition p holds the state of input partition p: each committed write under its own
key (a tombstone for a delete), and after them, in the same transaction, a marker record
(``MARKER_KEY``) whose value is the next input offset the state belongs to. The topic is
compacted, so it holds about one record per live key, whatever the history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as Partition

from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import end_offsets
from processor.kafka.records import InputRecord, OutputRecord
from processor.settings import Settings

MARKER_KEY = b"\x00lead-router.input-offset"
"""The key of a partition's marker record: reserved, no store may use it."""

READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class ChangelogRecord(OutputRecord):
    """A changelog record, for the changelog partition of its store's input partition (the
    producer must be told it: the default partitioner would spread keys over every partition)."""

    partition: int = 0


def marker(topic: str, partition: int, input_offset: int) -> ChangelogRecord:
    """The record saying which input offset ``partition``'s state written so far belongs to."""
    return ChangelogRecord(topic, MARKER_KEY, str(input_offset).encode(), partition=partition)


def marker_offset(record: InputRecord) -> int | None:
    """The input offset a marker record names; None when ``record`` is no marker."""
    if record.key() != MARKER_KEY:
        return None
    return int(record.value() or b"-1")


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
        self._topic = settings.state_topic
        self._timeout = timeout

    def read(self, starts: Mapping[int, int], on_record: OnRecord) -> None:
        consumer = reading_consumer(self._settings, "state")
        try:
            deadline = time.monotonic() + self._timeout
            partitions = [Partition(self._topic, p, start) for p, start in starts.items()]
            ends = end_offsets(consumer, partitions, self._timeout)
            pending = {p: end for p, end in ends.items() if end > starts[p]}
            consumer.assign([p for p in partitions if p.partition in pending])
            while pending:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"reading {self._topic} to its end took more than {self._timeout:.0f} s"
                    )
                message = consumer.poll(0.2)
                if message is None:
                    # Past the last record only transaction markers may remain; the position tells.
                    for position in consumer.position([Partition(self._topic, p) for p in pending]):
                        if position.offset >= pending[position.partition]:
                            del pending[position.partition]
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.pop(message.partition() or 0, None)
                        continue
                    raise KafkaException(error)
                partition, offset = message.partition() or 0, message.offset() or 0
                if partition not in pending:
                    continue
                on_record(message)
                if offset + 1 >= pending[partition]:
                    del pending[partition]
        finally:
            consumer.close()
