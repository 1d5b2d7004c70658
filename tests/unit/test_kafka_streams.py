"""Partitions read forward by one consumer, each handed out in order, memory bounded by pausing."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import pytest
from confluent_kafka import TopicPartition

from processor.kafka import streams
from processor.kafka.streams import OutOfTime, PartitionStreams

TOPIC = "audit"


@dataclass
class Fetched:
    """A consumed record, as the consumer hands it out."""

    _partition: int
    _offset: int

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def error(self) -> None:
        return None


class Broker:
    """A consumer over partitions of given lengths that fetches round robin from the partitions
    assigned and not paused, as librdkafka does, and records pauses and resumes."""

    def __init__(self, lengths: dict[int, int]) -> None:
        self.lengths = lengths
        self.positions: dict[int, int] = {}
        self.paused: set[int] = set()
        self.pauses = 0
        self.turns: deque[int] = deque()

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        for each in partitions:
            self.positions[each.partition] = each.offset
            self.turns.append(each.partition)

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        for each in partitions:
            self.positions.pop(each.partition, None)
            self.paused.discard(each.partition)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.pauses += 1
        self.paused.update(p.partition for p in partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused.difference_update(p.partition for p in partitions)

    def poll(self, timeout: float) -> Fetched | None:
        for _ in range(len(self.turns)):
            partition = self.turns[0]
            self.turns.rotate(-1)
            position = self.positions.get(partition)
            if position is None or partition in self.paused:
                continue
            if position < self.lengths[partition]:
                self.positions[partition] = position + 1
                return Fetched(partition, position)
        return None

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, p.partition, self.positions[p.partition]) for p in partitions]


def test_each_partition_comes_in_order_up_to_its_stop_and_waiting_ones_are_paused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streams, "BUFFERED", 10)
    broker = Broker({0: 100, 1: 100})
    reader = PartitionStreams(broker, TOPIC, timeout=5)  # type: ignore[arg-type]
    reader.add(0, 5, 80)
    reader.add(1, 0, 100)
    # All of partition 0 first: partition 1's records pile up meanwhile, up to the bound.
    taken = []
    while (message := reader.next(0)) is not None:
        taken.append(message.offset())
    assert taken == list(range(5, 80))
    assert broker.pauses >= 1
    assert broker.positions[1] <= 10, "partition 1 was fetched no further than its bound"
    rest = []
    while (message := reader.next(1)) is not None:
        rest.append(message.offset())
    assert rest == list(range(100))
    assert reader.next(0) is None and reader.next(1) is None


def test_a_partition_with_nothing_in_its_range_has_no_records() -> None:
    broker = Broker({0: 10})
    reader = PartitionStreams(broker, TOPIC, timeout=5)  # type: ignore[arg-type]
    reader.add(0, 10, 10)
    assert reader.next(0) is None
    assert broker.positions == {}


class Stalled(Broker):
    """A broker that stopped answering: polls return nothing, and no position moves."""

    def poll(self, timeout: float) -> None:
        time.sleep(min(timeout, 0.01))


def test_past_its_deadline_a_read_stops_even_on_a_broker_that_stopped_answering() -> None:
    def reading(broker: Broker, timeout: float, seconds_left: float) -> PartitionStreams:
        deadline = time.monotonic() + seconds_left
        reader = PartitionStreams(broker, TOPIC, timeout, deadline)  # type: ignore[arg-type]
        reader.add(0, 0, 10)
        return reader

    assert reading(Broker({0: 10}), 5, 60).next(0) is not None  # in time
    with pytest.raises(OutOfTime, match="audit"):
        reading(Broker({0: 10}), 5, -1).next(0)  # records are there: it stops all the same
    started = time.monotonic()
    with pytest.raises(OutOfTime):
        reading(Stalled({0: 10}), 3600, 0.2).next(0)  # without it, it would wait its hour
    assert time.monotonic() - started < 60
