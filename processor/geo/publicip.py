"""Which IP addresses can say where a visitor is: public unicast ones, and nothing else.

Private, loopback, link-local, multicast, documentation and other reserved addresses locate no one,
and a database that happens to map them must not be believed. The check runs on every lead with an
IP address, so it parses with ``socket.inet_pton`` and compares integers against sorted ranges:
``ipaddress.ip_address`` alone costs longer than the whole database lookup.
"""

from __future__ import annotations

import socket
from bisect import bisect_right
from ipaddress import ip_network
from typing import NamedTuple


class PublicIp(NamedTuple):
    """A public address in the text form the database reader takes, and its IP version."""

    text: str
    version: int


def _ranges(networks: dict[str, str]) -> list[tuple[int, int, str]]:
    """Non-overlapping networks as ``(first, last, kind)`` integer spans, sorted for bisection."""
    spans = []
    for cidr, kind in networks.items():
        network = ip_network(cidr)
        spans.append((int(network.network_address), int(network.broadcast_address), kind))
    return sorted(spans)


_V4 = _ranges(
    {
        "0.0.0.0/8": "reserved",
        "10.0.0.0/8": "private",
        "100.64.0.0/10": "private",  # carrier-grade NAT, shared by many subscribers
        "127.0.0.0/8": "loopback",
        "169.254.0.0/16": "link-local",
        "172.16.0.0/12": "private",
        "192.0.0.0/24": "reserved",
        "192.0.2.0/24": "reserved",
        "192.88.99.0/24": "reserved",
        "192.168.0.0/16": "private",
        "198.18.0.0/15": "reserved",
        "198.51.100.0/24": "reserved",
        "203.0.113.0/24": "reserved",
        "224.0.0.0/4": "multicast",
        "240.0.0.0/4": "reserved",
    }
)
_V6 = _ranges(
    {
        "::1/128": "loopback",
        "2001::/23": "reserved",
        "2001:db8::/32": "reserved",
        "3fff::/20": "reserved",
        "fc00::/7": "private",
        "fe80::/10": "link-local",
        "ff00::/8": "multicast",
    }
)
_V4_STARTS = [start for start, _, _ in _V4]
_V6_STARTS = [start for start, _, _ in _V6]
_V4_MAPPED_PREFIX = 0xFFFF
"""``::ffff:0:0/96``: an IPv4 address written as IPv6, looked up as the IPv4 address it carries."""
_GLOBAL_UNICAST_TOP_BITS = 0b001
"""``2000::/3``, the only IPv6 space allocated for public unicast; everything else is reserved."""


def _kind(value: int, starts: list[int], spans: list[tuple[int, int, str]]) -> str | None:
    at = bisect_right(starts, value) - 1
    if at >= 0 and value <= spans[at][1]:
        return spans[at][2]
    return None


def public_ip(text: str) -> PublicIp | str:
    """The address in ``text`` when it is public, else why not.

    The reason is one word or two: "malformed", "private", "loopback", "link-local",
    "multicast" or "reserved". ``text`` may be a forwarded-for list ("client, proxy, ..."): the
    first entry is the client, so that is the one judged.
    """
    candidate = (text.split(",", 1)[0] if "," in text else text).strip()
    try:
        if ":" not in candidate:
            packed = socket.inet_pton(socket.AF_INET, candidate)
            return _kind(int.from_bytes(packed), _V4_STARTS, _V4) or PublicIp(candidate, 4)
        packed = socket.inet_pton(socket.AF_INET6, candidate)
    except (OSError, ValueError):
        return "malformed"
    value = int.from_bytes(packed)
    if value >> 32 == _V4_MAPPED_PREFIX:
        return _kind(value & 0xFFFFFFFF, _V4_STARTS, _V4) or PublicIp(
            socket.inet_ntop(socket.AF_INET, packed[12:]), 4
        )
    if value >> 125 != _GLOBAL_UNICAST_TOP_BITS:
        return _kind(value, _V6_STARTS, _V6) or "reserved"
    return _kind(value, _V6_STARTS, _V6) or PublicIp(candidate, 6)
