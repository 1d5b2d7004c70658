"""Routing's state as its changelog holds it, read into memory for ``state show``.

The state topic is compacted: read to its end, it holds the last value of every live key (a
tombstone deletes one). Each partition is read into a store of its own, since each partition is
one ledger: the decide stage's single partition, or, before it, one per input partition. Marker
records (which input offset a partition's state belongs to) are not state and are left out.
"""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, Message

from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.rules.ledger import MemoryStore
from processor.settings import KafkaSettings, Settings
from processor.state.changelog import MARKER_KEY

READ_TIMEOUT_S = 60.0


def topic_exists(consumer: Consumer, kafka: KafkaSettings, topic: str, timeout: float) -> bool:
    """Whether the cluster has ``topic``; ServiceUnavailable when it does not answer."""
    try:
        return topic in consumer.list_topics(timeout=timeout).topics
    except KafkaException as error:
        raise ServiceUnavailable(
            f"Kafka at {kafka.bootstrap_servers} did not answer: {error.args[0].str()}"
        ) from None


def read_state(settings: Settings, timeout: float = READ_TIMEOUT_S) -> dict[int, MemoryStore]:
    """Each partition's state, committed records only, up to the topic's end as reading starts;
    no partition at all when the topic does not exist yet (no processor has run)."""
    topic = settings.topics.state_topic
    stores: dict[int, MemoryStore] = {}

    def take(message: Message) -> None:
        key = message.key()
        if key is None or key == MARKER_KEY:
            return
        store = stores.setdefault(message.partition() or 0, MemoryStore())
        value = message.value()
        if value is None:
            store.delete(key)
        else:
            store.set(key, value)

    consumer = reading_consumer(settings.kafka, "state-reader")
    try:
        if topic_exists(consumer, settings.kafka, topic, timeout):
            read_to_end(consumer, topic, take, timeout=timeout)
    finally:
        consumer.close()
    return stores
