"""Recording a delivery: the receipt's transaction tried again on an abort, never the sending.

A fake producer stands for Kafka, so that each kind of error the broker can answer a transaction
with is met on purpose: an abort asked for, a fence, a refusal that is neither. The same fakes
show the metric series a worker starts with.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import REGISTRY

from processor.control import follower
from processor.delivery.worker import RECORD_ATTEMPTS, Worker, WorkerFailed
from processor.kafka import clients
from processor.kafka.records import OutputRecord
from processor.settings import Settings

RECEIPT = OutputRecord("receipts", b"delivery-1", b"receipt")


class FakeProducer:
    """A transactional producer whose commits fail with the errors it is given, in turn."""

    def __init__(self, *failures: KafkaError) -> None:
        self.failures = list(failures)
        self.calls: list[str] = []
        self.produced: list[tuple[str, dict[str, Any]]] = []
        self.offsets: list[list[TopicPartition]] = []

    def init_transactions(self, timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.calls.append("produce")
        self.produced.append((topic, kwargs))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.calls.append("flush")
        return 0

    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: object, timeout: float
    ) -> None:
        self.calls.append("offsets")
        self.offsets.append(positions)

    def commit_transaction(self, timeout: float) -> None:
        if self.failures:
            self.calls.append("commit refused")
            raise KafkaException(self.failures.pop(0))
        self.calls.append("commit")

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")

    def close(self) -> None:
        self.calls.append("close")


class FakeConsumer:
    def consumer_group_metadata(self) -> object:
        return "group metadata"

    def close(self) -> None:
        pass


class Consumed:
    """The consumed record a receipt is for: only its place is read."""

    def topic(self) -> str:
        return "deliveries.p"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41


def worker_on(producer: FakeProducer, monkeypatch: pytest.MonkeyPatch) -> Worker:
    monkeypatch.setattr(clients, "transactional_producer", lambda *args, **kwargs: producer)
    monkeypatch.setattr(clients, "consumer", lambda *args, **kwargs: FakeConsumer())
    monkeypatch.setattr(follower, "reading_consumer", lambda *args, **kwargs: FakeConsumer())
    return Worker(Settings(), "p")


def abortable() -> KafkaError:
    return KafkaError(
        KafkaError.INVALID_TXN_STATE, "aborted by the broker", txn_requires_abort=True
    )


def test_an_aborted_transaction_is_tried_again_with_the_same_receipt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = FakeProducer(abortable(), abortable())
    worker = worker_on(producer, monkeypatch)

    worker._record(Consumed(), [RECEIPT])  # type: ignore[arg-type]

    once = ["begin", "produce", "flush", "offsets"]
    assert producer.calls == [
        *once,
        "commit refused",
        "abort",
        *once,
        "commit refused",
        "abort",
        *once,
        "commit",
    ]
    assert {(topic, kwargs["key"], kwargs["value"]) for topic, kwargs in producer.produced} == {
        ("receipts", b"delivery-1", b"receipt")
    }
    assert [(p.topic, p.partition, p.offset) for p in producer.offsets[-1]] == [
        (worker.topic, 2, 42)
    ]


def test_the_worker_gives_up_after_its_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = FakeProducer(*(abortable() for _ in range(RECORD_ATTEMPTS)))
    worker = worker_on(producer, monkeypatch)

    with pytest.raises(WorkerFailed, match="cannot record a delivery: aborted by the broker"):
        worker._record(Consumed(), [])  # type: ignore[arg-type]

    assert producer.calls.count("commit refused") == RECORD_ATTEMPTS
    assert "commit" not in producer.calls
    assert WorkerFailed.exit_code == 5


def test_a_fenced_worker_fails_and_closes_its_producer_without_a_flush(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = FakeProducer(
        KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True)
    )
    worker = worker_on(producer, monkeypatch)

    with pytest.raises(WorkerFailed, match="fenced by a newer instance"):
        worker._record(Consumed(), [])  # type: ignore[arg-type]
    worker._session.close()

    assert producer.calls == ["begin", "offsets", "commit refused", "close"]


def test_an_error_that_asks_for_no_abort_ends_the_worker_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = FakeProducer(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "not allowed"))
    worker = worker_on(producer, monkeypatch)

    with pytest.raises(WorkerFailed, match="not allowed"):
        worker._record(Consumed(), [RECEIPT])  # type: ignore[arg-type]

    assert producer.calls == ["begin", "produce", "flush", "offsets", "commit refused"]


def test_a_worker_starts_its_partners_attempt_series_at_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = worker_on(FakeProducer(), monkeypatch)
    series = [
        ("lead_router_delivery_attempts_total", {"partner": "p", "result": result})
        for result in ("delivered", "retrying", "failed", "rejected")
    ]
    series += [("lead_router_retries_pending", {"partner": "p"})]

    worker._zero_metrics()

    missing = [
        (name, labels) for name, labels in series if REGISTRY.get_sample_value(name, labels) is None
    ]
    assert missing == []
