"""The receipt of an attempt, and the memory a worker keeps of the deliveries that are done."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from deliveryrecords import DELIVERY

from processor.delivery.outcome import Outcome
from processor.delivery.receipts import DeliveredIds, receipt_for
from processor.settings import Settings
from processor.wire import Codec

TOOK = Outcome("https://a", "delivered", "HTTP 200", 3)
DOWN = Outcome("file://b", "failed", "cannot write", 5)


def test_a_delivered_receipt_counts_the_attempts_and_earns_the_price() -> None:
    receipt = receipt_for(DELIVERY, [TOOK], 4)
    assert (receipt["status"], receipt["attempts"], receipt["revenue"]) == ("delivered", 4, 40.0)
    assert receipt["detail"] == "https://a: HTTP 200 after 3 tries"
    assert (receipt["price"], receipt["currency"]) == (40.0, "USD")
    assert (receipt["delivery_id"], receipt["lead_id"], receipt["partner"]) == (
        DELIVERY["delivery_id"],
        "web-0001",
        "crm-east",
    )
    assert receipt["at"].tzinfo is UTC
    assert (receipt["next_attempt_at"], receipt["reason"]) == (None, None)


def test_a_retrying_receipt_says_when_and_earns_nothing() -> None:
    due = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    receipt = receipt_for(DELIVERY, [TOOK, DOWN], 2, "retrying", next_attempt_at=due)
    assert (receipt["status"], receipt["attempts"], receipt["revenue"]) == ("retrying", 2, None)
    assert receipt["next_attempt_at"] == due
    assert (
        receipt["detail"]
        == "https://a: HTTP 200 after 3 tries; file://b: cannot write after 5 tries"
    )


def test_a_receipt_without_a_later_step_takes_the_destinations_status() -> None:
    assert receipt_for(DELIVERY, [TOOK, DOWN], 6)["status"] == "failed"
    reoffered = receipt_for(DELIVERY, [DOWN], 6, "reoffered", reason="exhausted: x")
    assert (reoffered["status"], reoffered["reason"], reoffered["revenue"]) == (
        "reoffered",
        "exhausted: x",
        None,
    )


def test_a_partner_without_destinations_gets_a_rejected_receipt() -> None:
    receipt = receipt_for(DELIVERY, [], 1)
    assert (receipt["status"], receipt["attempts"]) == ("rejected", 1)
    assert receipt["detail"] == "the partner has no destinations"


def receipt(ident: str, status: str, partner: str = "p") -> dict[str, Any]:
    return {"delivery_id": ident, "partner": partner, "status": status}


@pytest.mark.parametrize(
    ("history", "done"),
    [
        (["retrying"], False),
        (["retrying", "delivered"], True),
        (["failed"], False),
        (["rejected"], False),
        (["retrying", "reoffered"], True),
        (["delivered", "returned"], True),
        (["delivered", "return_refused"], True),
        (["failed", "retrying"], False),
    ],
)
def test_the_latest_receipt_says_whether_a_delivery_is_done(history: list[str], done: bool) -> None:
    memory = DeliveredIds(Settings(), "p", Codec())
    for status in history:
        memory.take(receipt("d", status))
    assert ("d" in memory) is done


def test_another_partners_receipts_are_not_remembered() -> None:
    memory = DeliveredIds(Settings(), "p", Codec())
    memory.take(receipt("d", "delivered", partner="q"))
    assert "d" not in memory and len(memory) == 0
