"""The input records a replay routes again, read from the input topic by their place.

Replay knows each lead's place (partition and offset) from its audit record, and reads each input
partition once, over the offsets its span needs. A record the topic no longer holds (retention
deleted it) is missing from the answer, and replay reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import Message

from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_partitions
from processor.kafka.records import REDRIVEN_HEADER
from processor.kafka.span import SCAN_TIMEOUT_S
from processor.settings import Settings


@dataclass(frozen=True, slots=True)
class Held:
    """An input record as replay routes it."""

    value: bytes
    redriven: bool


def read_leads(
    settings: Settings,
    places: Iterable[tuple[int, int]],
    progress: Callable[[int], object] = lambda read: None,
) -> dict[tuple[int, int], Held]:
    """The input records at ``places`` (partition, offset) that the input topic still holds."""
    wanted: dict[int, set[int]] = {}
    for partition, offset in places:
        wanted.setdefault(partition, set()).add(offset)
    held: dict[tuple[int, int], Held] = {}

    def take(message: Message) -> None:
        place = (message.partition() or 0, message.offset() or 0)
        if place[1] in wanted.get(place[0], ()):
            headers = message.headers() or []
            redriven = any(header[0] == REDRIVEN_HEADER for header in headers)
            held[place] = Held(message.value() or b"", redriven)
            if len(held) % 1000 == 0:
                progress(len(held))

    if wanted:
        starts = {p: min(offsets) for p, offsets in wanted.items()}
        stops = {p: max(offsets) + 1 for p, offsets in wanted.items()}
        consumer = reading_consumer(settings.kafka, "replay-leads")
        try:
            read_partitions(
                consumer,
                settings.topics.input_topic,
                starts,
                take,
                timeout=SCAN_TIMEOUT_S,
                ends=stops,
            )
        finally:
            consumer.close()
    progress(len(held))
    return held
