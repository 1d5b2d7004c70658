"""Geolocation enrichment: where a lead's visitor is, from the best source the lead carries.

The lead's ``geo`` comes from the sources in order of precision: the visitor's own coordinates,
then the visitor's IP address in the IP database, then the centroid of the address postcode. The
first that gives a point wins. A source that is present but unusable (coordinates out of range, a
private IP address, an unknown postcode) gives a note for the decision trace and the next source is
tried; bad input never raises. Notes never quote an IP address, which is personal data.

Nearest-store routing trusts the sources in an order of the profile's choosing (a typed postcode
over an IP address that a VPN moves), so :class:`Whereabouts` gives each source's location on its
own as well, each looked up at most once per lead and only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processor.geo.ipdb import IpDatabase
from processor.geo.postcodes import PostcodeTable
from processor.geometry.geo import Geo, GeoSource
from processor.geometry.points import as_point

COORDS_ACCURACY_KM = 1.0
"""How far the visitor's own coordinates may be off: browsers report GPS or Wi-Fi positions, good to
well under a kilometre, but a form gives no accuracy of its own."""


@dataclass(frozen=True, slots=True)
class Located:
    """Where a lead's visitor is (None when no source says), and why sources were passed over."""

    geo: Geo | None
    notes: tuple[str, ...] = ()


Finder = Callable[[Mapping[str, Any]], Geo | str | None]
"""One source's reading of a lead: a point, a note on why it gives none, or None when absent."""

PRECISION: tuple[GeoSource, ...] = ("coords", "ip", "postcode")
"""The order in which sources give the lead's ``geo``."""


class Whereabouts:
    """One lead's locations by source, each looked up at most once, when first asked for.

    Built by :meth:`Enricher.whereabouts`; lives as long as the lead's routing.
    """

    __slots__ = ("_finders", "_found", "_lead")

    def __init__(self, lead: Mapping[str, Any], finders: Mapping[GeoSource, Finder]) -> None:
        self._lead = lead
        self._finders = finders
        self._found: dict[GeoSource, Geo | str | None] = {}

    def _find(self, source: GeoSource) -> Geo | str | None:
        if source not in self._found:
            self._found[source] = self._finders[source](self._lead)
        return self._found[source]

    def at(self, source: GeoSource) -> Geo | None:
        """Where ``source`` places the visitor, or None when the lead has no usable such source."""
        found = self._find(source)
        return found if isinstance(found, Geo) else None

    def located(self) -> Located:
        """The lead's ``geo``: the most precise usable source, with notes on those passed over."""
        notes: list[str] = []
        for source in PRECISION:
            found = self._find(source)
            if isinstance(found, Geo):
                return Located(found, tuple(notes))
            if found is not None:
                notes.append(found)
        return Located(None, tuple(notes) or ("no visitor coordinates, ip address or postcode",))


def _part(lead: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The ``visitor`` or ``address`` object of a lead; absent, null or malformed reads as empty."""
    part = lead.get(name)
    # A decoded lead's parts are dicts: the type test spares the abstract class's check.
    return part if type(part) is dict or isinstance(part, Mapping) else {}


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


class Enricher:
    """Locates leads; holds the memory-mapped IP database and the postcode table.

    ``ip_db`` is the ``GEO_IP_DB`` setting: a directory of ``.mmdb`` files (what
    ``lead-router geo fetch`` writes) or a single ``.mmdb`` file; without it the IP source is
    skipped with a note. ``postcodes`` is a GeoNames postal code file for countries other than the
    US, whose ZIP codes are always known. The first one built in a process loads the ZIP code
    table (about half a second); build one and share it: ``locate`` never mutates it.
    """

    def __init__(self, ip_db: Path | None = None, postcodes: Path | None = None) -> None:
        self._postcodes = PostcodeTable(postcodes)
        self._ip = IpDatabase(ip_db) if ip_db is not None else None
        self._finders: Mapping[GeoSource, Finder] = {
            "coords": self._from_coords,
            "ip": self._from_ip,
            "postcode": self._from_postcode,
        }

    def close(self) -> None:
        """Release the IP database's memory maps."""
        if self._ip is not None:
            self._ip.close()

    def locate(self, lead: Mapping[str, Any]) -> Located:
        """The visitor's location from the lead's best usable source, with notes on the others."""
        return self.whereabouts(lead).located()

    def whereabouts(self, lead: Mapping[str, Any]) -> Whereabouts:
        """The lead's locations by source, looked up as they are asked for."""
        return Whereabouts(lead, self._finders)

    @staticmethod
    def _from_coords(lead: Mapping[str, Any]) -> Geo | str | None:
        visitor = _part(lead, "visitor")
        lat, lon = visitor.get("lat"), visitor.get("lon")
        if not _present(lat) and not _present(lon):
            return None
        if not _present(lat) or not _present(lon):
            return f"visitor coordinates incomplete (no {'lat' if not _present(lat) else 'lon'})"
        point = as_point(lat, lon)
        if isinstance(point, str):
            return f"visitor coordinates {point}"
        if point == (0.0, 0.0):
            return "visitor coordinates are (0, 0), a placeholder"
        return Geo(point[0], point[1], "coords", accuracy_km=COORDS_ACCURACY_KM)

    def _from_ip(self, lead: Mapping[str, Any]) -> Geo | str | None:
        ip = _part(lead, "visitor").get("ip")
        if not _present(ip):
            return None
        if not isinstance(ip, str):
            return "visitor ip is malformed"
        if self._ip is None:
            return "visitor ip not looked up: no IP database configured"
        return self._ip.locate(ip)

    def _from_postcode(self, lead: Mapping[str, Any]) -> Geo | str | None:
        address = _part(lead, "address")
        postcode, country = address.get("postcode"), address.get("country")
        if not _present(postcode):
            return None
        if isinstance(postcode, int) and not isinstance(postcode, bool):
            postcode = str(postcode)
        if not isinstance(postcode, str):
            return "postcode is not text"
        return self._postcodes.locate(postcode, country if isinstance(country, str) else None)
