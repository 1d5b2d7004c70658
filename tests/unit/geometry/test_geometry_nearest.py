"""The nearest-store index agrees with a plain scan with great_circle_km, and stays exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.geometry.distance import great_circle_km
from processor.geometry.nearest import DIRECT_SCAN_MAX, StoreIndex

NYC = ("nyc", 40.7128, -74.0060)
BOSTON = ("boston", 42.3601, -71.0589)
PHILLY = ("philly", 39.9526, -75.1652)
LA = ("la", 34.0522, -118.2437)
STORES = [NYC, BOSTON, PHILLY, LA]


def brute_force(
    stores: list[tuple[str, float, float]], lat: float, lon: float, among: set[str] | None = None
) -> tuple[str, float] | None:
    best: tuple[float, int] | None = None
    for index, (partner, slat, slon) in enumerate(stores):
        if among is not None and partner not in among:
            continue
        candidate = (great_circle_km(lat, lon, slat, slon), index)
        if best is None or candidate < best:
            best = candidate
    return None if best is None else (stores[best[1]][0], best[0])


def partner(found: tuple[str, float] | None) -> str | None:
    return None if found is None else found[0]


def test_nearest_among_all_reports_partner_and_exact_distance() -> None:
    index = StoreIndex(STORES)
    # Newark is nearest to New York.
    assert index.nearest(40.7357, -74.1724) == (
        "nyc",
        great_circle_km(40.7357, -74.1724, 40.7128, -74.0060),
    )


def test_among_restricts_the_candidates_and_ignores_partners_without_a_store() -> None:
    index = StoreIndex(STORES)
    found = index.nearest(40.7357, -74.1724, among=["boston", "la", "no-store"])
    assert found == ("boston", great_circle_km(40.7357, -74.1724, 42.3601, -71.0589))
    assert index.nearest(40.7357, -74.1724, among=["no-store"]) is None
    assert index.nearest(40.7357, -74.1724, among=[]) is None


def test_max_km_turns_a_farther_nearest_store_into_none() -> None:
    index = StoreIndex(STORES)
    assert index.nearest(40.7357, -74.1724, max_km=10.0) is None
    assert index.nearest(40.7357, -74.1724, max_km=20.0) is not None
    assert index.nearest(40.7357, -74.1724, among=["la"], max_km=1000.0) is None


def test_ties_go_to_construction_order_whatever_the_order_of_among() -> None:
    index = StoreIndex([("first", 10.0, 10.0), ("second", 10.0, 10.0), ("third", 10.0, 10.0)])
    assert index.nearest(11.0, 11.0) == ("first", great_circle_km(11.0, 11.0, 10.0, 10.0))
    assert partner(index.nearest(11.0, 11.0, among=["third", "second"])) == "second"
    many = [f"s{i}" for i in range(DIRECT_SCAN_MAX + 5)]
    big = StoreIndex([(p, 10.0, 10.0) for p in many])
    assert partner(big.nearest(11.0, 11.0, among=list(reversed(many[3:])))) == "s3"


def test_stores_metres_apart_are_told_apart_exactly() -> None:
    # Dot products of unit vectors cannot separate these; the exact re-measure must.
    index = StoreIndex([("a", 48.85800, 2.29450), ("b", 48.858005, 2.29450)])
    assert partner(index.nearest(48.858006, 2.29450)) == "b"
    assert partner(index.nearest(48.857999, 2.29450)) == "a"


def test_an_invalid_query_point_or_an_empty_index_gives_none() -> None:
    assert StoreIndex(STORES).nearest(float("nan"), 0.0) is None
    assert StoreIndex(STORES).nearest(95.0, 0.0) is None
    assert StoreIndex([]).nearest(1.0, 1.0) is None
    assert len(StoreIndex([])) == 0


def test_construction_refuses_duplicate_partners_and_invalid_locations() -> None:
    with pytest.raises(ValueError, match="more than one"):
        StoreIndex([NYC, ("nyc", 1.0, 1.0)])
    with pytest.raises(ValueError, match="out of range"):
        StoreIndex([("bad", 91.0, 0.0)])


def test_location_and_membership() -> None:
    index = StoreIndex(STORES)
    assert index.location("boston") == (42.3601, -71.0589)
    assert index.location("nowhere") is None
    assert "la" in index and "nowhere" not in index


latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
points = st.tuples(latitudes, longitudes)
# A small grid of coordinates as well, so that ties and near-ties come up often.
grid_points = st.tuples(
    st.integers(-3, 3).map(lambda x: x / 7), st.integers(-3, 3).map(lambda x: x / 7)
)


@settings(max_examples=300, deadline=None)
@given(
    locations=st.lists(st.one_of(points, grid_points), max_size=80),
    query=st.one_of(points, grid_points),
    among_mask=st.one_of(st.none(), st.lists(st.booleans(), min_size=80, max_size=80)),
    max_km=st.one_of(st.none(), st.floats(min_value=0, max_value=25_000)),
)
def test_agrees_with_a_brute_force_scan(
    locations: list[tuple[float, float]],
    query: tuple[float, float],
    among_mask: list[bool] | None,
    max_km: float | None,
) -> None:
    stores = [(f"p{i}", lat, lon) for i, (lat, lon) in enumerate(locations)]
    among = (
        None
        if among_mask is None
        else {s[0] for s, keep in zip(stores, among_mask, strict=False) if keep}
    )
    expected = brute_force(stores, *query, among)
    if expected is not None and max_km is not None and expected[1] > max_km:
        expected = None
    assert StoreIndex(stores).nearest(*query, among=among, max_km=max_km) == expected


def test_a_set_naming_every_store_gives_the_same_answer_as_none() -> None:
    stores = [(f"s{i}", (i % 17) - 8.0, (i % 23) * 2.0) for i in range(DIRECT_SCAN_MAX * 3)]
    index = StoreIndex(stores)
    every = {partner for partner, _, _ in stores}
    expected = brute_force(stores, 1.5, 20.5)
    assert index.nearest(1.5, 20.5) == expected
    assert index.nearest(1.5, 20.5, among=every) == expected
    assert index.nearest(1.5, 20.5, among=frozenset(every | {"no-store"})) == expected
    assert index.nearest(1.5, 20.5, among=sorted(every)) == expected
    without_winner = every - {expected[0]} if expected else every
    assert partner(index.nearest(1.5, 20.5, among=without_winner)) != partner(expected)
