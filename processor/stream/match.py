"""The match stage: decode → enrich → match → forward, stateless, parallel over input partitions.

Each input record is decoded and checked (a bad one is dead-lettered, with a ``rejected`` decision
when its lead id could be read), enriched with the visitor's location, matched to the profile its
site names (whose nearest-store sources are looked up now, while the enricher is at hand), and
handed to the decide stage as one ``LeadMatched`` record on the decide topic, keyed by lead id.
Nothing here remembers anything between leads, so any instance can take any input partition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from processor import metrics
from processor.geo.enrich import Enricher, Whereabouts
from processor.geometry.geo import GeoSource
from processor.kafka.records import InputRecord, OutputRecord
from processor.rules import Snapshot
from processor.settings import Settings
from processor.stream.emit import Emitter
from processor.stream.result import Result
from processor.wire import Codec, DecodeError


class MatchStage:
    """Turns each input record into the decide stage's ``LeadMatched`` record, or a rejection."""

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        enricher: Enricher,
        snapshot: Callable[[], Snapshot],
    ) -> None:
        self.topic = settings.topics.input_topic
        self._codec = codec
        self._enricher = enricher
        self._snapshot = snapshot
        self._emitter = Emitter(settings, codec)
        self._matched = codec.encoder("LeadMatched", settings.topics.decide_topic)

    def process(self, message: InputRecord) -> Result:
        metrics.LEADS_CONSUMED.labels(topic=message.topic() or "").inc()
        started = time.perf_counter()
        try:
            lead, body = self._codec.decode_lead(message.topic() or "", message.value() or b"")
        except DecodeError as error:
            if error.transient:
                raise
            result = self._emitter.reject(message, error.reason, str(error), error.lead_id)
        else:
            result = self._emitter.guarded(
                message, lead["lead_id"], lambda: self._forward(message, lead, body)
            )
        result.processing_s = time.perf_counter() - started
        return result

    def _forward(self, message: InputRecord, lead: dict[str, Any], body: bytes | None) -> Result:
        snapshot = self._snapshot()
        whereabouts = self._enricher.whereabouts(lead)
        located = whereabouts.located()
        record = {
            "lead": body if body is not None else self._codec.lead_body(lead),
            "geo": located.geo.as_dict() if located.geo else None,
            "notes": list(located.notes),
            "locations": _locations(whereabouts, _trusted(snapshot, lead)),
            "source": {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
            },
            "key": message.key(),
            "headers": _headers(message),
            "rules_version": snapshot.version,
        }
        (value,) = self._matched.encode(record)
        _, timestamp = message.timestamp()
        key = lead["lead_id"].encode()
        forwarded = OutputRecord(self._matched.topics[0], key, value, timestamp=max(timestamp, 0))
        return Result(None, None, [forwarded])


def _trusted(snapshot: Snapshot, lead: Mapping[str, Any]) -> tuple[GeoSource, ...]:
    """The geolocation sources nearest-store routing of the lead's profile trusts; none when the
    profile does not route to the nearest store."""
    compiled, _ = snapshot.profile_for(lead.get("site_id"))
    if compiled is None or compiled.stores is None:
        return ()
    return compiled.profile.nearest_store.sources


def _locations(whereabouts: Whereabouts, sources: tuple[GeoSource, ...]) -> list[dict[str, Any]]:
    located = ((source, whereabouts.at(source)) for source in sources)
    return [{"source": s, "geo": geo.as_dict() if geo else None} for s, geo in located]


def _headers(message: InputRecord) -> list[dict[str, Any]]:
    """The input's headers as ``InputHeader`` records, in order."""
    kept = message.headers() or []
    pairs = kept.items() if isinstance(kept, dict) else kept
    return [
        {"name": name, "value": value.encode() if isinstance(value, str) else value}
        for name, value in pairs
    ]
