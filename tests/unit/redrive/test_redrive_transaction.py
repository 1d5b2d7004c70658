"""How a redrive's transaction ends: published together, or nothing, with the exit code that says
why (7: another redrive took over; 4: Kafka refused it)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from processor.kafka import clients
from processor.kafka.records import OutputRecord
from processor.redrive import publish
from processor.redrive.publish import RedriveFailed, RedriveFenced, redrive
from processor.redrive.select import Candidate
from processor.settings import Settings


class Producer:
    """A transactional producer that records its calls and fails its commit with ``error``."""

    def __init__(self, error: KafkaError | None) -> None:
        self.error = error
        self.calls: list[str] = []
        self.produced: list[tuple[str, bytes | None, int]] = []

    def init_transactions(self, timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(
        self, topic: str, *, key: bytes | None = None, timestamp: int = 0, **_: Any
    ) -> None:
        self.produced.append((topic, key, timestamp))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")
        if self.error is not None:
            raise KafkaException(self.error)

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")

    def close(self) -> None:
        self.calls.append("close")


def candidates() -> list[Candidate]:
    record = OutputRecord("leads", b"L-1", b"v")
    return [
        Candidate("L-1", "dlq/0/1", "too-slow", 1_000, record),
        Candidate("L-2", "dlq/0/2", "too-slow", 2_000, OutputRecord("leads", b"L-2", b"v")),
        Candidate("L-3", "dlq/0/3", "too-slow", 3_000, OutputRecord("leads", b"L-3", b"v")),
    ]


@pytest.fixture
def producer_with(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Makes the redrive use a fake producer failing with an error (or none), and find L-2
    redriven before."""

    def make(error: KafkaError | None) -> Producer:
        producer = Producer(error)
        monkeypatch.setattr(clients, "transactional_producer", lambda *_, **__: producer)
        monkeypatch.setattr(publish, "_redriven_before", lambda *_: {"dlq/0/2": "leads/0/9"})
        return producer

    return make


def test_the_leads_not_redriven_before_are_published_in_one_transaction(producer_with: Any) -> None:
    producer = producer_with(None)
    done = redrive(Settings(), candidates())
    assert [each.status for each in done] == ["published", "already-redriven", "published"]
    assert producer.calls == ["init", "begin", "commit", "close"]
    assert [(topic, key) for topic, key, _ in producer.produced] == [
        ("leads", b"L-1"),
        ("leads", b"L-3"),
    ]
    assert all(at > 3_000 for _, _, at in producer.produced)  # now, after their source records


def test_a_redrive_fenced_by_another_publishes_nothing_and_exits_7(producer_with: Any) -> None:
    producer = producer_with(KafkaError(KafkaError.PRODUCER_FENCED))
    with pytest.raises(
        RedriveFenced, match=r"another redrive to leads\.submitted started"
    ) as error:
        redrive(Settings(), candidates())
    assert error.value.exit_code == 7
    assert "abort" not in producer.calls  # the broker aborted it when it fenced the producer


def test_a_transaction_kafka_refuses_is_aborted_and_exits_4(producer_with: Any) -> None:
    producer = producer_with(KafkaError(KafkaError._MSG_TIMED_OUT, txn_requires_abort=True))
    with pytest.raises(RedriveFailed, match="committing the transaction failed") as error:
        redrive(Settings(), candidates())
    assert error.value.exit_code == 4
    assert producer.calls[-2:] == ["abort", "close"]
