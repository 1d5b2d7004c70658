"""Rotation state (round_robin, weighted) per input partition, kept in a compacted changelog.

The state of a partition is written in the same transaction as that partition's consumed offsets,
so after a crash or a rebalance the offsets and the rotation state restored together always belong
to the same point in the stream: a restarted processor continues the rotation where the committed
work left it.

"Together" needs care right after the previous owner's commit: the broker writes a transaction's
markers partition by partition after the commit returns, so the committed offsets can already be
readable while the state record of the same transaction is not yet. Each record therefore carries
the input offset it belongs to (``OFFSET_HEADER``), and ``restore`` reads again until the state it
found belongs to the committed offset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from confluent_kafka import Message

from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.kafka.records import Headers
from processor.rules import RotationState
from processor.settings import Settings

log = logging.getLogger(__name__)

OFFSET_HEADER = "lead-router.input-offset"
"""The next input offset of the partition when its state was written: what it belongs to."""

CATCH_UP_S = 10.0
"""How long ``restore`` waits for the state of the committed offset before it goes on with what
it found (a changelog written before records carried their offset, or one that was cleared)."""


class RotationLog:
    """Reads and writes the rotation-state changelog of one consumer group and input topic."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.topic = settings.topics.state_topic
        self._prefix = f"{settings.kafka.group_id}/{settings.topics.input_topic}/"

    def key(self, partition: int) -> bytes:
        return f"{self._prefix}{partition}".encode()

    def record(
        self, partition: int, state: RotationState, offset: int
    ) -> tuple[bytes, bytes, Headers]:
        """Key, value and headers of the record of ``partition``'s state at input ``offset``."""
        return self.key(partition), state.to_json(), [(OFFSET_HEADER, str(offset).encode())]

    def restore(
        self, committed: Mapping[int, int], timeout: float = 60.0
    ) -> dict[int, RotationState]:
        """The state of each partition at its ``committed`` input offset (negative: none yet);
        a fresh state where none was written."""
        deadline = time.monotonic() + CATCH_UP_S
        while True:
            found = self._read(list(committed), timeout)
            behind = [
                p
                for p, offset in committed.items()
                if offset > 0 and (p not in found or -1 < found[p][1] < offset)
            ]
            if not behind:
                break
            if time.monotonic() > deadline:
                log.warning(
                    "rotation state of partitions %s is older than their committed offsets; "
                    "going on with it",
                    behind,
                )
                break
            time.sleep(0.05)  # the previous owner's commit markers are on their way
        return {p: found[p][0] if p in found else RotationState() for p in committed}

    def _read(self, partitions: list[int], timeout: float) -> dict[int, tuple[RotationState, int]]:
        """The last state record of each partition, with its input offset (-1: not recorded)."""
        wanted = {self.key(p): p for p in partitions}
        found: dict[int, tuple[RotationState, int]] = {}

        def take(message: Message) -> None:
            partition = wanted.get(message.key() or b"")
            if partition is None:
                return
            value = message.value()
            if value is None:
                found.pop(partition, None)
            else:
                headers = dict(message.headers() or [])
                offset = headers.get(OFFSET_HEADER)
                found[partition] = (RotationState.from_json(value), int(offset) if offset else -1)

        consumer = reading_consumer(self._settings.kafka, "rotation")
        try:
            read_to_end(consumer, self.topic, take, timeout=timeout)
        finally:
            consumer.close()
        return found
