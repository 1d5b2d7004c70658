"""Where the topics end and where their readers are: the lag the Health page shows.

One short-lived read_committed consumer answers both questions: the end offsets it sees are the
last stable offsets, so records of open or aborted transactions count as no lag. It never joins
the processors' group (it neither subscribes nor commits); it only asks the group's coordinator
for the offsets the processors committed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka import TopicPartition as Partition

from processor.kafka import clients
from processor.settings import Settings

TIMEOUT_S = 3.0
"""The longest a page waits for Kafka: a page that hangs is worse than one that says 'unknown'."""


@dataclass(frozen=True)
class Positions:
    """Each topic's partitions with their (low, end) offsets, and the processors' committed
    offset of each input partition (None: nothing committed yet). ``problem`` says why they are
    unknown when Kafka did not answer."""

    ends: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)
    committed: dict[int, int | None] = field(default_factory=dict)
    problem: str | None = None

    def behind(self, topic: str, partition: int, position: int | None) -> int:
        """Records a reader at ``position`` (None: from the start) has still to read."""
        low, end = self.ends.get(topic, {}).get(partition, (0, 0))
        return max(0, end - max(low, position or 0))


def read_positions(
    settings: Settings, topics: Sequence[str], timeout: float = TIMEOUT_S
) -> Positions:
    """The end offsets of ``topics``, and the processors' group's committed offsets on the input
    topic (which must be among ``topics``); never longer than about ``timeout``."""
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(0.1, deadline - time.monotonic())

    consumer = clients.consumer(settings.kafka, settings.kafka.group_id)
    try:
        metadata = consumer.list_topics(timeout=left())
        ends: dict[str, dict[int, tuple[int, int]]] = {}
        for topic in topics:
            found = metadata.topics.get(topic)
            partitions = (
                sorted(found.partitions) if found is not None and found.error is None else []
            )
            ends[topic] = {
                p: consumer.get_watermark_offsets(Partition(topic, p), timeout=left(), cached=False)
                for p in partitions
            }
        input_topic = settings.topics.input_topic
        asked = [Partition(input_topic, p) for p in ends.get(input_topic, {})]
        committed = {
            tp.partition: tp.offset if tp.offset >= 0 else None
            for tp in (consumer.committed(asked, timeout=left()) if asked else [])
        }
    except KafkaException as error:
        reason = error.args[0].str() if error.args else str(error)
        return Positions(problem=f"Kafka did not answer within {timeout:g} s: {reason}")
    finally:
        consumer.close()
    return Positions(ends, committed)
