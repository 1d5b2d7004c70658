"""Postcode centroids: where a lead's postcode lies, when nothing better locates the visitor.

US ZIP codes come from the ``zipcodes`` package and are always available; other countries come from
a GeoNames postal code file the operator points to (``allCountries.txt``, a country's ``XX.txt``, or
the ``.zip`` GeoNames publishes them in). Everything is loaded once into one dictionary keyed by
country and normalised postcode, holding ready-made ``Geo`` values, so a lookup allocates nothing.

Normalising makes the forms people type meet the forms the data uses: case and spaces and hyphens
do not matter ("sw1a 1aa" meets "SW1A 1AA"), a numeric postcode that lost its leading zeros gets
them back (2134 meets 02134), a US ZIP+4 is looked up by its five-digit ZIP, and a postcode with an
inward part ("SW1A 1AA", "K1A 0B1") falls back to its outward part when the data only has that.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import zipcodes

from processor.errors import InvalidInput
from processor.geo.countries import country_code
from processor.geo.regions import US_STATES, ZIP_CODE_COUNTRIES, us_state_code
from processor.geometry.geo import Geo
from processor.geometry.points import as_point

ACCURACY_KM = 10.0
"""How far a postcode centroid may be from the visitor: a typical postcode area's radius."""

MAX_POSTCODE_LENGTH = 12
"""No country's postcode is longer (with its spaces); longer text is not a postcode."""

_GEONAMES_COLUMNS = 11
"""country, postcode, place, admin name1, admin code1, admin name2, admin code2, admin name3,
admin code3, latitude, longitude; a twelfth column, accuracy, is optional and not used."""


def _key(postcode: str) -> str:
    return "".join(postcode.split()).replace("-", "").upper()


@functools.cache
def us_zip_centroids() -> Mapping[str, Geo]:
    """Every US ZIP code's centroid, by five-digit ZIP, loaded from ``zipcodes`` once per process.

    Read state by state: ``zipcodes.list_all()`` would keep its own copy of all 42,000 records
    (about 140 MB) alive in the package for the life of the process.
    """
    centroids: dict[str, Geo] = {}
    for state in US_STATES:
        for record in zipcodes.filter_by(state=state):  # type: ignore[no-untyped-call]
            point = as_point(record["lat"], record["long"])
            if isinstance(point, str):
                continue
            zip_code = record["zip_code"]
            centroids[zip_code] = Geo(
                point[0], point[1], "postcode", "US", state, record["city"], zip_code, ACCURACY_KM
            )
    return centroids


class PostcodeTable:
    """Postcode centroids by country: US ZIP codes always, others from a GeoNames file."""

    def __init__(self, geonames: Path | None = None) -> None:
        self._centroids: dict[tuple[str, str], Geo] = {}
        self.skipped_lines = 0
        """Lines of the GeoNames file that were not postal code rows (wrong column count, no
        country, no point), kept for the operator's information."""
        if geonames is not None:
            self._load(geonames)
        for zip_code, geo in us_zip_centroids().items():
            self._centroids.setdefault(("US", zip_code), geo)
        self._digits = {"US": 5}
        for country, key in self._centroids:
            if key.isdigit() and len(key) > self._digits.get(country, 0):
                self._digits[country] = len(key)

    def __len__(self) -> int:
        return len(self._centroids)

    def locate(self, postcode: str, country: str | None) -> Geo | str:
        """The centroid of ``postcode`` in ``country`` (a code or a name), or why there is none.

        Without a country, a postcode that looks like a US ZIP code (3 to 5 digits, or ZIP+4) is
        taken as one: the US is the one country whose postcodes are known without a file. US
        territories with their own country code (PR, GU, VI, ...) use US ZIP codes too.
        """
        shown = postcode.strip()
        if len(shown) > MAX_POSTCODE_LENGTH:
            return "postcode is too long to be one"
        key = _key(shown)
        if not key:
            return "postcode is blank"
        if country is not None and not country.strip():
            country = None
        code = self._country(country, key)
        if code is None:
            if country is None:
                return f"postcode {shown} has no country"
            return f"postcode {shown}: country {country.strip()[:40]!r} unknown"
        found = self._find(code, key)
        if found is None and len(parts := shown.split()) > 1:
            found = self._find(code, _key(parts[0]))
        return found if found is not None else f"postcode {shown} ({code}) unknown"

    def _find(self, code: str, key: str) -> Geo | None:
        found = self._centroids.get((code, key))
        if found is None and key.isdigit():
            digits = self._digits.get(code, 0)
            if len(key) < digits:
                found = self._centroids.get((code, key.zfill(digits)))
            elif code == "US" and len(key) == 9:
                found = self._centroids.get((code, key[:5]))
        if found is None and code in ZIP_CODE_COUNTRIES:
            found = self._find("US", key)
        return found

    @staticmethod
    def _country(country: str | None, key: str) -> str | None:
        if country is not None:
            return country_code(country)
        looks_like_zip = key.isdigit() and (3 <= len(key) <= 5 or len(key) == 9)
        return "US" if looks_like_zip else None

    def _load(self, path: Path) -> None:
        try:
            for line in _lines(path):
                row = _geonames_row(line)
                if row is None:
                    self.skipped_lines += 1
                else:
                    self._centroids.setdefault(*row)
        except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as error:
            raise InvalidInput(f"{path}: cannot read the postal code file ({error})") from error
        if not self._centroids:
            raise InvalidInput(f"{path}: no postal code rows in GeoNames format")


def _lines(path: Path) -> Iterator[str]:
    """The text lines of a GeoNames file, or of the ``.txt`` files in a GeoNames ``.zip``."""
    if path.suffix.lower() != ".zip":
        with path.open(encoding="utf-8") as file:
            yield from file
        return
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.lower().endswith(".txt") or "readme" in name.lower():
                continue
            with archive.open(name) as member:
                yield from io.TextIOWrapper(member, encoding="utf-8")


def _geonames_row(line: str) -> tuple[tuple[str, str], Geo] | None:
    """One GeoNames line as its table key and centroid, or None when it is not a postcode row."""
    columns = line.rstrip("\r\n").split("\t")
    if len(columns) < _GEONAMES_COLUMNS:
        return None
    country, postcode, place, region_name, region_code = (c.strip() for c in columns[:5])
    point = as_point(columns[9], columns[10])
    key = _key(postcode)
    if len(country) != 2 or not key or isinstance(point, str):
        return None
    country = country.upper()
    region = (us_state_code(region_code) if country == "US" else None) or region_name or None
    geo = Geo(point[0], point[1], "postcode", country, region, place or None, postcode, ACCURACY_KM)
    return (country, key), geo
