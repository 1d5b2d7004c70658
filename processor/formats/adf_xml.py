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


class _Document:
    """The document's text, written element by element at the current depth."""

    def __init__(self) -> None:
        self._parts = [PROLOGUE]
        self._indent = ""

    def open(self, tag: str, attributes: str = "") -> None:
        self._parts.append(f"{self._indent}<{tag}{attributes}>\n")
        self._indent += "  "

    def close(self, tag: str) -> None:
        self._indent = self._indent[:-2]
        self._parts.append(f"{self._indent}</{tag}>\n")

    def add(self, tag: str, text: str, attributes: str = "") -> None:
        """An element with text; ``attributes`` is written as it is (see :func:`_attribute`)."""
        self._parts.append(f"{self._indent}<{tag}{attributes}>{_text(text)}</{tag}>\n")

    def optional(self, tag: str, text: str | None, attributes: str = "") -> None:
        if text:
            self.add(tag, text, attributes)

    def text(self) -> str:
        return "".join(self._parts)


def render(lead: Mapping[str, Any], facts: Facts) -> str:
    doc = _Document()
    doc.open("adf")
    doc.open("prospect", ' status="new"')
    doc.add("id", lead["lead_id"], ' sequence="1"' + _attribute("source", lead["site_id"]))
    doc.add("id", facts.delivery_id, ' sequence="2" source="lead-router"')
    doc.add("requestdate", format_timestamp(lead["submitted_at"]))
    _vehicle(doc, lead)
    _customer(doc, lead)
    doc.open("vendor")
    doc.add("vendorname", facts.vendor)
    _contact(doc, [("full", facts.vendor)], None, None, kind="business")
    doc.close("vendor")
    doc.open("provider")
    doc.add("name", lead["site_id"], ' part="full" type="business"')
    doc.optional("service", lead.get("offer_id"))
    doc.close("provider")
    doc.close("prospect")
    doc.close("adf")
    return doc.text()


def _vehicle(doc: _Document, lead: Mapping[str, Any]) -> None:
    vehicle = lead.get("vehicle") or {}
    category = fold(lead.get("interest_category") or "")
    interest = next((adf for word, adf in _INTERESTS if word in category), "buy")
    condition = fold(vehicle.get("condition") or "")
    used = any(word in (condition or category) for word in _USED)
    doc.open("vehicle", f' interest="{interest}" status="{"used" if used else "new"}"')
    year = vehicle.get("year")
    doc.add("year", str(year) if isinstance(year, int) and 1000 <= year <= 9999 else "")
    doc.add("make", vehicle.get("make") or "")
    doc.add("model", vehicle.get("model") or "")
    for tag in ("vin", "stock", "trim"):
        doc.optional(tag, vehicle.get(tag))
    doc.close("vehicle")


def _customer(doc: _Document, lead: Mapping[str, Any]) -> None:
    doc.open("customer")
    person = lead.get("contact") or {}
    names = [(part, person.get(f"{part}_name")) for part in ("first", "last")]
    _contact(
        doc, names, person.get("email"), person.get("phone"), lead.get("address"), primary=True
    )
    doc.optional("comments", lead.get("comments"))
    doc.close("customer")


def _contact(
    doc: _Document,
    names: list[tuple[str, str | None]],
    email: str | None,
    phone: str | None,
    address: Mapping[str, Any] | None = None,
    *,
    kind: str = "individual",
    primary: bool = False,
) -> None:
    """A contact with its names (one empty full name when none is known) and an email or a
    phone, as ADF requires, then its address when it has one."""
    doc.open("contact", ' primarycontact="1"' if primary else "")
    given = [(part, name) for part, name in names if name]
    for part, name in given or [("full", "")]:
        doc.add("name", name, f' part="{part}" type="{kind}"')
    if email or not phone:
        doc.add("email", email or "")
    doc.optional("phone", phone, ' type="voice"')
    if address and any(address.values()):
        _address(doc, address)
    doc.close("contact")


def _address(doc: _Document, address: Mapping[str, Any]) -> None:
    doc.open("address")
    doc.add("street", address.get("street") or "", ' line="1"')
    doc.optional("city", address.get("city"))
    doc.optional("regioncode", address.get("state"))
    doc.optional("postalcode", address.get("postcode"))
    doc.optional("country", address.get("country"))
    doc.close("address")


def _attribute(name: str, value: str) -> str:
    """A value from the lead as an attribute; the others are constants written in place."""
    return f" {name}={_quoted(value)}"


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
