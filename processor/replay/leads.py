"""The input records a replay routes again, read from the input topic as their turn comes.

Replay asks for each lead by its place (partition and offset, from its audit record) in the order
of decisions. Within one input partition that order is the order of offsets (the match stage reads
a partition in order and hands each lead on in order), so each partition is read forward once,
from the first place asked for. A record the topic no longer holds (retention deleted it) is
missing, and replay reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, Message
from confluent_kafka import TopicPartition as Partition

from processor.kafka.reading import end_offsets
from processor.kafka.records import REDRIVEN_HEADER
from processor.kafka.span import KAFKA_TIMEOUT_S, SCAN_TIMEOUT_S
from processor.kafka.streams import PartitionStreams


@dataclass(frozen=True, slots=True)
class Held:
    """An input record as replay routes it."""

    value: bytes
    redriven: bool


class InputLeads:
    """The input topic's records, handed out by place, each partition read forward."""

    def __init__(self, consumer: Consumer, topic: str) -> None:
        self._consumer = consumer
        self._topic = topic
        self._streams = PartitionStreams(consumer, topic, SCAN_TIMEOUT_S)
        self._ends: dict[int, int] = {}
        self._ahead: dict[int, Message | None] = {}
        """Per partition read so far, the record read past the last place asked for."""

    def held(self, partition: int, offset: int) -> Held | None:
        """The record at ``partition`` and ``offset``; None when the topic no longer holds it (or
        it lies behind a place asked for before)."""
        if partition not in self._ahead:
            end = end_offsets(self._consumer, [Partition(self._topic, partition)], KAFKA_TIMEOUT_S)
            self._streams.add(partition, offset, end[partition])
            self._ahead[partition] = self._streams.next(partition)
        message = self._ahead[partition]
        while message is not None and (message.offset() or 0) < offset:
            message = self._streams.next(partition)
        self._ahead[partition] = message
        if message is None or message.offset() != offset:
            return None
        self._ahead[partition] = self._streams.next(partition)
        headers = message.headers() or []
        return Held(message.value() or b"", any(h[0] == REDRIVEN_HEADER for h in headers))
