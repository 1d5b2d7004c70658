"""Rotation state (round_robin, weighted) per input partition, kept in a compacted changelog.

The state of a partition is written in the same transaction as that partition's consumed offsets,
so after a crash or a rebalance the offsets and the rotation state restored together always belong
to the same point in the stream: a restarted processor continues the rotation where the committed
work left it.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Message

from processor.rules import RotationState
from processor.settings import Settings
from processor.stream.reading import read_to_end


class RotationLog:
    """Reads and writes the rotation-state changelog of one consumer group and input topic."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.topic = settings.state_topic
        self._prefix = f"{settings.group_id}/{settings.input_topic}/"

    def key(self, partition: int) -> bytes:
        return f"{self._prefix}{partition}".encode()

    def restore(self, partitions: list[int], timeout: float = 60.0) -> dict[int, RotationState]:
        """The last committed state of each partition; a fresh state where none was written."""
        wanted = {self.key(p): p for p in partitions}
        found: dict[int, RotationState] = {}

        def take(message: Message) -> None:
            partition = wanted.get(message.key() or b"")
            if partition is None:
                return
            value = message.value()
            if value is None:
                found.pop(partition, None)
            else:
                found[partition] = RotationState.from_json(value)

        consumer = Consumer(
            self._settings.kafka_client_config()
            | {
                "group.id": f"{self._settings.group_id}-rotation",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        try:
            read_to_end(consumer, self.topic, take, timeout=timeout)
        finally:
            consumer.close()
        return {p: found.get(p) or RotationState() for p in partitions}
