"""Where the indexer's records come from: Kafka by default, anything with the same four calls in
unit tests.

The indexer assigns partitions itself, at offsets it keeps in its own database, so the source
needs no consumer group: only "which partitions has this topic", "read from these offsets" and
"give me what came".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from processor.kafka.clients import reading_consumer
from processor.kafka.records import InputRecord
from processor.settings import KafkaSettings

log = logging.getLogger(__name__)

METADATA_TIMEOUT_S = 5.0

Position = tuple[str, int]
"""A topic and one of its partitions."""


class Record(InputRecord, Protocol):
    """What the indexer reads of a consumed record (a confluent-kafka ``Message`` is one)."""

    def error(self) -> KafkaError | None: ...


class MessageSource(Protocol):
    """The records of some topics' partitions, read from offsets the caller gives."""

    def partitions(self, topic: str) -> list[int]:
        """The topic's partitions; none when it does not exist (yet)."""
        ...

    def assign(self, offsets: Mapping[Position, int]) -> None:
        """Read exactly these partitions from now on, each from its offset (0: the earliest
        there is), dropping whatever was fetched before."""
        ...

    def consume(self, count: int, timeout: float) -> Sequence[Record]:
        """Up to ``count`` records, waiting at most ``timeout`` seconds for the first."""
        ...

    def read_to(self) -> Mapping[Position, int]:
        """The offset each assigned partition reads next, past the transaction markers (which
        hold no record) after the last record returned; partitions with none known are left out."""
        ...

    def close(self) -> None: ...


class KafkaSource:
    """A read_committed consumer: records of aborted transactions never reach the index."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._consumer: Consumer = reading_consumer(kafka, "console-index")

    def partitions(self, topic: str) -> list[int]:
        metadata = self._consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return []  # not created yet: the processor or a worker creates it
        return sorted(found.partitions)

    def assign(self, offsets: Mapping[Position, int]) -> None:
        # Offset 0 below a partition's earliest offset (retention deleted it) is out of range:
        # the consumer's auto.offset.reset (earliest) then starts at the earliest there is.
        self._consumer.assign(
            [
                TopicPartition(topic, partition, offset)
                for (topic, partition), offset in offsets.items()
            ]
        )

    def consume(self, count: int, timeout: float) -> Sequence[Record]:
        messages = self._consumer.consume(count, timeout)
        taken: list[Record] = []
        for message in messages:
            error = message.error()
            if error is None:
                taken.append(message)
            elif error.fatal():
                raise KafkaException(error)
            else:  # transient (a broker restarting): the consumer retries by itself
                log.warning("console index: reading %s: %s", message.topic(), error.str())
        return taken

    def read_to(self) -> Mapping[Position, int]:
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in self._consumer.position(self._consumer.assignment())
            if tp.offset >= 0
        }

    def close(self) -> None:
        self._consumer.close()
