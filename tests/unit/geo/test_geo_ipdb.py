"""IP lookups in MMDB files of DB-IP's layout and of the GeoIP2 City layout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MmdbF32

from processor.errors import InvalidInput
from processor.geo.ipdb import CITY_ACCURACY_KM, IpDatabase
from processor.geometry.geo import Geo


@pytest.fixture
def database(dbip_dir: Path) -> Iterator[IpDatabase]:
    db = IpDatabase(dbip_dir)
    yield db
    db.close()


def test_ipv4_lookup_reads_the_dbip_record(database: IpDatabase) -> None:
    geo = database.locate("8.8.8.8")
    assert isinstance(geo, Geo)
    assert (geo.source, geo.country, geo.region, geo.city) == ("ip", "US", "CA", "Mountain View")
    assert geo.lat == pytest.approx(37.422, abs=1e-4)
    assert geo.lon == pytest.approx(-122.085, abs=1e-4)
    assert geo.postcode is None  # DB-IP's free database leaves it empty
    assert geo.accuracy_km == CITY_ACCURACY_KM


def test_region_outside_the_us_is_kept_as_named_and_postcode_is_read(
    database: IpDatabase,
) -> None:
    geo = database.locate("81.2.69.160")
    assert isinstance(geo, Geo)
    assert (geo.country, geo.region, geo.city, geo.postcode) == (
        "DE",
        "Land Berlin",
        "Berlin",
        "10115",
    )


def test_ipv6_lookup_uses_the_ipv6_file(database: IpDatabase) -> None:
    geo = database.locate("2001:4860:4860::8888")
    assert isinstance(geo, Geo)
    assert (geo.country, geo.city) == ("CA", "Montreal")


def test_ipv4_mapped_ipv6_is_looked_up_as_ipv4(database: IpDatabase) -> None:
    geo = database.locate("::ffff:8.8.8.8")
    assert isinstance(geo, Geo) and geo.city == "Mountain View"


@pytest.mark.parametrize(
    ("ip", "note"),
    [
        ("10.1.2.3", "visitor ip is private"),
        ("127.0.0.1", "visitor ip is loopback"),
        ("240.1.2.3", "visitor ip is reserved"),
        ("not-an-ip", "visitor ip is malformed"),
        ("9.9.9.9", "visitor ip has no location in the database"),
        ("2a00::1", "visitor ip has no location in the database"),
        ("5.5.5.5", "visitor ip has no location in the database"),  # latitude 123
        ("6.6.6.6", "visitor ip has no location in the database"),  # no coordinates
    ],
)
def test_unusable_addresses_give_a_reason_without_the_address(
    database: IpDatabase, ip: str, note: str
) -> None:
    assert database.locate(ip) == note


def test_a_single_ipv4_file_cannot_answer_ipv6(
    tmp_path: Path, mmdb: Callable[..., Path], record: Callable[..., dict[str, Any]]
) -> None:
    path = mmdb(tmp_path / "v4.mmdb", 4, {"8.8.8.0/24": record("X", "US", "Texas", 30.0, -97.0)})
    database = IpDatabase(path)
    assert isinstance(database.locate("8.8.8.8"), Geo)
    assert database.locate("2001:4860::1") == "no IPv6 database"


def test_geoip2_city_layout_in_one_ipv6_file_answers_both_versions(
    tmp_path: Path, mmdb: Callable[..., Path]
) -> None:
    def city(name: str, country: str, region: str, lat: float, lon: float) -> dict[str, Any]:
        return {
            "city": {"names": {"en": name}},
            "country": {"iso_code": country},
            "subdivisions": [{"iso_code": "x", "names": {"en": region}}],
            "postal": {"code": "94043"},
            "location": {"latitude": lat, "longitude": lon, "accuracy_radius": 20},
        }

    path = mmdb(
        tmp_path / "GeoLite2-City.mmdb",
        6,
        {
            "::8.8.8.0/120": city("Mountain View", "US", "California", 37.4, -122.1),
            "2001:4860::/32": city("Frankfurt", "DE", "Hesse", 50.1, 8.7),
        },
    )
    database = IpDatabase(path)
    v4, v6 = database.locate("8.8.8.8"), database.locate("2001:4860::1")
    assert v4 == Geo(37.4, -122.1, "ip", "US", "CA", "Mountain View", "94043", 20.0)
    assert v6 == Geo(50.1, 8.7, "ip", "DE", "Hesse", "Frankfurt", "94043", 20.0)


def test_a_record_without_a_city_claims_no_accuracy(
    tmp_path: Path, mmdb: Callable[..., Path]
) -> None:
    path = mmdb(
        tmp_path / "v4.mmdb",
        4,
        {
            "8.8.8.0/24": {
                "country_code": "us",
                "latitude": MmdbF32(39.0),
                "longitude": MmdbF32(-98.0),
            }
        },
    )
    geo = IpDatabase(path).locate("8.8.8.8")
    assert isinstance(geo, Geo)
    assert (geo.country, geo.city, geo.accuracy_km) == ("US", None, None)


def test_opening_problems_are_user_errors(tmp_path: Path, mmdb: Callable[..., Path]) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        IpDatabase(tmp_path / "missing")
    with pytest.raises(InvalidInput, match=r"no \.mmdb file"):
        IpDatabase(tmp_path)
    (tmp_path / "junk.mmdb").write_bytes(b"not a database")
    with pytest.raises(InvalidInput, match="not a readable MaxMind database"):
        IpDatabase(tmp_path / "junk.mmdb")
    twins = tmp_path / "twins"
    twins.mkdir()
    mmdb(twins / "a.mmdb", 4, {})
    mmdb(twins / "b.mmdb", 4, {})
    with pytest.raises(InvalidInput, match="more than one IPv4 database"):
        IpDatabase(twins)
