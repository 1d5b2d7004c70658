"""Delivery ids are uuid5 of lead and partner: partners' systems keep them as idempotency keys,
so the way they are made may get faster, never different."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from processor.rules.deliveries import DELIVERY_NAMESPACE, delivery_id

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
"""Any text a lead id or partner id decoded from Avro can be (no lone surrogates)."""


@given(TEXT, TEXT)
def test_a_delivery_id_is_the_uuid5_of_lead_and_partner(lead_id: str, partner: str) -> None:
    expected = uuid.uuid5(DELIVERY_NAMESPACE, f"{lead_id}\x1f{partner}")
    assert delivery_id(lead_id, partner) == str(expected)


def test_a_known_delivery_keeps_its_id() -> None:
    """The id the docs show for the demo's lead-000006 sold to prime-lending."""
    assert delivery_id("lead-000006", "prime-lending") == "89e9cc68-f2b4-5c9d-a3c3-74b24d8d5676"
