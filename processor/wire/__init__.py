"""Avro on the wire: lead-router's schemas, both framings, and the contract's JSON lead.

``Codec`` decodes input records (registry framing or single-object encoding, told apart by their
first bytes) and encodes output records (registry framing when a registry is configured,
single-object encoding otherwise). Bad bytes raise ``DecodeError`` and nothing else, with a
one-word ``reason`` for the dead-letter topic. ``lead_from_json`` and ``lead_to_json`` convert the
JSON lead that ``dry-run`` reads to and from the record the stream carries.
"""

from processor.wire.codec import Codec
from processor.wire.errors import (
    DecodeError,
    DecodeReason,
    EncodeError,
    EncodeReason,
    InvalidLead,
    WireError,
)
from processor.wire.lead import validate_lead
from processor.wire.lead_json import lead_from_json, lead_to_json
from processor.wire.schemas import NAMESPACE, SCHEMA_NAMES, SchemaName, WireSchema, load_schemas

__all__ = [
    "NAMESPACE",
    "SCHEMA_NAMES",
    "Codec",
    "DecodeError",
    "DecodeReason",
    "EncodeError",
    "EncodeReason",
    "InvalidLead",
    "SchemaName",
    "WireError",
    "WireSchema",
    "lead_from_json",
    "lead_to_json",
    "load_schemas",
    "validate_lead",
]
