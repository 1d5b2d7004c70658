"""Whether a pair of values is a point on Earth, the one check every source of coordinates shares.

Coordinates reach the router as JSON numbers, numeric strings, database floats or file columns; a
value that is not a finite number in range must give "no location" with a reason, never an error.
"""

from __future__ import annotations


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def as_point(lat: object, lon: object) -> tuple[float, float] | str:
    """``(lat, lon)`` as floats in degrees, or why the pair is not a point on Earth.

    Numbers and numeric strings are accepted; booleans, NaN, infinities and values outside
    [-90, 90] x [-180, 180] are not (NaN fails every comparison, so it reads as out of range).
    """
    # Database and JSON values are mostly floats already; skip the conversion for them.
    flat = lat if type(lat) is float else _number(lat)
    flon = lon if type(lon) is float else _number(lon)
    if flat is None or flon is None:
        return "not numbers"
    if not (-90.0 <= flat <= 90.0):
        return f"out of range (lat {flat})"
    if not (-180.0 <= flon <= 180.0):
        return f"out of range (lon {flon})"
    return flat, flon
