"""ADF 1.0 (Auto-lead Data Format), the XML that dealer CRMs ingest.

The document follows the ADF 1.0 structure kept as an XML Schema beside this module (``adf.xsd``)::

    <?xml version="1.0" encoding="UTF-8"?>
    <?adf version="1.0"?>
    <adf>
      <prospect status="new">
        <id sequence="1" source="SITE">LEAD ID</id>
        <id sequence="2" source="lead-router">DELIVERY ID</id>
        <requestdate>...</requestdate> <vehicle/> <customer/> <vendor/> <provider/>
      </prospect>
    </adf>

ADF requires some elements a lead may not have: a prospect has a vehicle with a year, make and
model; a contact has a name and an email or a phone; an address has a street; the vendor has a
contact. Those are always written, empty when the lead lacks the value, so that every document is
valid ADF; optional elements are left out when empty. The second prospect id is the delivery id:
the same on every re-delivery of this lead to this partner, so a CRM can drop repeats.

The processor renders every delivery, so the text is written directly rather than through an
element tree (whose serializer costs several times more): the structure is fixed and shallow, and
every value passes through the standard library's ``escape``/``quoteattr``. Characters XML 1.0
cannot carry at all (most control characters) are replaced with U+FFFD first, so the output is
always well-formed. It is indented for the people who read it in a mail client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from processor.formats.model import Facts, Format
from processor.rules.values import fold
from processor.wire.lead_json import format_timestamp

PROLOGUE = '<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>\n'

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters outside XML 1.0's ``Char`` production: no escape can carry them."""

_SPECIAL = re.compile('[&<>"\x00-\x1f\ud800-\udfff\ufffe\uffff]')
"""Characters that need escaping or replacing; most values have none and go as they are."""

_INTERESTS = (("lease", "lease"), ("trade", "trade-in"), ("sell", "sell"), ("test", "test-drive"))
"""Words in an interest category that name an ADF vehicle interest other than ``buy``."""

_USED = ("used", "pre-owned", "preowned", "certified", "cpo")
"""Words in a vehicle's condition or interest category that make its ADF status ``used``."""


def render(lead: Mapping[str, Any], facts: Facts) -> str:
    site = lead["site_id"]
    offer = lead.get("offer_id")
    return "".join(
        (
            PROLOGUE,
            "<adf>\n",
            '  <prospect status="new">\n',
            f'    <id sequence="1" source={_quoted(site)}>{_text(lead["lead_id"])}</id>\n',
            f'    <id sequence="2" source="lead-router">{_text(facts.delivery_id)}</id>\n',
            f"    <requestdate>{format_timestamp(lead['submitted_at'])}</requestdate>\n",
            _vehicle(lead),
            _customer(lead),
            _vendor(facts.vendor),
            "    <provider>\n",
            f'      <name part="full" type="business">{_text(site)}</name>\n',
            f"      <service>{_text(offer)}</service>\n" if offer else "",
            "    </provider>\n",
            "  </prospect>\n",
            "</adf>\n",
        )
    )


def _vehicle(lead: Mapping[str, Any]) -> str:
    vehicle = lead.get("vehicle") or {}
    category = fold(lead.get("interest_category") or "")
    interest = next((adf for word, adf in _INTERESTS if word in category), "buy")
    condition = fold(vehicle.get("condition") or "")
    used = any(word in (condition or category) for word in _USED)
    year = vehicle.get("year")
    return "".join(
        (
            f'    <vehicle interest="{interest}" status="{"used" if used else "new"}">\n',
            "      <year>",
            str(year) if isinstance(year, int) and 1000 <= year <= 9999 else "",
            "</year>\n",
            f"      <make>{_text(vehicle.get('make') or '')}</make>\n",
            f"      <model>{_text(vehicle.get('model') or '')}</model>\n",
            _optional("      ", "vin", vehicle.get("vin")),
            _optional("      ", "stock", vehicle.get("stock")),
            _optional("      ", "trim", vehicle.get("trim")),
            "    </vehicle>\n",
        )
    )


def _customer(lead: Mapping[str, Any]) -> str:
    person = lead.get("contact") or {}
    names = [(part, person.get(f"{part}_name")) for part in ("first", "last")]
    return "".join(
        (
            "    <customer>\n",
            _contact(
                names, person.get("email"), person.get("phone"), lead.get("address"), primary=True
            ),
            _optional("      ", "comments", lead.get("comments")),
            "    </customer>\n",
        )
    )


_VENDORS_KEPT = 1024
_vendors: dict[str, str] = {}
"""Each partner's vendor element, written once: it depends on the partner's name alone."""


def _vendor(name: str) -> str:
    text = _vendors.get(name)
    if text is None:
        if len(_vendors) >= _VENDORS_KEPT:
            _vendors.clear()
        text = _vendors[name] = "".join(
            (
                "    <vendor>\n",
                f"      <vendorname>{_text(name)}</vendorname>\n",
                _contact([("full", name)], None, None, kind="business"),
                "    </vendor>\n",
            )
        )
    return text


def _contact(
    names: list[tuple[str, str | None]],
    email: str | None,
    phone: str | None,
    address: Mapping[str, Any] | None = None,
    *,
    kind: str = "individual",
    primary: bool = False,
) -> str:
    """A contact with its names (one empty full name when none is known) and an email or a
    phone, as ADF requires, then its address when it has one."""
    parts = ['      <contact primarycontact="1">\n' if primary else "      <contact>\n"]
    given = [(part, name) for part, name in names if name]
    for part, name in given or [("full", "")]:
        parts.append(f'        <name part="{part}" type="{kind}">{_text(name)}</name>\n')
    if email or not phone:
        parts.append(f"        <email>{_text(email or '')}</email>\n")
    if phone:
        parts.append(f'        <phone type="voice">{_text(phone)}</phone>\n')
    if address and any(address.values()):
        parts.append(_address(address))
    parts.append("      </contact>\n")
    return "".join(parts)


def _address(address: Mapping[str, Any]) -> str:
    return "".join(
        (
            "        <address>\n",
            f'          <street line="1">{_text(address.get("street") or "")}</street>\n',
            _optional("          ", "city", address.get("city")),
            _optional("          ", "regioncode", address.get("state")),
            _optional("          ", "postalcode", address.get("postcode")),
            _optional("          ", "country", address.get("country")),
            "        </address>\n",
        )
    )


def _optional(indent: str, tag: str, text: str | None) -> str:
    """An optional element: nothing when the lead has no value for it."""
    return f"{indent}<{tag}>{_text(text)}</{tag}>\n" if text else ""


def _text(value: str) -> str:
    """``value`` as element content: markup escaped, what XML cannot carry replaced, and carriage
    returns kept as references (a parser would turn a bare one into a line feed)."""
    if not _SPECIAL.search(value):
        return value
    return escape(_NOT_XML.sub("\ufffd", value), {"\r": "&#13;"})


def _quoted(value: str) -> str:
    """``value`` as a quoted attribute value (line breaks and tabs kept as character references)."""
    return quoteattr(_NOT_XML.sub("\ufffd", value)) if _SPECIAL.search(value) else f'"{value}"'


FORMAT = Format("adf_xml", "application/xml; charset=utf-8", "xml", render)
