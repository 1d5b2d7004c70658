"""Routing's state as it was when a span began, read back from the state changelog.

The decide stage commits its state changes in the same transaction as the decisions, followed by a
marker record naming the next decide-topic offset (the next decision's ``sequence``) that the state
belongs to. So the changelog read up to the last marker at or before a decision's sequence is the
state exactly as that decision's transaction found it: replay starts there, and routes the leads
of that transaction decided before the span began too.

Compaction would lose this history: a value replaced later is dropped once both are older than the
topic's ``min.compaction.lag.ms``, which the processor sets to ``STATE_HISTORY_DAYS``. A marker
younger than that is exact; an older one is reported as approximate, and so is a changelog that
holds no marker at or before the span (its history was compacted, or it never had one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from processor.kafka.clients import reading_consumer
from processor.kafka.reading import end_offsets, partitions_of
from processor.kafka.records import InputRecord
from processor.kafka.span import SCAN_TIMEOUT_S
from processor.kafka.streams import PartitionStreams
from processor.settings import Settings
from processor.state.changelog import marker_offset
from processor.state.reader import topic_exists
from processor.state.store import PartitionStore

READ_TIMEOUT_S = 60.0
PROGRESS_EVERY = 10_000
"""Changelog records read between two calls of ``state_before``'s ``progress``."""


@dataclass
class Start:
    """Where the state a replay starts from begins."""

    sequence: int
    """The first decision this state is before: replay routes from this sequence on."""
    exact: bool
    why: str | None = None
    """When not exact, why."""


class _Reading:
    """Applies a transaction's changes at its marker, while the marker is at or before ``until``:
    the store holds one transaction's changes pending, and commits them at its marker."""

    def __init__(self, until: int, store: PartitionStore) -> None:
        self.until = until
        self.store = store
        self.marker: int | None = None
        self.marker_ms = 0
        self.done = False

    def take(self, record: InputRecord) -> None:
        if self.done:
            return
        offset = marker_offset(record)
        if offset is None:
            key, value = record.key(), record.value()
            if key is None:
                return
            if value is None:
                self.store.delete(key)
            else:
                self.store.set(key, value)
            return
        if offset > self.until:
            self.done = True  # this transaction decided the span's first lead: not applied
            self.store.rollback()
            return
        self.store.commit(offset)
        self.marker = offset
        self.marker_ms = record.timestamp()[1]


def state_before(
    settings: Settings,
    sequence: int,
    store: PartitionStore,
    now_ms: int | None = None,
    progress: Callable[[int, int], object] = lambda read, end: None,
    deadline: float = math.inf,
) -> Start:
    """Fills the empty ``store`` with the state the transaction that decided ``sequence`` started
    from, and says where that is and how exact. ``progress`` is told the changelog records read
    and the changelog's end offset every :data:`PROGRESS_EVERY` records: a busy changelog takes
    a while to read. Reading the changelog past ``deadline`` (``time.monotonic()``) raises
    :class:`~processor.kafka.streams.OutOfTime`."""
    topic = settings.topics.state_topic
    reading = _Reading(sequence, store)
    consumer = reading_consumer(settings.kafka, "replay-state")
    try:
        if topic_exists(consumer, settings.kafka, topic, READ_TIMEOUT_S):
            # The decide topic's one partition has its state in changelog partition 0.
            partition = partitions_of(consumer, topic, time.monotonic() + READ_TIMEOUT_S)[0]
            end = end_offsets(consumer, [partition], READ_TIMEOUT_S)[partition.partition]
            changelog = PartitionStreams(consumer, topic, SCAN_TIMEOUT_S, deadline)
            changelog.add(partition.partition, 0, end)
            read = 0
            while not reading.done:
                record = changelog.next(partition.partition)
                if record is None:
                    break
                reading.take(record)
                read += 1
                if read % PROGRESS_EVERY == 0:
                    progress(read, end)
    finally:
        consumer.close()
        store.rollback()  # what no marker closed is no state
    if reading.marker is None:
        if sequence == 0:
            return Start(0, exact=True)
        return Start(
            sequence,
            exact=False,
            why=f"{topic} holds no state from before the span (its history was compacted, or "
            "the processor that decided it kept none): replay starts from empty state",
        )
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    horizon_ms = settings.topics.state_history_days * 86_400_000
    if reading.marker_ms < now - horizon_ms:
        days = settings.topics.state_history_days
        return Start(
            reading.marker,
            exact=False,
            why=f"the span starts more than STATE_HISTORY_DAYS={days} days ago; {topic} may "
            "have compacted some of the state it held then",
        )
    return Start(reading.marker, exact=True)
