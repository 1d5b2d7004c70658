"""Coordinates from any source: numbers and numeric strings in range, nothing else."""

from __future__ import annotations

import pytest

from processor.geometry.points import as_point


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (40.5, -74.25, (40.5, -74.25)),
        (40, -74, (40.0, -74.0)),
        (" 40.5 ", "-74.25", (40.5, -74.25)),
        (90, 180, (90.0, 180.0)),
        (-90, -180, (-90.0, -180.0)),
    ],
)
def test_numbers_and_numeric_strings_in_range_are_points(
    lat: object, lon: object, expected: tuple[float, float]
) -> None:
    assert as_point(lat, lon) == expected


@pytest.mark.parametrize(
    ("lat", "lon", "reason"),
    [
        (123.0, 5.0, "out of range (lat 123.0)"),
        (5.0, -181.0, "out of range (lon -181.0)"),
        (float("nan"), 5.0, "out of range (lat nan)"),
        (5.0, float("inf"), "out of range (lon inf)"),
        ("1e999", 5.0, "out of range (lat inf)"),
        ("north", 5.0, "not numbers"),
        (True, 5.0, "not numbers"),
        (None, 5.0, "not numbers"),
        ([1], 5.0, "not numbers"),
        (10**400, 5.0, "not numbers"),
    ],
)
def test_anything_else_gives_a_reason(lat: object, lon: object, reason: str) -> None:
    assert as_point(lat, lon) == reason
