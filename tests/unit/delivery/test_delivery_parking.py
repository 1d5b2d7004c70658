"""Retry partitions held until due, and the records waiting behind the worker on them."""

from __future__ import annotations

from processor.delivery.parking import Parking

ONE, TWO = ("retry.p.1", 0), ("retry.p.1", 1)


def test_a_parked_partition_is_resumed_once_due_and_only_once() -> None:
    parking = Parking()
    parking.park(ONE, 7, due_at_ms=1000)
    parking.park(TWO, 3, due_at_ms=2000)
    assert parking.due(999) == []
    assert parking.due(1000) == [ONE]
    assert parking.due(5000) == [TWO]
    assert parking.due(9000) == [] and len(parking) == 0


def test_the_records_behind_count_from_where_the_worker_is() -> None:
    parking = Parking()
    parking.park(ONE, 7, due_at_ms=1000)  # waits at 7: it counts
    parking.passed(TWO, 3)  # done with 3: the next is 4
    assert parking.behind({ONE: 10, TWO: 4}) == 3
    assert parking.behind({ONE: 10}) == 3, "a partition without a known end counts nothing"


def test_a_revoked_partition_is_forgotten() -> None:
    parking = Parking()
    parking.park(ONE, 7, due_at_ms=1000)
    parking.passed(TWO, 3)
    parking.forget([ONE])
    assert parking.due(5000) == []
    assert parking.places == [TWO]
