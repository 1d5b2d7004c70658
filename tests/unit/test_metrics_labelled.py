"""A metric's children made once: counted through them, the registry shows what ``labels`` would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from processor.metrics import Labelled


def test_each_label_tuple_has_one_child_counting_into_the_metric() -> None:
    registry = CollectorRegistry()
    counter = Counter("things_total", "Things.", ["kind", "where"], registry=registry)
    by = Labelled(counter)
    by("a", "here").inc()
    by("a", "here").inc(2)
    by("b", "there").inc()
    assert by("a", "here") is by("a", "here")
    assert registry.get_sample_value("things_total", {"kind": "a", "where": "here"}) == 3
    assert registry.get_sample_value("things_total", {"kind": "b", "where": "there"}) == 1
