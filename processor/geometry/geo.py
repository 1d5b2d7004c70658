"""The geolocation a lead is enriched with, as routing rules and decisions see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

GeoSource = Literal["coords", "ip", "postcode"]


@dataclass(frozen=True, slots=True)
class Geo:
    """Where a lead's visitor is, and which of the lead's facts said so.

    ``accuracy_km`` is how far off the point may be: small for the visitor's own coordinates, a
    city's radius for an IP address, a postcode area's for a postcode centroid.
    """

    lat: float
    lon: float
    source: GeoSource
    country: str | None = None
    region: str | None = None
    city: str | None = None
    postcode: str | None = None
    accuracy_km: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict; written out because ``dataclasses.asdict`` deep-copies, and this
        runs once per lead."""
        return {
            "lat": self.lat,
            "lon": self.lon,
            "source": self.source,
            "country": self.country,
            "region": self.region,
            "city": self.city,
            "postcode": self.postcode,
            "accuracy_km": self.accuracy_km,
        }
