"""The checks every lead passes before it is routed, whichever way it arrived.

Avro guarantees types, not meaning: a blank ``lead_id`` is a valid string. The contract needs a
lead id to key the outputs and a site id to choose a profile, so a lead without them is rejected
here, by the same rules for a decoded record and a parsed JSON line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processor.wire.errors import InvalidLead

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def validate_lead(lead: dict[str, Any]) -> dict[str, Any]:
    """Check a ``LeadSubmitted`` record and return it, ``submitted_at`` as an aware datetime.

    A publisher whose schema declares ``submitted_at`` as a plain ``long`` (without the
    ``timestamp-millis`` logical type) writes the same bytes, but the record decodes with an
    integer there; it is turned into the datetime every other lead carries.
    """
    lead_id = _text(lead.get("lead_id"))
    if lead_id is None:
        raise InvalidLead("lead_id", "must not be empty")
    if _text(lead.get("site_id")) is None:
        raise InvalidLead("site_id", "must not be empty", lead_id=lead_id)
    submitted_at = lead.get("submitted_at")
    if submitted_at is None:
        raise InvalidLead("submitted_at", "missing", lead_id=lead_id)
    if isinstance(submitted_at, int) and not isinstance(submitted_at, bool):
        try:
            lead["submitted_at"] = _EPOCH + timedelta(milliseconds=submitted_at)
        except OverflowError as error:
            raise InvalidLead("submitted_at", "out of range", lead_id=lead_id) from error
    elif not isinstance(submitted_at, datetime):
        raise InvalidLead("submitted_at", "not a timestamp", lead_id=lead_id)
    return lead


def _text(value: object) -> str | None:
    """The value when it is a string with more than whitespace in it."""
    return value if isinstance(value, str) and value.strip() else None
