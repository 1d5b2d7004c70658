"""Only public unicast addresses are looked up; every other kind is named, never raised."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.geo.publicip import PublicIp, public_ip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8.8.8.8", PublicIp("8.8.8.8", 4)),
        ("  8.8.8.8 ", PublicIp("8.8.8.8", 4)),
        ("8.8.8.8, 10.0.0.1, 172.16.0.1", PublicIp("8.8.8.8", 4)),
        ("2001:4860:4860::8888", PublicIp("2001:4860:4860::8888", 6)),
        ("::ffff:81.2.69.160", PublicIp("81.2.69.160", 4)),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("::ffff:192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::fb", "multicast"),
        ("0.0.0.0", "reserved"),
        ("::", "reserved"),
        ("192.0.2.1", "reserved"),
        ("203.0.113.9", "reserved"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("2001:db8::1", "reserved"),
        ("64:ff9b::1.2.3.4", "reserved"),
        ("", "malformed"),
        ("not an ip", "malformed"),
        ("1.2.3", "malformed"),
        ("1.2.3.256", "malformed"),
        ("01.2.3.4", "malformed"),
        ("1.2.3.4:443", "malformed"),
        ("fe80::1%eth0", "malformed"),
        ("1.2.3.4\x00", "malformed"),
        ("ü.ü.ü.ü", "malformed"),
    ],
)
def test_classification(text: str, expected: PublicIp | str) -> None:
    assert public_ip(text) == expected


@given(st.integers(0, 2**32 - 1))
def test_every_ipv4_address_the_standard_library_calls_special_is_refused(value: int) -> None:
    address = ipaddress.IPv4Address(value)
    special = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    if special:
        assert not isinstance(public_ip(str(address)), PublicIp)


@given(st.integers(0, 2**128 - 1))
def test_ipv6_addresses_outside_global_unicast_are_refused(value: int) -> None:
    address = ipaddress.IPv6Address(value)
    if address.ipv4_mapped is None and address not in ipaddress.ip_network("2000::/3"):
        assert not isinstance(public_ip(str(address)), PublicIp)


@given(st.text(max_size=60))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(public_ip(text), PublicIp | str)
