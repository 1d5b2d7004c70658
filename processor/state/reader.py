"""Routing's state as its changelog holds it, read into memory for ``state show``.

The state topic is compacted: read to its end, it holds the last value of every live key (a
tombstone deletes one). Each partition is read into a store of its own, since each partition is
one ledger: the decide stage's single partition, or, before it, one per input partition. Only the
keys ``state show`` reports are kept, cap windows and rotation (see the key layout in
:mod:`processor.rules.ledger`): the duplicate memory, by far the largest part, is never held, and
no person digest is read. Marker records (which input offset a partition's state belongs to) are
not state either.
"""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException

from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.kafka.records import InputRecord
from processor.rules.ledger import SEP, MemoryStore
from processor.settings import KafkaSettings, Settings
from processor.state.changelog import MARKER_KEY

READ_TIMEOUT_S = 60.0

SHOWN = (b"cap" + SEP, b"rr" + SEP, b"wt" + SEP)
"""The ledger's key prefixes of cap windows, round robin and weighted scores."""


def topic_exists(consumer: Consumer, kafka: KafkaSettings, topic: str, timeout: float) -> bool:
    """Whether the cluster has ``topic``; ServiceUnavailable when it does not answer."""
    try:
        return topic in consumer.list_topics(timeout=timeout).topics
    except KafkaException as error:
        raise ServiceUnavailable(
            f"Kafka at {kafka.bootstrap_servers} did not answer: {error.args[0].str()}"
        ) from None


class StateCopy:
    """The shown keys of each partition read so far, one store a partition."""

    def __init__(self) -> None:
        self.stores: dict[int, MemoryStore] = {}

    def take(self, message: InputRecord) -> None:
        key = message.key()
        if key is None or key == MARKER_KEY or not key.startswith(SHOWN):
            return
        store = self.stores.setdefault(message.partition() or 0, MemoryStore())
        value = message.value()
        if value is None:
            store.delete(key)
        else:
            store.set(key, value)


def read_state(settings: Settings, timeout: float = READ_TIMEOUT_S) -> dict[int, MemoryStore]:
    """Each partition's shown state, committed records only, up to the topic's end as reading
    starts; no partition at all when the topic does not exist yet (no processor has run)."""
    topic = settings.topics.state_topic
    copy = StateCopy()
    consumer = reading_consumer(settings.kafka, "state-reader")
    try:
        if topic_exists(consumer, settings.kafka, topic, timeout):
            read_to_end(consumer, topic, copy.take, timeout=timeout)
    finally:
        consumer.close()
    return copy.stores
