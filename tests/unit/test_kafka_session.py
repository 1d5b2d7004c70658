"""The transactional session of a producer that consumes nothing, as ``rules apply`` uses it.

A fake producer records the calls, and answers each record as the broker would when it refuses
it, so that what reaches a delivery report's caller, and when, is seen.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message, TopicPartition

from processor.kafka.records import OutputRecord
from processor.kafka.session import OnDelivery, TransactionalSession

TOO_LARGE = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)


class RefusingProducer:
    """A transactional producer whose broker refuses every record, answering at the next poll."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.unanswered: list[OnDelivery] = []

    def init_transactions(self, timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(self, topic: str, *, on_delivery: OnDelivery | None = None, **_: Any) -> None:
        self.calls.append("produce")
        if on_delivery is not None:
            self.unanswered.append(on_delivery)

    def poll(self, timeout: float) -> int:
        answered, self.unanswered = self.unanswered, []
        for report in answered:
            report(TOO_LARGE, Message())
        return len(answered)

    def flush(self, timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: object, timeout: float
    ) -> None:
        self.calls.append("offsets")

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")

    def close(self) -> None:
        self.calls.append("close")


def test_a_transaction_without_consumed_offsets_commits_its_records_alone() -> None:
    producer = RefusingProducer()
    session = TransactionalSession(producer)
    session.begin()
    session.produce(OutputRecord("config", b"meta/version", b"{}"))
    session.commit()
    assert producer.calls == ["begin", "produce", "commit"]
    assert not session.open


def test_a_refusal_reaches_the_caller_before_produce_returns() -> None:
    producer = RefusingProducer()
    session = TransactionalSession(producer)
    refused: list[KafkaError | None] = []
    session.begin()
    session.produce(
        OutputRecord("config", b"partner/bdc", b"x" * 100), lambda e, _: refused.append(e)
    )
    assert [error.code() if error else None for error in refused] == [KafkaError.MSG_SIZE_TOO_LARGE]
