"""The match stage: decode → enrich → match → forward, stateless, parallel over input partitions.

Each input record is decoded and checked (a bad one is dead-lettered, with a ``rejected`` decision
when its lead id could be read), enriched with the visitor's location, matched to the profile its
site names (whose nearest-store sources are looked up now, while the enricher is at hand) and to
the assignments of that profile whose filters hold (the costliest part of routing that needs no
state), and handed to the decide stage as one ``LeadMatched`` record on the decide topic, keyed by
lead id.

The stage also reads the returns topic: each ``DeliveryReturn`` a partner wrote there is checked
(``processor.delivery.returns``; a bad one is dead-lettered like a bad lead, without a decision,
since it names no lead) and handed on as a ``LeadMatched`` record whose ``returned`` says which
delivery came back and why, keyed by delivery id, so that the decide stage, which holds what was
sold, credits it or refuses it in its order with the leads.
Nothing here remembers anything between records, so any instance can take any input partition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from processor import metrics
from processor.delivery.returns import InvalidReturn, checked_return, key_of
from processor.geo.enrich import Enricher, Whereabouts
from processor.geometry.geo import GeoSource
from processor.kafka.records import InputRecord, OutputRecord
from processor.rules import Snapshot, match
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
        self.topics = (self.topic, settings.topics.returns_topic)
        """The input topic, and the returns topic."""
        self._returns = settings.topics.returns_topic
        self._codec = codec
        self._enricher = enricher
        self._snapshot = snapshot
        self._emitter = Emitter(settings, codec)
        self._matched = codec.encoder("LeadMatched", settings.topics.decide_topic)

    def process(self, message: InputRecord) -> Result:
        if message.topic() == self._returns:
            return self._returned(message)
        topic = message.topic() or ""
        metrics.CONSUMED_FROM(topic).inc()
        started = time.perf_counter()
        try:
            lead, body = self._codec.decode_lead(topic, message.value() or b"")
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
        matches = match(snapshot, lead, located.geo)
        record = {
            "lead": body if body is not None else self._codec.lead_body(lead),
            "geo": located.geo.as_dict() if located.geo else None,
            "notes": list(located.notes),
            "locations": _locations(whereabouts, _trusted(snapshot, lead)),
            "source": _source(message),
            "key": message.key(),
            "headers": _headers(message),
            "rules_version": snapshot.version,
            "matches": {"category": list(matches.category), "all": list(matches.all)},
        }
        return self._handed_on(message, lead["lead_id"], record)

    def _returned(self, message: InputRecord) -> Result:
        """The return in ``message``, handed on to the decide stage; or its dead-letter copy when
        it is not a ``DeliveryReturn``, or not one that can be a return."""
        try:
            record = self._codec.decode(
                message.topic() or "", message.value() or b"", "DeliveryReturn"
            )
            returned = checked_return(record, datetime.now(UTC))
            key = key_of(message.key())
        except DecodeError as error:
            if error.transient:
                raise
            return self._refused(message, error.reason, str(error))
        except InvalidReturn as invalid:
            return self._refused(message, invalid.reason, str(invalid))
        source = _source(message)
        matched: dict[str, Any] = {
            "lead": b"",
            "geo": None,
            "notes": [],
            "locations": [],
            "source": source,
            "key": key,
            "headers": [],
            "rules_version": None,
            "matches": None,
            "returned": {**returned, "source": source},
        }
        return self._handed_on(message, returned["delivery_id"], matched)

    def _refused(self, message: InputRecord, reason: str, text: str) -> Result:
        """The dead-letter copy of a record of the returns topic that is no return. It names no
        lead, so it has no decision, and no lead outcome is counted for it: only the dead letter."""
        rejected = self._emitter.reject(message, reason, text, None)
        rejected.outcome = None
        return rejected

    def _handed_on(self, message: InputRecord, key: str, record: dict[str, Any]) -> Result:
        """``record`` on the decide topic as a ``LeadMatched`` keyed by ``key``, with the time of
        the ``message`` it came from."""
        (value,) = self._matched.encode(record)
        _, timestamp = message.timestamp()
        forwarded = OutputRecord(
            self._matched.topics[0], key.encode(), value, timestamp=max(timestamp, 0)
        )
        return Result(None, None, [forwarded])


def _source(message: InputRecord) -> dict[str, Any]:
    """Where ``message`` was read, as a ``MatchedSource``."""
    return {"topic": message.topic(), "partition": message.partition(), "offset": message.offset()}


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
