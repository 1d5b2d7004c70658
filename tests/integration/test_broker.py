"""The suite's broker is a real Kafka: transactions commit and abort, compaction compacts."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0


def create_topic(bootstrap: str, name: str, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=1, config=config)])
    futures[name].result(timeout=30)


def read_all(bootstrap: str, topic: str, isolation: str) -> list[tuple[bytes | None, bytes | None]]:
    """Partition 0's records up to its end offset, as (key, value), read with ``isolation``."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        records: list[tuple[bytes | None, bytes | None]] = []
        position = low
        deadline = time.monotonic() + DEADLINE_S
        while position < high and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                # read_committed stops at the last stable offset: past it only control records.
                position = consumer.position([TopicPartition(topic, 0)])[0].offset
                continue
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF
                continue
            records.append((message.key(), message.value()))
            position = message.offset() + 1
        return records
    finally:
        consumer.close()


def test_read_committed_sees_committed_batch_and_not_aborted_one(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"tx-{unique}"
    create_topic(kafka_bootstrap, topic)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{unique}"})
    producer.init_transactions(30)

    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, key=f"c{i}".encode(), value=b"committed")
    producer.commit_transaction(30)

    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, key=f"a{i}".encode(), value=b"aborted")
    producer.flush(30)
    producer.abort_transaction(30)

    committed = read_all(kafka_bootstrap, topic, "read_committed")
    uncommitted = read_all(kafka_bootstrap, topic, "read_uncommitted")

    assert [key for key, _ in committed] == [f"c{i}".encode() for i in range(5)]
    # The aborted batch did reach the broker's log: only the isolation level hides it.
    assert sorted(key for key, value in uncommitted if value == b"aborted") == [
        f"a{i}".encode() for i in range(5)
    ]


def test_compacted_topic_keeps_last_value_per_key_after_cleaning(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"compact-{unique}"
    create_topic(
        kafka_bootstrap,
        topic,
        **{
            "cleanup.policy": "compact",
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "0",
        },
    )
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 0})
    expected: dict[bytes, bytes | None] = {}
    for version in range(4):
        for k in range(5):
            key, value = f"k{k}".encode(), f"v{version}".encode()
            producer.produce(topic, key=key, value=value)
            expected[key] = value
    producer.produce(topic, key=b"k4", value=None)  # a tombstone deletes k4
    expected[b"k4"] = None
    producer.flush(30)

    # The cleaner never touches the active segment: keep rolling it with a "tick" record (each
    # roll once segment.ms has passed) until the older segments come back compacted.
    deadline = time.monotonic() + DEADLINE_S
    tick = 0
    compacted = False
    while not compacted and time.monotonic() < deadline:
        tick += 1
        producer.produce(topic, key=b"tick", value=str(tick).encode())
        producer.flush(30)
        records = [r for r in read_all(kafka_bootstrap, topic, "read_committed") if r[0] != b"tick"]
        keys = [key for key, _ in records]
        compacted = len(keys) == len(set(keys)) and len(records) <= len(expected)
    assert compacted, "the log cleaner did not compact the topic in time"
    latest = dict(records)
    for key, value in expected.items():
        if value is None:
            assert latest.get(key) is None  # gone, or only its tombstone left
        else:
            assert latest[key] == value
