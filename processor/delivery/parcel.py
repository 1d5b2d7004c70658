"""What a destination sends: one delivery's payload with the ids that make repeats detectable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from processor.formats import Facts, format_named


@dataclass(frozen=True, slots=True)
class Parcel:
    """One delivery, ready to send: the same payload and ids go to every destination."""

    delivery_id: str
    lead_id: str
    partner: str
    subject: str
    payload: str
    content_type: str
    extension: str

    @property
    def body(self) -> bytes:
        return self.payload.encode("utf-8")

    @classmethod
    def of(cls, delivery: Mapping[str, Any]) -> Parcel:
        """The parcel of a ``LeadDelivery`` record; a record without a payload is rendered here."""
        spec = format_named(delivery["format"])
        payload, content_type = delivery.get("payload"), delivery.get("content_type")
        if payload is None:
            payload = spec.render(delivery["lead"], Facts.of(delivery))
            content_type = spec.content_type
        vendor = delivery.get("partner_name") or delivery["partner"]
        return cls(
            delivery_id=delivery["delivery_id"],
            lead_id=delivery["lead_id"],
            partner=delivery["partner"],
            subject=f"New lead {delivery['lead_id']} for {vendor}",
            payload=payload,
            content_type=content_type or spec.content_type,
            extension=spec.extension,
        )
