"""The locations a ``LeadMatched`` record carries are checked when it is read, though nearest-store
routing alone turns them into geolocations, and only when it asks."""

from __future__ import annotations

from typing import Any

from stagekit import Forwarded, lead

from processor.kafka.records import OutputRecord
from processor.settings import Settings
from processor.stream.result import Result
from processor.wire import Codec

DECIDE = Settings().topics.decide_topic
PARIS = {"lat": 48.8566, "lon": 2.3522, "source": "postcode", "country": "FR"}


def send(both: Any, record: dict[str, Any]) -> Result:
    value = Codec().encode(DECIDE, "LeadMatched", record)
    return both.decide.process(Forwarded(OutputRecord(DECIDE, b"written", value)))


def test_a_location_off_the_globe_dead_letters_the_record_and_decides_nothing(stages: Any) -> None:
    both = stages()
    record = both.matched(lead())
    off = {**PARIS, "lat": 91.0}
    result = send(both, record | {"locations": [{"source": "postcode", "geo": off}]})
    assert (result.outcome, result.dead_letter_reason) == ("rejected", "invalid-matched")
    assert send(both, record).outcome == "routed"  # the lead itself was never decided


def test_a_record_with_locations_on_the_globe_is_decided(stages: Any) -> None:
    both = stages()
    record = both.matched(lead())
    located = [{"source": "postcode", "geo": PARIS}, {"source": "ip", "geo": None}]
    assert send(both, record | {"locations": located}).outcome == "routed"
