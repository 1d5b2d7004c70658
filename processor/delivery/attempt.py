"""What an attempt at a delivery leaves behind: its receipt, and what happens to the delivery next.

Delivered: the ``delivered`` receipt. Not delivered, with a retry left in the partner's schedule:
a ``retrying`` receipt and the record, as it was consumed, on the next retry topic. No retry left,
or refused for good: the partner's policy says; ``give_up`` is the ``failed`` or ``rejected``
receipt, ``reoffer`` the ``reoffered`` receipt and the lead handed back to the decide stage. The
worker commits all of it with the consumed offset in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processor.delivery.handback import Handback
from processor.delivery.outcome import Outcome, overall
from processor.delivery.receipts import Receipt, detail, receipt_for
from processor.delivery.retry import Retry, Stop, next_step, retry_headers
from processor.kafka.records import InputRecord, OutputRecord
from processor.rules.document import DeliveryPolicy
from processor.settings import Settings
from processor.wire import Codec


@dataclass(frozen=True, slots=True)
class Conclusion:
    """The receipt, the records to commit with it (the receipt's first), and how the attempt
    counts: ``result`` of ``DELIVERY_ATTEMPTS``."""

    receipt: Receipt
    records: list[OutputRecord]
    result: str


class Conclusions:
    """Concludes attempts for one partner's worker."""

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._topics = settings.topics
        self._codec = codec
        self._handback = Handback(codec, settings.topics.decide_topic)

    def conclude(
        self,
        message: InputRecord,
        delivery: Mapping[str, Any],
        outcomes: list[Outcome],
        attempts: int,
        origin: str,
        policy: DeliveryPolicy,
        now_ms: int,
    ) -> Conclusion:
        """After attempt number ``attempts`` at ``delivery`` (read as ``message``, first from
        ``origin``, a ``topic/partition/offset``) ended with ``outcomes``, as of ``now_ms``."""
        status = overall(outcomes)
        step = next_step(policy, status, attempts, now_ms)
        extra: list[OutputRecord] = []
        if isinstance(step, Retry):
            receipt = receipt_for(
                delivery,
                outcomes,
                attempts,
                "retrying",
                next_attempt_at=datetime.fromtimestamp(step.due_at_ms / 1000, UTC),
            )
            extra.append(self._waiting(message, delivery, outcomes, attempts, origin, step, now_ms))
        elif isinstance(step, Stop) and step.action == "reoffer":
            reason = f"{step.why}: {detail(outcomes)}"
            receipt = receipt_for(delivery, outcomes, attempts, "reoffered", reason=reason)
            extra.append(self._handback.record(message, delivery, attempts, reason))
        else:
            receipt = receipt_for(delivery, outcomes, attempts)
        topic = self._topics.receipts_topic
        value = self._codec.encode(topic, "DeliveryReceipt", receipt)
        own = OutputRecord(topic, delivery["delivery_id"].encode(), value)
        result = "retrying" if isinstance(step, Retry) else status
        return Conclusion(receipt, [own, *extra], result)

    def _waiting(
        self,
        message: InputRecord,
        delivery: Mapping[str, Any],
        outcomes: list[Outcome],
        attempts: int,
        origin: str,
        step: Retry,
        now_ms: int,
    ) -> OutputRecord:
        """The consumed record, key and value as they were, on the retry topic of ``step``,
        written as of ``now_ms``: its timestamp plus its level's delay is when it is due."""
        headers = retry_headers(attempts, step.due_at_ms, detail(outcomes), origin)
        topic = self._topics.retry_topic(delivery["partner"], step.level)
        return OutputRecord(topic, message.key(), message.value(), headers, now_ms)
