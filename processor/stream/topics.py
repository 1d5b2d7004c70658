"""Creating the topics lead-router reads and writes, when they are missing.

The config topic has one partition: a rules version's parts and its closing version record must be
read in the order they were written. It and the rotation-state changelog are compacted: only the
latest value per key matters. The config history keeps every version for good. The others take the
configured partitions and replication.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.cimpl import NewTopic

from processor.errors import ServiceUnavailable
from processor.kafka import clients
from processor.settings import Settings
from processor.stream.config_history import HISTORY_MAX_BYTES

COMPACTED = {"cleanup.policy": "compact"}
KEPT = {
    "cleanup.policy": "delete",
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "max.message.bytes": str(HISTORY_MAX_BYTES),
}
"""Kept for good: the config history, every applied rules version whole, one record each."""


class Topics:
    """Knows which topics exist and creates the missing ones; a cache saves repeated look-ups."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin = clients.admin(settings.kafka)
        self._known: set[str] = set()

    def ensure_base(self) -> None:
        """The input, output, config and state topics."""
        s = self._settings
        self._ensure(
            [
                self._new(s.topics.config_topic, partitions=1, config=COMPACTED),
                self._new(s.topics.config_history_topic, partitions=1, config=KEPT),
                self._new(s.topics.state_topic, partitions=1, config=COMPACTED),
                self._new(s.topics.input_topic),
                self._new(s.topics.audit_topic),
                self._new(s.topics.unroutable_topic),
                self._new(s.topics.dlq_topic),
            ]
        )

    def ensure_config(self) -> None:
        """Only the config topic and its history, for ``rules apply`` and ``rules status``."""
        s = self._settings
        self._ensure(
            [
                self._new(s.topics.config_topic, partitions=1, config=COMPACTED),
                self._new(s.topics.config_history_topic, partitions=1, config=KEPT),
            ]
        )

    def ensure(self, *names: str) -> None:
        """Topics of the configured partitions and replication, by name."""
        self._ensure([self._new(name) for name in names])

    def ensure_deliveries(self, partner_ids: Iterable[str]) -> None:
        """One delivery topic per partner."""
        self._ensure([self._new(self._settings.topics.delivery_topic(p)) for p in partner_ids])

    def ensure_worker(self, partner: str) -> None:
        """What a delivery worker needs: the compacted receipts topic, its partner's topic, and the
        delivery dead-letter topic."""
        s = self._settings
        self._ensure(
            [
                self._new(s.topics.receipts_topic, config=COMPACTED),
                self._new(s.topics.delivery_topic(partner)),
                self._new(s.topics.delivery_dlq_topic),
            ]
        )

    def _new(
        self, name: str, partitions: int | None = None, config: dict[str, str] | None = None
    ) -> NewTopic:
        return NewTopic(
            name,
            num_partitions=partitions or self._settings.topics.topic_partitions,
            replication_factor=self._settings.topics.topic_replication_factor,
            config=config or {},
        )

    def _ensure(self, topics: list[NewTopic]) -> None:
        missing = [t for t in topics if t.topic not in self._known]
        if not missing:
            return
        existing = set(self._admin.list_topics(timeout=30).topics)
        to_create = [t for t in missing if t.topic not in existing]
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
        self._known.update(t.topic for t in missing)
