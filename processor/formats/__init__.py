"""Partner payloads: each delivery rendered in the format the partner's receiving system expects.

A partner's ``format`` in the rules names one of :data:`FORMATS`; :func:`render` turns a lead and
the routing facts of its delivery into the payload text and its content type. The processor
renders once per delivery and carries the payload in the ``LeadDelivery`` record; the reference
delivery worker renders it again from the record's lead with the rules in force, since it trusts
no payload it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.formats import adf_xml, json, text
from processor.formats.model import Facts, Format, Rendered, UnknownFormat

FORMATS: Mapping[str, Format] = {
    spec.name: spec for spec in (adf_xml.FORMAT, json.FORMAT, text.FORMAT)
}
"""Every payload format by the name partners give in the rules."""


def format_named(name: str) -> Format:
    """The format called ``name``; :class:`UnknownFormat` for a name the rules never allow."""
    spec = FORMATS.get(name)
    if spec is None:
        raise UnknownFormat(f"unknown payload format {name!r}; known: {', '.join(FORMATS)}")
    return spec


def render(format_name: str, lead: Mapping[str, Any], facts: Facts) -> Rendered:
    """The payload of one delivery of ``lead`` (a ``LeadSubmitted`` record) in ``format_name``."""
    spec = format_named(format_name)
    return Rendered(spec.render(lead, facts), spec.content_type)


__all__ = ["FORMATS", "Facts", "Format", "Rendered", "UnknownFormat", "format_named", "render"]
