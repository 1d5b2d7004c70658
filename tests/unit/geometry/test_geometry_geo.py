"""Geo.as_dict is written out by hand for speed: it must still carry every field."""

from __future__ import annotations

from dataclasses import asdict

from processor.geometry.geo import Geo


def test_as_dict_equals_the_dataclass_fields() -> None:
    geo = Geo(42.36, -71.06, "ip", "US", "MA", "Boston", "02108", 50.0)
    assert geo.as_dict() == asdict(geo)
