"""Headers of both framings: byte layouts, and how short or foreign bytes are refused."""

from __future__ import annotations

import pytest

from processor.wire import DecodeError
from processor.wire.framing import (
    Framing,
    read_header,
    registry_header,
    single_object_header,
)


def test_registry_header_is_zero_then_the_id_big_endian() -> None:
    assert registry_header(0x01020304) == b"\x00\x01\x02\x03\x04"
    assert read_header(b"\x00\x01\x02\x03\x04body") == (Framing.REGISTRY, 0x01020304)


def test_single_object_header_is_c301_then_the_fingerprint_little_endian() -> None:
    header = single_object_header(0x0102030405060708)
    assert header == b"\xc3\x01\x08\x07\x06\x05\x04\x03\x02\x01"
    assert read_header(header + b"body") == (Framing.SINGLE_OBJECT, 0x0102030405060708)


def test_a_header_alone_is_complete() -> None:
    assert read_header(registry_header(7)) == (Framing.REGISTRY, 7)
    assert read_header(single_object_header(7)) == (Framing.SINGLE_OBJECT, 7)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\x00", "truncated"),
        (b"\x00\x00\x00\x01", "truncated"),
        (b"\xc3", "truncated"),
        (b"\xc3\x01\x01\x02\x03\x04\x05\x06\x07", "truncated"),
        (b"\x01\x00\x00\x00\x01", "unknown-framing"),
        (b"\xc3\x02\x00\x00\x00\x00\x00\x00\x00\x00", "unknown-framing"),
        (b'{"lead_id": "x"}', "unknown-framing"),
        (b"\x02\x06abc", "unknown-framing"),
    ],
)
def test_bytes_in_neither_framing_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as raised:
        read_header(data)
    assert raised.value.reason == reason
