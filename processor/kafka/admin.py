"""Creating the topics a component reads and writes, when they are missing.

Every component ensures its own topics at start (the processor its input and outputs, a delivery
worker its receipts, ``rules apply`` the config topic): each names them as :class:`TopicSpec` values
and hands them to a :class:`TopicAdmin`, which creates only those the cluster lacks. Another
instance may create the same topic at the same moment; that is not an error.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.cimpl import NewTopic

from processor.errors import ServiceUnavailable
from processor.kafka import clients
from processor.settings import Settings

COMPACTED: Mapping[str, str] = {"cleanup.policy": "compact"}
"""Only the latest value per key matters (a changelog, the config topic's parts)."""

KEPT: Mapping[str, str] = {
    "cleanup.policy": "delete",
    "retention.ms": "-1",
    "retention.bytes": "-1",
}
"""Every record kept for good, whatever the broker's default retention."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic as it is created when missing; an existing topic is taken as it is."""

    name: str
    partitions: int | None = None
    """None: the configured ``TOPIC_PARTITIONS``."""
    config: Mapping[str, str] = field(default_factory=dict)


class TopicAdmin:
    """Knows which topics exist and creates the missing ones; a cache saves repeated look-ups
    (the processor ensures the partners' topics at every rules version)."""

    def __init__(self, settings: Settings) -> None:
        self._admin = clients.admin(settings.kafka)
        self._partitions = settings.topics.topic_partitions
        self._replication = settings.topics.topic_replication_factor
        self._known: set[str] = set()

    def ensure(self, specs: Iterable[TopicSpec]) -> None:
        """Creates those of ``specs`` that the cluster does not have."""
        missing = [spec for spec in specs if spec.name not in self._known]
        if not missing:
            return
        existing = set(self._admin.list_topics(timeout=30).topics)
        to_create = [self._new(spec) for spec in missing if spec.name not in existing]
        if to_create:
            futures = self._admin.create_topics(to_create, operation_timeout=30)
            for name, future in futures.items():
                try:
                    future.result(timeout=60)
                except KafkaException as exc:
                    error = exc.args[0]
                    if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise ServiceUnavailable(
                            f"cannot create topic {name}: {error.str()}"
                        ) from exc
        self._known.update(spec.name for spec in missing)

    def forget(self, name: str) -> None:
        """Looks ``name`` up again at the next ``ensure``."""
        self._known.discard(name)

    def partitions(self, topic: str, timeout: float = 30.0) -> int:
        """How many partitions ``topic`` has, as the brokers say; waits out a topic created a
        moment ago, which a broker can still show without partitions."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._admin.list_topics(topic, timeout=timeout).topics[topic]
            if found.error is None and found.partitions:
                return len(found.partitions)
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"cannot read the partitions of topic {topic}: {found.error or 'none'}"
                )
            time.sleep(0.1)

    def _new(self, spec: TopicSpec) -> NewTopic:
        return NewTopic(
            spec.name,
            num_partitions=spec.partitions or self._partitions,
            replication_factor=self._replication,
            config=dict(spec.config),
        )
