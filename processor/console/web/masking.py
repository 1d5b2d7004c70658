"""Personal data as a viewer sees it: enough to tell two leads apart, not enough to contact anyone.

Viewers answer "where did this lead go"; they do not need the person's address book entry. Every
function here takes whatever a record holds (a string, a number, None, something else entirely)
and returns text no longer than a few hundred characters: a lead is publisher input, and a page
must neither show a person's data to a viewer nor break on a value nobody expected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

HIDDEN = "***"
DOTS = "••••"
MAX_CHARS = 320
"""The most of a value looked at: an email address is at most 254 characters."""
COORDINATE_DECIMALS = 1
"""Coordinates rounded to a tenth of a degree (about 11 km): a region, not a house."""

_PERSONAL_NAME = re.compile(
    r"name|mail|phone|mobile|cell|fax|addr|street|ssn|social|birth|dob|passport|licen[cs]e"
    r"|tax|iban|account|card|agent|comment|note|message|(^|[._-])ip($|[._-])|(^|[._-])tel",
    re.IGNORECASE,
)
"""Custom field names that look like they hold a person's data: masked for viewers, whatever
their values look like (over-masking a field costs a viewer a detail; under-masking leaks)."""


def _text(value: object) -> str:
    """``value`` as bounded text: strings and numbers as written, anything else as nothing."""
    if isinstance(value, str):
        return value[:MAX_CHARS].strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _container(value: object) -> bool:
    return isinstance(value, Mapping | list | tuple)


def mask_text(value: object) -> str:
    """A name or free text as its first letter: ``Ana`` -> ``A***``; a list or an object, where
    text belongs, hidden whole."""
    if _container(value):
        return HIDDEN if value else ""
    text = _text(value)
    return f"{text[0]}{HIDDEN}" if text else ""


def mask_email(value: object) -> str:
    """``ana@b.example`` -> ``a***@b.example``: the domain tells a work address from a free one."""
    if _container(value):
        return mask_text(value)
    text = _text(value)
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return mask_text(text)
    return f"{local[0]}{HIDDEN}@{domain}"


def mask_phone(value: object) -> str:
    """``+1 415 555 0100`` -> ``•••• 0100``: the last four digits, as on a card receipt."""
    if _container(value):
        return mask_text(value)
    digits = "".join(ch for ch in _text(value) if ch.isascii() and ch.isdigit())
    if len(digits) < 7:  # too short to be a number: its last four digits would be most of it
        return DOTS if digits else ""
    return f"{DOTS} {digits[-4:]}"


def mask_ip(value: object) -> str:
    """``203.0.113.9`` -> ``203.0.113.x``; IPv6 keeps its first three groups, ``2001:db8:1::x``:
    the network, not the machine."""
    if _container(value):
        return mask_text(value)
    text = _text(value)
    if not text:
        return ""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return HIDDEN
    if isinstance(address, ipaddress.IPv4Address):
        return ".".join(str(address).split(".")[:3]) + ".x"
    groups = [group.lstrip("0") or "0" for group in address.exploded.split(":")[:3]]
    return ":".join(groups) + "::x"


def round_coordinate(value: object) -> float | None:
    """A latitude or longitude to a tenth of a degree; None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    rounded = round(float(value), COORDINATE_DECIMALS)
    return rounded if -180.0 <= rounded <= 180.0 else None


_FIELDS: dict[str, Callable[[object], object]] = {
    "contact.first_name": mask_text,
    "contact.last_name": mask_text,
    "contact.email": mask_email,
    "contact.phone": mask_phone,
    "address.street": mask_text,
    "visitor.ip": mask_ip,
    "visitor.user_agent": mask_text,
    "visitor.lat": round_coordinate,
    "visitor.lon": round_coordinate,
    "vehicle.vin": mask_text,
    "comments": mask_text,
}
"""The lead's fields (contract section 3) that hold a person's data, and how each is masked."""

_LEAD_FIELDS = frozenset({"lead_id", "submitted_at", "site_id", "interest_category", "offer_id"})
"""The lead's own fields that name no one; any other bare name is a custom field."""
_SECTIONS = frozenset({"contact", "address", "visitor", "vehicle"})


def mask_field(path: str, value: object) -> object:
    """``value`` of the lead field at ``path`` as a viewer may see it. Custom fields (``fields.x``
    or a bare name no lead field has) are masked when their names look personal."""
    masker = _FIELDS.get(path)
    if masker is not None:
        return masker(value)
    section, dot, name = path.rpartition(".")
    custom = section == "fields" or (not dot and path not in _LEAD_FIELDS)
    return mask_text(value) if custom and _PERSONAL_NAME.search(name) else value


def masked_lead(lead: Mapping[str, Any], sees: bool) -> dict[str, Any]:
    """A ``LeadSubmitted``-shaped ``lead`` as shown to someone who ``sees`` personal data, or not.

    A section that is not an object where an object belongs (a hostile record) is hidden whole
    from viewers rather than guessed at."""
    if sees:
        return dict(lead)
    shown: dict[str, Any] = {}
    for key, value in lead.items():
        if key == "fields" and isinstance(value, Mapping):
            shown[key] = {name: mask_field(f"fields.{name}", item) for name, item in value.items()}
        elif key in _SECTIONS or key == "fields":
            shown[key] = _masked_section(key, value)
        elif isinstance(value, Mapping | list):
            shown[key] = HIDDEN
        else:
            shown[key] = mask_field(key, value)
    return shown


def _masked_section(key: str, value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return HIDDEN
    return {
        name: HIDDEN if isinstance(item, Mapping | list) else mask_field(f"{key}.{name}", item)
        for name, item in value.items()
    }


def masked_geo(geo: Mapping[str, Any] | None, sees: bool) -> dict[str, Any] | None:
    """A decision's geolocation: for viewers only its country and region, and its coordinates
    rounded, where it came from."""
    if geo is None or sees:
        return None if geo is None else dict(geo)
    return {
        "country": _text(geo.get("country")) or None,
        "region": _text(geo.get("region")) or None,
        "lat": round_coordinate(geo.get("lat")),
        "lon": round_coordinate(geo.get("lon")),
        "source": _text(geo.get("source")) or None,
    }


def masked_trace(trace: Sequence[object], sees: bool) -> list[object]:
    """A decision's trace with the lead's values in failed conditions masked for viewers: a
    condition on ``contact.email`` says what the lead had."""
    if sees:
        return list(trace)
    return [_masked_entry(entry) if isinstance(entry, Mapping) else entry for entry in trace]


def _masked_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    failed = entry.get("failed")
    if not isinstance(failed, list):
        return dict(entry)
    return {**entry, "failed": [_masked_failure(f) for f in failed]}


def _masked_failure(failure: object) -> object:
    if not isinstance(failure, Mapping):
        return failure
    field = failure.get("field")
    shown = dict(failure)
    for key in ("actual", "variable_value"):
        if key not in failure:
            continue
        value = failure[key]
        if isinstance(value, Mapping) and "distance_km" in value:  # within_km: where it was
            shown[key] = {
                **value,
                "lat": round_coordinate(value.get("lat")),
                "lon": round_coordinate(value.get("lon")),
            }
        elif not isinstance(field, str) or key == "variable_value":
            # A variable's field is not named here: its value is masked whatever it is.
            shown[key] = None if value is None else mask_text(value)
        else:
            shown[key] = mask_field(field, value)
    return shown
