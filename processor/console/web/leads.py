""" "What came in": the lead as published, read on demand from the input record a decision names.

The index keeps no lead (it holds personal data, and the input topic already has it for its
retention); the lead page reads the one record it shows, with the same code as ``audit show``.
A page's reader is ``app.state.lead_reader`` when set (unit tests give one that needs no
broker), else one reading Kafka with the console's settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

from confluent_kafka import KafkaException
from starlette.requests import Request

from processor.audit.inputs import input_consumer, outside_input, read_input_lead
from processor.console.web.context import made_once
from processor.errors import ServiceUnavailable
from processor.settings import Settings
from processor.wire import Codec

LeadReader = Callable[[str, int, int], Mapping[str, Any] | str]
"""(topic, partition, offset) -> the lead published there, or why it cannot be shown."""

SHOWN_CHARS = 2_000
"""The most of one field's value shown: a comment can be long; a page need not be."""


class KafkaLeads:
    """Reads one input record per call with a short-lived read_committed consumer: the page is
    opened now and then, and a consumer kept open would hold a broker connection for nothing."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._codec: Codec | None = None
        self._lock = threading.Lock()

    def __call__(self, topic: str, partition: int, offset: int) -> Mapping[str, Any] | str:
        elsewhere = outside_input(self._settings.topics.input_topic, topic, partition, offset)
        if elsewhere is not None:
            return elsewhere
        try:
            with input_consumer(self._settings) as consumer:
                return read_input_lead(consumer, self._codec_once(), topic, partition, offset)
        except (KafkaException, ServiceUnavailable) as error:
            return f"cannot be read now ({error})"

    def _codec_once(self) -> Codec:
        with self._lock:
            if self._codec is None:
                self._codec = Codec.for_registry(self._settings.registry)
            return self._codec


def reader_of(request: Request) -> LeadReader:
    """The application's lead reader."""
    reader: LeadReader = made_once(
        request, "lead_reader", lambda context: KafkaLeads(context.settings)
    )
    return reader


def flattened(lead: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The lead as (field path, value) lines, as the rules name fields: ``contact.email``."""
    return list(_lines("", lead))


def _lines(prefix: str, value: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for name, item in value.items():
        path = f"{prefix}{name}"
        if isinstance(item, Mapping):
            yield from _lines(f"{path}.", item)
        elif item is not None:
            yield path, _shown(item)


def _shown(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
