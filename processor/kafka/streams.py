"""Several partitions of one topic read forward by one consumer, each handed out in order.

A reader that merges partitions (replay follows the order of decisions across the audit topic's
partitions, and takes each lead from its input partition when its turn comes) needs the next record
of one partition at a time, while the consumer fetches from all of them at once. Each partition's
records wait in a buffer of their own until asked for; a partition whose buffer is full is paused
at the broker and resumed once its buffer is half drained, so memory stays bounded however long
the span.
"""

from __future__ import annotations

import math
import time
from collections import deque

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as Partition

from processor.errors import ServiceUnavailable

BUFFERED = 5_000
"""Records one partition may hold waiting before it is paused."""


class OutOfTime(Exception):
    """The read went on past the deadline its caller gave."""


class PartitionStreams:
    """Partitions of ``topic``, each read from a start offset up to a stop offset (not included),
    added while reading goes on. ``timeout`` bounds the wait for a record, not the whole read;
    ``deadline`` (a ``time.monotonic()`` value) bounds the whole read: past it, :class:`OutOfTime`
    is raised by the next call, or while it waits on a broker that stopped answering."""

    def __init__(
        self, consumer: Consumer, topic: str, timeout: float, deadline: float = math.inf
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._timeout = timeout
        self._deadline = deadline
        self._stops: dict[int, int] = {}
        self._buffers: dict[int, deque[Message]] = {}
        self._done: set[int] = set()
        """Partitions from which no record is to come: all they had is in their buffer."""
        self._paused: set[int] = set()

    def add(self, partition: int, start: int, stop: int) -> None:
        """Reads ``partition`` from ``start`` up to ``stop``."""
        self._stops[partition] = stop
        self._buffers[partition] = deque()
        if start >= stop:
            self._done.add(partition)
            return
        self._consumer.incremental_assign([Partition(self._topic, partition, start)])

    def next(self, partition: int) -> Message | None:
        """The partition's next record; None when it has no more."""
        self._in_time()
        buffer = self._buffers[partition]
        waited_until = time.monotonic() + self._timeout
        while not buffer:
            if partition in self._done:
                return None
            if self._poll():
                waited_until = time.monotonic() + self._timeout
            elif time.monotonic() > waited_until:
                raise ServiceUnavailable(f"reading {self._topic}: no record for {self._timeout} s")
            self._in_time()
        message = buffer.popleft()
        if partition in self._paused and len(buffer) <= BUFFERED // 2:
            self._paused.discard(partition)
            self._consumer.resume([Partition(self._topic, partition)])
        return message

    def _in_time(self) -> None:
        if self._deadline < math.inf and time.monotonic() > self._deadline:
            raise OutOfTime(f"reading {self._topic}: past its deadline")

    def _poll(self) -> bool:
        """Fetches one record into its partition's buffer; False when none came."""
        message = self._consumer.poll(0.2)
        if message is None:
            self._settle()
            return False
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self._finish(message.partition() or 0)
                return False
            raise KafkaException(error)
        partition, offset = message.partition() or 0, message.offset() or 0
        stop = self._stops.get(partition)
        if stop is None or offset >= stop or partition in self._done:
            self._finish(partition)
            return False
        buffer = self._buffers[partition]
        buffer.append(message)
        if offset + 1 >= stop:
            self._finish(partition)
        elif len(buffer) >= BUFFERED and partition not in self._paused:
            self._paused.add(partition)
            self._consumer.pause([Partition(self._topic, partition)])
        return True

    def _settle(self) -> None:
        """Past a partition's last record only transaction markers may remain: its position
        tells when it reached its stop."""
        reading = [p for p in self._stops if p not in self._done and p not in self._paused]
        if not reading:
            return
        for position in self._consumer.position([Partition(self._topic, p) for p in reading]):
            if position.offset >= self._stops[position.partition]:
                self._finish(position.partition)

    def _finish(self, partition: int) -> None:
        if partition not in self._done:
            self._done.add(partition)
            self._consumer.incremental_unassign([Partition(self._topic, partition)])
