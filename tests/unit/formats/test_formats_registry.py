"""The formats partners can name, and the facts a delivery record gives them."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from processor.errors import UserError
from processor.formats import FORMATS, Facts, UnknownFormat, format_named, render
from processor.rules.document import Partner


def test_every_format_the_rules_allow_is_rendered() -> None:
    allowed = get_args(Partner.model_fields["format"].annotation)
    assert set(FORMATS) == set(allowed)
    assert {name: (f.content_type, f.extension) for name, f in FORMATS.items()} == {
        "adf_xml": ("application/xml; charset=utf-8", "xml"),
        "json": ("application/json", "json"),
        "text": ("text/plain; charset=utf-8", "txt"),
    }


def test_an_unknown_format_is_a_user_error(minimal: dict[str, Any], facts: Facts) -> None:
    with pytest.raises(UnknownFormat, match="'csv'") as raised:
        render("csv", minimal, facts)
    assert isinstance(raised.value, UserError)
    assert format_named("json") is FORMATS["json"]


def test_facts_come_from_a_delivery_record(facts: Facts) -> None:
    record = {name: getattr(facts, name) for name in Facts.__slots__} | {"lead": {}, "geo": None}
    assert Facts.of(record) == facts
    assert Facts.of({**record, "partner_name": None}).vendor == "crm-east"
