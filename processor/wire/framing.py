"""The two framings of an Avro record on Kafka, told apart by their first bytes.

Registry framing (Confluent Schema Registry)::

    0x00 | schema id: 4 bytes, big-endian | Avro binary body

Single-object encoding (Avro specification)::

    0xC3 0x01 | CRC-64-AVRO fingerprint of the writer schema: 8 bytes, little-endian | Avro body

Neither header can be mistaken for the other, and a record in any other shape is refused rather
than guessed at: a bare Avro body carries no clue to its writer schema.
"""

from __future__ import annotations

import struct
from enum import Enum

from processor.wire.errors import DecodeError


class Framing(Enum):
    REGISTRY = "registry"
    SINGLE_OBJECT = "single-object"

    # The codec looks its plans up by framing once per record. Enum hashes a member's name in
    # Python; members are singletons, so hashing by identity is as sound and done in C.
    __hash__ = object.__hash__


REGISTRY_MAGIC = 0x00
SINGLE_OBJECT_MAGIC = b"\xc3\x01"

_REGISTRY_ID = struct.Struct(">I")
_FINGERPRINT = struct.Struct("<Q")

REGISTRY_HEADER_SIZE = 1 + _REGISTRY_ID.size
SINGLE_OBJECT_HEADER_SIZE = len(SINGLE_OBJECT_MAGIC) + _FINGERPRINT.size


def read_header(data: bytes) -> tuple[Framing, int]:
    """The framing of ``data`` and its key: the schema id, or the fingerprint as an integer.

    The Avro body starts right after the header: at ``REGISTRY_HEADER_SIZE`` or
    ``SINGLE_OBJECT_HEADER_SIZE``.
    """
    size = len(data)
    if size == 0:
        raise DecodeError("empty", "the record has no bytes")
    first = data[0]
    if first == REGISTRY_MAGIC:
        if size < REGISTRY_HEADER_SIZE:
            raise DecodeError(
                "truncated", f"registry framing needs a 5-byte header, the record has {size}"
            )
        return Framing.REGISTRY, _REGISTRY_ID.unpack_from(data, 1)[0]
    if first == SINGLE_OBJECT_MAGIC[0] and (size == 1 or data[1] == SINGLE_OBJECT_MAGIC[1]):
        if size < SINGLE_OBJECT_HEADER_SIZE:
            raise DecodeError(
                "truncated",
                f"single-object encoding needs a 10-byte header, the record has {size}",
            )
        return Framing.SINGLE_OBJECT, _FINGERPRINT.unpack_from(data, 2)[0]
    raise DecodeError(
        "unknown-framing",
        f"the record starts with 0x{data[:2].hex()}: neither registry framing (0x00) "
        "nor single-object encoding (0xc301)",
    )


def registry_header(schema_id: int) -> bytes:
    return bytes((REGISTRY_MAGIC,)) + _REGISTRY_ID.pack(schema_id)


def single_object_header(fingerprint: int) -> bytes:
    return SINGLE_OBJECT_MAGIC + _FINGERPRINT.pack(fingerprint)
