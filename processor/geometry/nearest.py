"""The nearest-store index: which partner location is closest to a lead, and how far it is.

A query among all stores is one matrix-vector product over the stores' unit vectors: the largest
dot product is the smallest great-circle angle, so a vectorised scan finds the winner without a
trigonometric call per store. Dot products lose precision for points a few metres apart, so every
store whose dot product is within rounding distance of the best is re-measured with
``great_circle_km``, and the smallest exact distance wins (ties to construction order): the answer
is the one a plain loop over ``great_circle_km`` gives.

A query among a few candidates skips the vectors and measures each directly. A larger ``among`` is
mapped id by id to positions and scanned as a subset; that mapping dominates (about 1 ms for
10,000 ids), so a caller whose candidates are every store should pass None or a set, which is
recognised as covering the index by one set comparison.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from itertools import repeat

import numpy as np
import numpy.typing as npt

from processor.geometry.distance import great_circle_km
from processor.geometry.points import as_point

DIRECT_SCAN_MAX = 32
"""Up to this many candidates, measuring each with ``great_circle_km`` beats a vectorised scan."""

_DOT_TOLERANCE = 1e-12
"""How far below the best dot product a store may be and still be re-measured exactly.

Dot products of unit vectors carry rounding errors near 1e-16; 1e-12 is far above them and still
selects only stores within about ten metres of the same distance, so re-measuring stays cheap.
"""


def _unit_vectors(
    lats: npt.NDArray[np.float64], lons: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    phi, lam = np.radians(lats), np.radians(lons)
    cos_phi = np.cos(phi)
    return np.stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)), axis=-1)


class StoreIndex:
    """Partner store locations, immutable once built, answering "which is nearest to this point".

    Built once per rules snapshot from ``(partner id, lat, lon)`` triples; a partner appears at most
    once. Safe to share between threads: queries never mutate it.
    """

    __slots__ = ("_id_set", "_ids", "_lats", "_lons", "_position", "_units")

    def __init__(self, stores: Sequence[tuple[str, float, float]]) -> None:
        position: dict[str, int] = {}
        points: list[tuple[float, float]] = []
        for partner, lat, lon in stores:
            point = as_point(lat, lon)
            if isinstance(point, str):
                raise ValueError(f"partner {partner!r} location: {point}")
            if position.setdefault(partner, len(points)) != len(points):
                raise ValueError(f"partner {partner!r} has more than one store location")
            points.append(point)
        self._ids = tuple(position)
        self._id_set = frozenset(position)
        self._position = position
        self._lats = tuple(lat for lat, _ in points)
        self._lons = tuple(lon for _, lon in points)
        self._units = _unit_vectors(
            np.array(self._lats, dtype=np.float64), np.array(self._lons, dtype=np.float64)
        )

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, partner: object) -> bool:
        return partner in self._position

    def location(self, partner: str) -> tuple[float, float] | None:
        """The partner's store as ``(lat, lon)``, or None when it has none in this index."""
        index = self._position.get(partner)
        return None if index is None else (self._lats[index], self._lons[index])

    def nearest(
        self,
        lat: float,
        lon: float,
        among: Collection[str] | None = None,
        max_km: float | None = None,
    ) -> tuple[str, float] | None:
        """The nearest store to ``(lat, lon)`` as ``(partner id, great-circle km)``.

        ``among`` limits the search to those partners (ids without a store here are ignored);
        None searches every store. Returns None when no store qualifies, when the nearest is
        farther than ``max_km``, or when the point itself is not a valid coordinate.
        """
        if isinstance(as_point(lat, lon), str):
            return None
        if among is None or self._covers(among):
            found = self._scan(lat, lon, None)
        elif len(among) <= DIRECT_SCAN_MAX:
            found = self._measure(lat, lon, (self._position.get(p) for p in among))
        else:
            found = self._scan(lat, lon, self._indexes(among))
        if found is None or (max_km is not None and found[1] > max_km):
            return None
        return found

    def _covers(self, among: Collection[str]) -> bool:
        """Whether ``among`` names every store: a set comparison in C, far cheaper than mapping
        thousands of ids to positions when a caller passes all its candidates."""
        return (
            isinstance(among, set | frozenset)
            and len(among) >= len(self._ids) > DIRECT_SCAN_MAX
            and self._id_set <= among
        )

    def _indexes(self, among: Collection[str]) -> npt.NDArray[np.intp]:
        """The sorted positions of the partners in ``among`` that have a store here.

        ``map`` over ``dict.get`` keeps the per-id work in C, which matters when ``among`` names
        thousands of stores.
        """
        found = np.fromiter(map(self._position.get, among, repeat(-1)), np.intp, len(among))
        found = found[found >= 0]
        found.sort()
        return found

    def _measure(
        self, lat: float, lon: float, indexes: Iterable[int | None]
    ) -> tuple[str, float] | None:
        best: tuple[float, int] | None = None
        for index in indexes:
            if index is None:
                continue
            candidate = (great_circle_km(lat, lon, self._lats[index], self._lons[index]), index)
            if best is None or candidate < best:
                best = candidate
        return None if best is None else (self._ids[best[1]], best[0])

    def _scan(
        self, lat: float, lon: float, subset: npt.NDArray[np.intp] | None
    ) -> tuple[str, float] | None:
        units = self._units if subset is None else self._units[subset]
        if len(units) == 0:
            return None
        phi, lam = math.radians(lat), math.radians(lon)
        cos_phi = math.cos(phi)
        dots = units @ np.array((cos_phi * math.cos(lam), cos_phi * math.sin(lam), math.sin(phi)))
        close = np.flatnonzero(dots >= dots[dots.argmax()] - _DOT_TOLERANCE)
        if subset is not None:
            close = subset[close]
        return self._measure(lat, lon, close.tolist())
