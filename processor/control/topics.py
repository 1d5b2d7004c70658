"""The control plane's topics: the config topic and its history.

The config topic has one partition: a rules version's parts and its closing version record must be
read in the order they were written. It is compacted: only the latest value of each part matters.
The history keeps every applied version for good, each whole in one record.
"""

from __future__ import annotations

from processor.control.history import HISTORY_MAX_BYTES
from processor.kafka.admin import COMPACTED, KEPT, TopicAdmin, TopicSpec
from processor.settings import Settings


def config_topics(settings: Settings) -> list[TopicSpec]:
    """The config topic and its history, as created when missing."""
    return [
        TopicSpec(settings.topics.config_topic, partitions=1, config=COMPACTED),
        TopicSpec(
            settings.topics.config_history_topic,
            partitions=1,
            config={**KEPT, "max.message.bytes": str(HISTORY_MAX_BYTES)},
        ),
    ]


def ensure_config_topics(settings: Settings) -> None:
    """Creates the config topic and its history when missing (``rules apply``, ``rules status``)."""
    TopicAdmin(settings).ensure(config_topics(settings))
