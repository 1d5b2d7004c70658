"""The topics a delivery worker reads and writes, created when missing at its start.

Its partner's delivery topic (which the processor also creates, at the rules version that names
the partner: a worker may start first), the compacted receipts topic (a delivery id's latest
receipt is the one that counts), the delivery dead-letter topic, the decide topic it hands leads
back to (one partition, as the processor has it), and the partner's retry topics, one per retry of
its schedule.
"""

from __future__ import annotations

from collections.abc import Iterable

from processor.delivery.retry import RETENTION_MS
from processor.kafka.admin import COMPACTED, TopicSpec
from processor.rules.document import MAX_RETRIES
from processor.settings import Settings
from processor.stream.topics import DECIDE_PARTITIONS


def worker_topics(settings: Settings, partner: str) -> list[TopicSpec]:
    """What the worker of ``partner`` needs, as created when missing."""
    return [
        TopicSpec(settings.topics.receipts_topic, config=COMPACTED),
        TopicSpec(settings.topics.delivery_topic(partner)),
        TopicSpec(settings.topics.delivery_dlq_topic),
        TopicSpec(settings.topics.decide_topic, partitions=DECIDE_PARTITIONS),
    ]


def retry_topics(settings: Settings, partner: str, levels: int, partitions: int) -> list[TopicSpec]:
    """Retry topics 1 to ``levels`` of ``partner``, partitioned like its delivery topic (the
    partner's workers split them alike) and keeping records well beyond the longest wait."""
    return [
        TopicSpec(
            settings.topics.retry_topic(partner, level),
            partitions=partitions,
            config={"retention.ms": str(RETENTION_MS)},
        )
        for level in range(1, levels + 1)
    ]


def retry_levels(settings: Settings, partner: str, topics: Iterable[str]) -> dict[str, int]:
    """The level of each of ``topics`` that is one of ``partner``'s retry topics, as a worker
    makes them: a level beyond the longest schedule was not, and is no concern of the worker's
    (it would otherwise create every level up to it)."""
    prefix = settings.topics.retry_topic(partner, 0)[:-1]
    levels = {str(level): level for level in range(1, MAX_RETRIES + 1)}
    found: dict[str, int] = {}
    for topic in topics:
        level = levels.get(topic[len(prefix) :]) if topic.startswith(prefix) else None
        if level is not None:
            found[topic] = level
    return found
