"""Who a lead is, as duplicate checks compare it: normalised keys, kept only as salted hashes.

A duplicate check compares a lead's keys (``contact.email``, ``contact.phone``, any field path)
with those of earlier leads. The values are normalised first, so that ``Ann@Example.com `` and
``ann@example.com`` are one person, and ``(415) 555-0100`` and ``+1 415 555 0100`` one phone:
strings are trimmed and case-folded, phone numbers written in E.164 (region from
``address.country``, else US). What is remembered is a keyed BLAKE2b digest of the path and the
normalised value, with a salt that only the state store holds: the memory says whether a person
was seen, never who.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from hashlib import blake2b

import phonenumbers

from processor.geometry.geo import Geo
from processor.rules.fields import GEO, parse_field
from processor.rules.values import display_text

DEFAULT_KEYS = ("contact.email", "contact.phone")
"""Who a partner's ``reject_duplicates_within`` compares when the profile names no keys."""

DEFAULT_REGION = "US"
DIGEST_BYTES = 16
_PHONE_FIELDS = frozenset({"contact.phone"})
_field = lru_cache(maxsize=256)(parse_field)
"""A key's field path resolved once: the few paths rules name recur with every lead."""


def value_at(lead: Mapping[str, object], geo: Geo | None, path: str) -> object:
    """The lead's value at a field path (``contact.email``, ``geo.postcode``, a custom field)."""
    ref = _field(path)
    if isinstance(ref, str):
        return None
    if ref.section is None:
        return lead.get(ref.key or "")
    if ref.section == GEO:
        return None if geo is None or ref.key is None else getattr(geo, ref.key, None)
    section = lead.get(ref.section)
    return section.get(ref.key or "") if isinstance(section, Mapping) else None


def normalised(lead: Mapping[str, object], geo: Geo | None, path: str) -> str | None:
    """The key's comparable text, or None when it is empty (an empty key never matches)."""
    text = display_text(value_at(lead, geo, path))
    if text is None:
        return None
    if path in _PHONE_FIELDS:
        return _e164(text, _region(lead))
    return text.casefold()


def _region(lead: Mapping[str, object]) -> str:
    address = lead.get("address")
    country = address.get("country") if isinstance(address, Mapping) else None
    if isinstance(country, str) and len(country.strip()) == 2 and country.strip().isalpha():
        return country.strip().upper()
    return DEFAULT_REGION


def _e164(text: str, region: str) -> str:
    """A phone number in E.164; one that does not parse is compared by its digits alone."""
    return _north_american(text, region) or _parsed(text, region)


_SEPARATORS = str.maketrans("", "", " ()-.")


def _north_american(text: str, region: str) -> str | None:
    """The E.164 form of a North American number written plainly (ten digits with an area code
    that starts 2-9, separated by spaces, dashes, dots or parentheses, after ``+1`` or, in the
    default region, alone), as the parser gives it at a fraction of its cost; None for any other
    text, which is parsed."""
    if text.startswith("+1"):
        national = text[2:]
    elif region == DEFAULT_REGION:
        national = text
    else:
        return None
    digits = national.translate(_SEPARATORS)
    if len(digits) == 10 and digits.isascii() and digits.isdigit() and digits[0] not in "01":
        return "+1" + digits
    return None


def _parsed(text: str, region: str) -> str:
    """:func:`_e164` by the parser."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits or text.casefold()


def fingerprints(
    lead: Mapping[str, object], geo: Geo | None, keys: Sequence[str], salt: bytes
) -> tuple[bytes, ...]:
    """The salted digests of the lead's non-empty keys, one per key, in the order given."""
    found = []
    for path in keys:
        text = normalised(lead, geo, path)
        if text is not None:
            digest = blake2b(f"{path}\x1f{text}".encode(), key=salt, digest_size=DIGEST_BYTES)
            found.append(digest.digest())
    return tuple(found)
