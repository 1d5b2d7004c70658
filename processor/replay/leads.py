"""The input records a replay routes again, read from the input topic as their turn comes.

Replay asks for each lead by its place (partition and offset, from its audit record) in the order
of decisions. Within one input partition that order is the order of offsets (the match stage reads
a partition in order and hands each lead on in order), so each partition is read forward once,
from the first place asked for. A record the topic no longer holds (retention deleted it) is
missing, and replay reports it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, Message
from confluent_kafka import TopicPartition as Partition

from processor.kafka.reading import end_offsets, partitions_of
from processor.kafka.records import redriven
from processor.kafka.span import KAFKA_TIMEOUT_S, SCAN_TIMEOUT_S
from processor.kafka.streams import PartitionStreams


@dataclass(frozen=True, slots=True)
class Held:
    """An input record as replay routes it."""

    value: bytes
    redriven: bool


class InputLeads:
    """The input topic's records, handed out by place, each partition read forward."""

    def __init__(self, consumer: Consumer, topic: str, deadline: float = math.inf) -> None:
        self._consumer = consumer
        self._topic = topic
        deadline = time.monotonic() + KAFKA_TIMEOUT_S
        self._partitions = {p.partition for p in partitions_of(consumer, topic, deadline)}
        """The topic's partitions: an audit record can name any place, and one that cannot
        exist is a missing lead, not a wait on the broker."""
        self._streams = PartitionStreams(consumer, topic, SCAN_TIMEOUT_S, deadline)
        self._ends: dict[int, int] = {}
        """Per partition asked for, its end offset when first asked."""
        self._ahead: dict[int, Message | None] = {}
        """Per partition read so far, the record read past the last place asked for."""

    def held(self, partition: int, offset: int) -> Held | None:
        """The record at ``partition`` and ``offset``; None when the topic no longer holds it, it
        lies behind a place asked for before, or no record can be there."""
        if partition not in self._partitions or offset < 0:
            return None
        end = self._ends.get(partition)
        if end is None:
            found = end_offsets(
                self._consumer, [Partition(self._topic, partition)], KAFKA_TIMEOUT_S
            )
            end = self._ends[partition] = found[partition]
        if offset >= end:  # written after replay began, or never: nothing to read ahead for
            return None
        if partition not in self._ahead:
            self._streams.add(partition, offset, end)
            self._ahead[partition] = self._streams.next(partition)
        message = self._ahead[partition]
        while message is not None and (message.offset() or 0) < offset:
            message = self._streams.next(partition)
        self._ahead[partition] = message
        if message is None or message.offset() != offset:
            return None
        self._ahead[partition] = self._streams.next(partition)
        return Held(message.value() or b"", redriven(message.headers()))
