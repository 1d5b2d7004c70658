"""Reading a topic to its end: the start-up step of the config follower and the rotation log.

"The end" is taken once, when reading starts: the offsets a read_committed consumer can see then
(the last stable offsets). Records written later are the follower's live work, not the start-up's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as Partition

from processor.errors import ServiceUnavailable
from processor.kafka.errors import retry_transient


def end_offsets(consumer: Consumer, partitions: list[Partition], timeout: float) -> dict[int, int]:
    """The current end offset of each partition, as this consumer's isolation level sees it.

    A partition created a moment ago answers "not leader" until its leader has it ready: such
    retriable errors are retried with backoff until ``timeout``."""

    @retry_transient(timeout)
    def high(partition: Partition) -> int:
        return int(consumer.get_watermark_offsets(partition, timeout=timeout, cached=False)[1])

    return {partition.partition: high(partition) for partition in partitions}


def partitions_of(consumer: Consumer, topic: str, deadline: float) -> list[Partition]:
    """The topic's partitions, from the beginning; waits out a topic created a moment ago, whose
    metadata can still show no partitions, or partitions without a leader."""
    while True:
        metadata = consumer.list_topics(topic, timeout=max(1.0, deadline - time.monotonic()))
        found = metadata.topics[topic]
        leaders = [p.leader >= 0 and p.error is None for p in found.partitions.values()]
        if found.error is None and leaders and all(leaders):
            return [Partition(topic, p, OFFSET_BEGINNING) for p in sorted(found.partitions)]
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"cannot read topic {topic}: {found.error or 'no partitions'}")
        time.sleep(0.1)


def read_to_end(
    consumer: Consumer,
    topic: str,
    on_message: Callable[[Message], object],
    *,
    timeout: float = 60.0,
) -> None:
    """Assigns every partition of ``topic`` from the beginning and feeds each record to
    ``on_message`` until the end offsets taken at the start; the consumer stays assigned, so the
    caller can go on polling for what comes after."""
    partitions = partitions_of(consumer, topic, time.monotonic() + timeout)
    starts = {p.partition: 0 for p in partitions}
    read_partitions(consumer, topic, starts, on_message, timeout=timeout)


def read_partitions(
    consumer: Consumer,
    topic: str,
    starts: Mapping[int, int],
    on_message: Callable[[Message], object],
    *,
    timeout: float = 60.0,
) -> None:
    """Assigns the partitions of ``starts`` from the offsets given there and feeds each record to
    ``on_message`` until the end offsets taken at the start."""
    partitions = [Partition(topic, p, start) for p, start in starts.items()]
    ends = end_offsets(consumer, partitions, timeout)
    read_ranges(
        consumer,
        topic,
        {p: (start, ends[p]) for p, start in starts.items()},
        on_message,
        timeout=timeout,
    )


def offsets_at(
    consumer: Consumer, topic: str, partitions: list[int], at_ms: int, timeout: float
) -> dict[int, int]:
    """Per partition, the offset of its first record stamped ``at_ms`` or later (the end offset
    when there is none): where a span of time starts, without reading what lies before it."""
    wanted = [Partition(topic, p, at_ms) for p in partitions]
    found = retry_transient(timeout)(consumer.offsets_for_times)(wanted, timeout=timeout)
    ends: dict[int, int] | None = None
    offsets: dict[int, int] = {}
    for partition in found:
        if partition.error is not None:
            raise KafkaException(partition.error)
        if partition.offset < 0:  # nothing that late: the span starts at the end
            if ends is None:
                ends = end_offsets(consumer, [Partition(topic, p) for p in partitions], timeout)
            offsets[partition.partition] = ends[partition.partition]
        else:
            offsets[partition.partition] = partition.offset
    return offsets


def span_ranges(
    consumer: Consumer, topic: str, since_ms: int, until_ms: int | None, timeout: float = 60.0
) -> dict[int, tuple[int, int]]:
    """Per partition of ``topic``, the offsets of the records stamped from ``since_ms`` up to
    ``until_ms`` (None: up to the end as it is now): what :func:`read_ranges` reads for a span of
    time."""
    found = partitions_of(consumer, topic, time.monotonic() + timeout)
    partitions = [p.partition for p in found]
    starts = offsets_at(consumer, topic, partitions, since_ms, timeout)
    if until_ms is None:
        stops = end_offsets(consumer, [Partition(topic, p) for p in partitions], timeout)
    else:
        stops = offsets_at(consumer, topic, partitions, until_ms, timeout)
    return {p: (starts[p], max(starts[p], stops[p])) for p in partitions}


def read_ranges(
    consumer: Consumer,
    topic: str,
    ranges: Mapping[int, tuple[int, int]],
    on_message: Callable[[Message], object],
    *,
    timeout: float = 60.0,
) -> None:
    """Feeds ``on_message`` each committed record of the partitions of ``ranges`` from the first
    offset given there up to (not including) the second. ``timeout`` bounds the wait for the next
    record, not the whole read: a long span reads as long as records keep coming."""
    partitions = [Partition(topic, p, start) for p, (start, _) in ranges.items()]
    consumer.assign(partitions)
    pending = {p: stop for p, (start, stop) in ranges.items() if stop > start}
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"reading {topic}: no record for {timeout:.0f} s")
        message = consumer.poll(0.2)
        if message is None:
            # Past the last record only transaction markers may remain; the position tells.
            positions = consumer.position([Partition(topic, p) for p in pending])
            for position in positions:
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
        deadline = time.monotonic() + timeout
        if partition not in pending or offset >= pending[partition]:
            continue  # past the range (a partition read on while others finish)
        on_message(message)
        if offset + 1 >= pending[partition]:
            del pending[partition]


def read_one(consumer: Consumer, partition: Partition, timeout: float) -> Message | None:
    """The committed record at ``partition``'s offset, or None when there is none (any more) or it
    cannot be read within ``timeout``."""
    deadline = time.monotonic() + timeout
    consumer.assign([partition])
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return None
            raise KafkaException(error)
        if (message.offset() or 0) >= partition.offset:
            return message if message.offset() == partition.offset else None
    return None
