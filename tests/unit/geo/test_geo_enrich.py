"""Enrichment picks the best usable source, notes why others were passed over, never raises,
and gives each source's location on its own when asked."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.errors import InvalidInput
from processor.geo.enrich import COORDS_ACCURACY_KM, Enricher, Finder, Located, Whereabouts
from processor.geometry.geo import Geo, GeoSource


@pytest.fixture
def enricher(dbip_dir: Path, geonames_file: Path) -> Iterator[Enricher]:
    enricher = Enricher(ip_db=dbip_dir, postcodes=geonames_file)
    yield enricher
    enricher.close()


def lead(
    visitor: dict[str, Any] | None = None, address: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"lead_id": "L1", "site_id": "s", "visitor": visitor, "address": address}


def test_coordinates_win_over_ip_and_postcode(enricher: Enricher) -> None:
    located = enricher.locate(
        lead({"lat": 40.7, "lon": -74.0, "ip": "8.8.8.8"}, {"postcode": "02134", "country": "US"})
    )
    assert located == Located(Geo(40.7, -74.0, "coords", accuracy_km=COORDS_ACCURACY_KM), ())


def test_numeric_string_coordinates_are_accepted(enricher: Enricher) -> None:
    geo = enricher.locate(lead({"lat": "40.7", "lon": "-74.0"})).geo
    assert geo is not None and (geo.lat, geo.lon, geo.source) == (40.7, -74.0, "coords")


def test_ip_is_used_when_there_are_no_coordinates(enricher: Enricher) -> None:
    located = enricher.locate(lead({"ip": "8.8.8.8"}, {"postcode": "02134"}))
    assert located.geo is not None
    assert (located.geo.source, located.geo.city, located.geo.region) == (
        "ip",
        "Mountain View",
        "CA",
    )
    assert located.notes == ()


def test_postcode_is_the_last_resort(enricher: Enricher) -> None:
    located = enricher.locate(lead(None, {"postcode": "10115", "country": "Germany"}))
    assert located.geo is not None
    assert (located.geo.source, located.geo.country, located.geo.postcode) == (
        "postcode",
        "DE",
        "10115",
    )


def test_a_numeric_postcode_is_read_as_text(enricher: Enricher) -> None:
    geo = enricher.locate(lead(None, {"postcode": 90210})).geo
    assert geo is not None and geo.postcode == "90210"


@pytest.mark.parametrize(
    ("visitor", "note"),
    [
        ({"lat": 123.0, "lon": 5.0}, "visitor coordinates out of range (lat 123.0)"),
        ({"lat": 45.0, "lon": 500}, "visitor coordinates out of range (lon 500.0)"),
        ({"lat": "north", "lon": 5.0}, "visitor coordinates not numbers"),
        ({"lat": True, "lon": 5.0}, "visitor coordinates not numbers"),
        ({"lat": 45.0}, "visitor coordinates incomplete (no lon)"),
        ({"lat": " ", "lon": 5.0}, "visitor coordinates incomplete (no lat)"),
        ({"lat": 0, "lon": 0}, "visitor coordinates are (0, 0), a placeholder"),
        ({"ip": "10.0.0.7"}, "visitor ip is private"),
        ({"ip": "192.0.2.1"}, "visitor ip is reserved"),
        ({"ip": "::1"}, "visitor ip is loopback"),
        ({"ip": "999.1.1.1"}, "visitor ip is malformed"),
        ({"ip": 1234}, "visitor ip is malformed"),
        ({"ip": "9.9.9.9"}, "visitor ip has no location in the database"),
    ],
)
def test_bad_visitor_input_falls_through_to_the_postcode_with_a_note(
    enricher: Enricher, visitor: dict[str, Any], note: str
) -> None:
    located = enricher.locate(lead(visitor, {"postcode": "02134", "country": "US"}))
    assert located.geo is not None and located.geo.source == "postcode"
    assert located.notes == (note,)


@pytest.mark.parametrize(
    ("address", "note"),
    [
        ({"postcode": "99999", "country": "US"}, "postcode 99999 (US) unknown"),
        (
            {"postcode": "12345", "country": "Atlantis"},
            "postcode 12345: country 'Atlantis' unknown",
        ),
        ({"postcode": "SW1A 1AA"}, "postcode SW1A 1AA has no country"),
        ({"postcode": 12.5}, "postcode is not text"),
        ({"postcode": "x" * 100, "country": "US"}, "postcode is too long to be one"),
    ],
)
def test_bad_postcodes_give_no_geo_and_a_note(
    enricher: Enricher, address: dict[str, Any], note: str
) -> None:
    assert enricher.locate(lead(None, address)) == Located(None, (note,))


def test_every_failed_source_is_noted_in_order(enricher: Enricher) -> None:
    located = enricher.locate(
        lead({"lat": 91, "lon": 0, "ip": "10.1.1.1"}, {"postcode": "99999", "country": "US"})
    )
    assert located == Located(
        None,
        (
            "visitor coordinates out of range (lat 91.0)",
            "visitor ip is private",
            "postcode 99999 (US) unknown",
        ),
    )


@pytest.mark.parametrize(
    "value",
    [
        {"lead_id": "L1"},
        lead(None, None),
        lead({"ip": None, "lat": None, "lon": None}, {"postcode": None, "country": "US"}),
        {"lead_id": "L1", "visitor": "8.8.8.8", "address": ["02134"]},
    ],
)
def test_a_lead_with_nothing_to_locate_says_so(enricher: Enricher, value: dict[str, Any]) -> None:
    assert enricher.locate(value) == Located(
        None, ("no visitor coordinates, ip address or postcode",)
    )


def test_without_an_ip_database_the_ip_is_passed_over_with_a_note() -> None:
    located = Enricher().locate(lead({"ip": "8.8.8.8"}, {"postcode": "02134"}))
    assert located.geo is not None and located.geo.source == "postcode"
    assert located.notes == ("visitor ip not looked up: no IP database configured",)


def test_a_bad_ip_database_setting_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        Enricher(ip_db=tmp_path / "nowhere")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
SAMPLE_IPS = ["8.8.8.8", "10.0.0.1", "2001:4860::1"]
ips = st.one_of(json_values, st.sampled_from(SAMPLE_IPS))
field = st.one_of(json_values, st.sampled_from(["02134", "SW1A 1AA", "US", "Germany", "40.7"]))


# The enricher is never mutated by ``locate``, so sharing one across examples is sound.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    visitor=st.one_of(
        json_values, st.fixed_dictionaries({}, optional={"ip": ips, "lat": field, "lon": field})
    ),
    address=st.one_of(
        json_values, st.fixed_dictionaries({}, optional={"postcode": field, "country": field})
    ),
)
def test_any_lead_is_located_or_explained_never_an_exception(
    enricher: Enricher, visitor: Any, address: Any
) -> None:
    located = enricher.locate({"lead_id": "L1", "visitor": visitor, "address": address})
    assert located.geo is not None or located.notes
    if isinstance(visitor, dict) and visitor.get("ip") in SAMPLE_IPS:
        assert visitor["ip"] not in json.dumps(located.notes)


def test_each_source_is_looked_up_once_and_only_when_asked_for() -> None:
    asked: list[str] = []

    def finder(source: GeoSource, found: Geo | str | None) -> Finder:
        def find(lead: Mapping[str, Any]) -> Geo | str | None:
            asked.append(source)
            return found

        return find

    postcode = Geo(52.52, 13.4, "postcode")
    whereabouts = Whereabouts(
        lead(),
        {
            "coords": finder("coords", "visitor coordinates not numbers"),
            "ip": finder("ip", None),
            "postcode": finder("postcode", postcode),
        },
    )
    assert whereabouts.at("postcode") == postcode
    assert asked == ["postcode"]
    assert whereabouts.located() == Located(postcode, ("visitor coordinates not numbers",))
    assert whereabouts.at("coords") is None and whereabouts.at("ip") is None
    assert asked == ["postcode", "coords", "ip"]


def test_whereabouts_give_each_sources_own_location(enricher: Enricher) -> None:
    whereabouts = enricher.whereabouts(
        lead({"ip": "8.8.8.8"}, {"postcode": "10115", "country": "DE"})
    )
    ip, postcode = whereabouts.at("ip"), whereabouts.at("postcode")
    assert ip is not None and (ip.source, ip.city) == ("ip", "Mountain View")
    assert postcode is not None and (postcode.source, postcode.country) == ("postcode", "DE")
    assert whereabouts.at("coords") is None
    assert whereabouts.located().geo == ip
