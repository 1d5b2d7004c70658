"""A delivery record becomes what destinations send, and the receipt that says how it went."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from deliveryrecords import DELIVERY

from processor.delivery.outcome import Outcome
from processor.delivery.parcel import Parcel
from processor.delivery.receipts import receipt_for


def test_the_payload_the_processor_rendered_is_sent_as_it_is() -> None:
    parcel = Parcel.of(DELIVERY)
    assert parcel.payload == '{"rendered": "by the processor"}'
    assert parcel.body == parcel.payload.encode()
    assert (parcel.content_type, parcel.extension) == ("application/json", "json")
    assert parcel.subject == "New lead web-0001 for East CRM"


def test_a_record_written_without_a_payload_is_rendered_by_the_worker() -> None:
    parcel = Parcel.of({**DELIVERY, "payload": None, "content_type": None, "partner_name": None})
    assert json.loads(parcel.payload)["routing"]["price"] == 40.0
    assert parcel.content_type == "application/json"
    assert parcel.subject == "New lead web-0001 for crm-east"


@pytest.mark.parametrize(
    ("outcomes", "status", "attempts"),
    [
        ([Outcome("https://a", "delivered", "HTTP 200", 3)], "delivered", 3),
        (
            [
                Outcome("https://a", "delivered", "HTTP 200", 1),
                Outcome("file://b", "failed", "x", 5),
            ],
            "failed",
            5,
        ),
    ],
)
def test_a_receipt_sums_up_the_destinations(
    outcomes: list[Outcome], status: str, attempts: int
) -> None:
    receipt = receipt_for(DELIVERY, outcomes)
    assert receipt["status"] == status
    assert receipt["attempts"] == attempts
    assert receipt["detail"] == "; ".join(map(str, outcomes))
    assert (receipt["price"], receipt["currency"]) == (40.0, "USD")
    assert (receipt["delivery_id"], receipt["lead_id"], receipt["partner"]) == (
        DELIVERY["delivery_id"],
        "web-0001",
        "crm-east",
    )
    assert receipt["at"].tzinfo is UTC


def test_a_partner_without_destinations_gets_a_rejected_receipt() -> None:
    receipt = receipt_for(DELIVERY, [])
    assert (receipt["status"], receipt["attempts"]) == ("rejected", 0)
    assert receipt["detail"] == "the partner has no destinations"
