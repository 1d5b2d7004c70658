"""The topics a delivery worker reads and writes, created when missing at its start.

Its partner's delivery topic (which the processor also creates, at the rules version that names
the partner: a worker may start first), the compacted receipts topic (a delivery id's latest
receipt is the one that counts), and the delivery dead-letter topic.
"""

from __future__ import annotations

from processor.kafka.admin import COMPACTED, TopicSpec
from processor.settings import Settings


def worker_topics(settings: Settings, partner: str) -> list[TopicSpec]:
    """What the worker of ``partner`` needs, as created when missing."""
    return [
        TopicSpec(settings.topics.receipts_topic, config=COMPACTED),
        TopicSpec(settings.topics.delivery_topic(partner)),
        TopicSpec(settings.topics.delivery_dlq_topic),
    ]
