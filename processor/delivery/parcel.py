"""What a destination sends: one delivery's payload with the ids that make repeats detectable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from processor.formats import Facts, format_named
from processor.rules.document import Partner


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
    def of(cls, delivery: Mapping[str, Any], partner: Partner) -> Parcel:
        """The parcel of a ``LeadDelivery`` record for ``partner`` as the rules in force have it.

        The payload is rendered here from the record's lead, in the partner's format and with its
        name from the rules: the record's own ``payload``, ``content_type`` and ``format`` are
        never sent, since anyone who can write to the partner's topic could have put anything
        there (a script in place of an ADF document)."""
        spec = format_named(partner.format)
        facts = replace(Facts.of(delivery), partner_name=partner.name)
        return cls(
            delivery_id=delivery["delivery_id"],
            lead_id=delivery["lead_id"],
            partner=partner.id,
            subject=f"New lead {delivery['lead_id']} for {facts.vendor}",
            payload=spec.render(delivery["lead"], facts),
            content_type=spec.content_type,
            extension=spec.extension,
        )
