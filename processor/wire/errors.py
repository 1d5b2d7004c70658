"""What can go wrong on the wire, each failure named by a short machine-readable reason.

The reason travels with a rejected record (dead-letter headers, the audit record's ``error``,
metrics labels), so it is a fixed vocabulary that operators can count and alert on; the message is
for people and says which byte, field or schema was at fault. Messages never quote field values:
leads carry personal data, and these messages end up in logs and headers.
"""

from __future__ import annotations

from typing import Literal

DecodeReason = Literal[
    "empty",
    "unknown-framing",
    "truncated",
    "unknown-fingerprint",
    "unknown-schema-id",
    "no-registry",
    "registry-unavailable",
    "invalid-avro",
    "schema-mismatch",
    "invalid-lead",
    "invalid-matched",
]
"""Why a record could not be decoded.

- ``empty``: no bytes at all (a null or empty value).
- ``unknown-framing``: the first bytes are neither the registry framing (0x00) nor single-object
  encoding (0xC3 0x01).
- ``truncated``: the header, or the Avro body, ends before it is complete.
- ``unknown-fingerprint``: single-object encoding with a schema fingerprint this processor does not
  know.
- ``unknown-schema-id``: registry framing with a schema id the registry does not have.
- ``no-registry``: registry framing, but no schema registry is configured.
- ``registry-unavailable``: the registry did not answer; the record itself may be fine.
- ``invalid-avro``: the body is not a valid encoding under the writer schema.
- ``schema-mismatch``: the writer schema cannot be read as the expected schema (another record
  type, incompatible fields, not an Avro schema).
- ``invalid-lead``: a well-formed record whose lead breaks the contract (an empty ``lead_id``).
- ``invalid-matched``: a well-formed ``LeadMatched`` on the decide topic whose values cannot be
  the match stage's (a location off the globe).
"""

EncodeReason = Literal["invalid-record", "registry-unavailable", "registry-rejected"]
"""Why a record could not be encoded.

- ``invalid-record``: the record does not fit its schema (a missing field, a wrong type).
- ``registry-unavailable``: the registry did not answer.
- ``registry-rejected``: the registry refused the schema (incompatible with the subject's earlier
  versions, or not registered when registration is off).
"""


class WireError(Exception):
    """A record could not be encoded or decoded; ``reason`` says why in one word."""

    reason: str

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def transient(self) -> bool:
        """True when the record is not at fault and the same call may succeed later.

        A stream processor retries such a record instead of dead-lettering it: the registry being
        down says nothing about the lead.
        """
        return self.reason == "registry-unavailable"


class DecodeError(WireError):
    """Bytes that do not decode to a valid record of the expected schema.

    ``lead_id`` is the lead's id when the record decoded far enough to read one, so that a
    rejection can still be audited under it.
    """

    reason: DecodeReason

    def __init__(self, reason: DecodeReason, message: str, *, lead_id: str | None = None) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.lead_id = lead_id


class InvalidLead(DecodeError):
    """A lead that decoded (or parsed as JSON) but breaks the contract; ``field`` names where."""

    def __init__(self, field: str, problem: str, *, lead_id: str | None = None) -> None:
        super().__init__("invalid-lead", f"{field}: {problem}", lead_id=lead_id)
        self.field = field


class EncodeError(WireError):
    """A record that could not be encoded, or whose schema the registry would not give an id."""

    reason: EncodeReason

    def __init__(self, reason: EncodeReason, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
