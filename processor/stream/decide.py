"""The decide stage: decide → render → emit, over the one partition of the decide topic.

Each ``LeadMatched`` record the match stage wrote is decided with routing's memory (the partition's
:class:`~processor.rules.Ledger`: caps, duplicates, rotation), each delivery rendered for its
partner, and the deliveries, the audit record (naming the original input record) and the
unroutable record emitted.
The decide topic can be written by others: a record that is no ``LeadMatched`` is dead-lettered as
it is, with the reason, and the stage goes on.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processor.formats import Facts, render
from processor.geometry.geo import Geo, GeoSource
from processor.kafka.records import Headers, InputRecord, OutputRecord, redriven
from processor.rules import Ledger, Matches, Snapshot, decide
from processor.rules.document import Partner
from processor.rules.schedule import lead_time
from processor.settings import Settings
from processor.state.decide import DecideState
from processor.stream.caps_metrics import decision_metrics
from processor.stream.emit import Emitter
from processor.stream.result import Result
from processor.wire import Codec, DecodeError
from processor.wire.codec import Encoder

DELIVERY_NAMESPACE = uuid.UUID("6f1d3c2e-6a44-4d8e-9a0f-1c2b3d4e5f60")
"""Namespace of delivery ids: uuid5 of lead id and partner id, the same on every re-processing."""


def delivery_id(lead_id: str, partner: str) -> str:
    """The same id whenever this lead is delivered to this partner: the workers' idempotency key."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{lead_id}\x1f{partner}"))


@dataclass(frozen=True, slots=True)
class Original:
    """The input record a matched lead was read from, as the decide stage knows it: its place, key,
    headers and timestamp, and the lead as our current ``LeadSubmitted`` in single-object
    encoding (which needs no registry, so that a rejection never waits on one). A rejection
    dead-letters this copy, which a redrive can publish to the input topic again."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None
    _value: bytes
    _headers: Headers
    _timestamp: tuple[int, int]

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> Headers:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp


@dataclass(frozen=True, slots=True)
class Matched:
    """One ``LeadMatched`` record, read and checked."""

    original: Original
    lead: dict[str, Any]
    body: bytes
    geo: Geo | None
    notes: tuple[str, ...]
    locations: Mapping[GeoSource, Geo | None]
    rules_version: str | None
    matches: Matches | None
    """The assignments the match stage matched, under ``rules_version``."""
    sequence: int
    """The record's offset on the decide topic: the decision's place in the order of decisions."""

    def at(self, source: GeoSource) -> Geo | None:
        """Where ``source`` places the visitor: as the match stage found it, or, for a source its
        rules did not ask for (the rules changed in between), the lead's ``geo`` if that source
        gave it."""
        if source in self.locations:
            return self.locations[source]
        return self.geo if self.geo is not None and self.geo.source == source else None


class DecideStage:
    """Decides each matched lead with state, and emits what the decision says."""

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        snapshot: Callable[[], Snapshot],
        state: DecideState,
    ) -> None:
        self.topic = settings.topics.decide_topic
        self._settings = settings
        self._codec = codec
        self._snapshot = snapshot
        self._state = state
        self._emitter = Emitter(settings, codec)
        # Each partner's delivery topic with its schema, paired at the partner's first delivery.
        self._deliveries: dict[str, Encoder] = {}

    def process(self, message: InputRecord) -> Result:
        started = time.perf_counter()
        try:
            matched = self._read(message)
        except DecodeError as error:
            if error.transient:
                raise
            text = f"not a LeadMatched record of the match stage: {error}"
            result = self._emitter.reject(message, error.reason, text, None)
        else:
            ledger = self._state.of(message.partition() or 0)
            ledger.begin()
            result = self._emitter.guarded(
                matched.original,
                matched.lead["lead_id"],
                lambda: self._decide(matched, ledger),
                ledger.undo,
            )
        result.processing_s = time.perf_counter() - started
        return result

    def _read(self, message: InputRecord) -> Matched:
        """The record as a ``Matched``; raises ``DecodeError`` for one that is not."""
        record = self._codec.decode(message.topic() or "", message.value() or b"", "LeadMatched")
        body: bytes = record["lead"]
        lead = self._codec.read_lead_body(body)
        source = record["source"]
        original = Original(
            source["topic"],
            source["partition"],
            source["offset"],
            record["key"],
            self._codec.single_object("LeadSubmitted", body),
            [(header["name"], header["value"]) for header in record["headers"]],
            message.timestamp(),
        )
        locations = {each["source"]: _geo(each["geo"]) for each in record["locations"]}
        version, found = record["rules_version"], record.get("matches")
        matches = None
        if version is not None and found is not None:
            matches = Matches(version, tuple(found["category"]), tuple(found["all"]))
        return Matched(
            original,
            lead,
            body,
            _geo(record["geo"]),
            tuple(record["notes"]),
            locations,
            version,
            matches,
            message.offset() or 0,
        )

    def _decide(self, matched: Matched, ledger: Ledger) -> Result:
        snapshot = self._snapshot()
        lead = matched.lead
        notes = matched.notes
        if matched.rules_version != snapshot.version:
            notes = (*notes, f"enriched under rules version {matched.rules_version}")
        decision = decide(
            snapshot,
            lead,
            matched.geo,
            ledger,
            notes=notes,
            locate=matched.at,
            matches=matched.matches,
            redriven=redriven(matched.original.headers()),
        )
        now = datetime.now(UTC)
        geo = decision.geo.as_dict() if decision.geo else None
        key = decision.lead_id.encode()
        records: list[OutputRecord] = []
        summaries: list[dict[str, Any]] = []
        tier = decision.tier or ""
        for delivery in decision.deliveries:
            partner = snapshot.partner(delivery.partner)
            facts = Facts(
                delivery_id=delivery_id(decision.lead_id, delivery.partner),
                partner=delivery.partner,
                partner_name=partner.name,
                profile=decision.profile,
                assignment=delivery.assignment,
                tier=tier,
                price=delivery.price,
                currency=delivery.currency,
                rules_version=snapshot.version,
                routed_at=now,
                distance_km=delivery.distance_km,
            )
            encoder = self._delivery_encoder(delivery.partner)
            value = _delivery_value(encoder, facts, partner, lead, geo, matched.body)
            records.append(OutputRecord(encoder.topics[0], key, value))
            summary = delivery.as_dict()
            summary["delivery_id"] = facts.delivery_id
            summaries.append(summary)
        audit = self._emitter.decision_record(
            matched.original,
            decision,
            summaries,
            geo,
            snapshot.version,
            now,
            site_id=lead.get("site_id"),
            sequence=matched.sequence,
        )
        records.extend(
            self._emitter.decision_records(key, audit, decision.outcome, matched.original.value())
        )
        submitted = lead.get("submitted_at")
        return Result(
            outcome=decision.outcome,
            profile=decision.profile,
            records=records,
            tier=decision.tier,
            deliveries=decision.deliveries,
            submitted_at=submitted.timestamp() if isinstance(submitted, datetime) else None,
            caps=decision_metrics(ledger, decision, lead_time(lead)),
        )

    def _delivery_encoder(self, partner: str) -> Encoder:
        encoder = self._deliveries.get(partner)
        if encoder is None:
            topic = self._settings.topics.delivery_topic(partner)
            encoder = self._deliveries[partner] = self._codec.encoder("LeadDelivery", topic)
        return encoder


def _geo(found: Mapping[str, Any] | None) -> Geo | None:
    """A ``Geo`` record as read; raises ``DecodeError`` for a point off the globe."""
    if found is None:
        return None
    geo = Geo(**found)
    if not (math.isfinite(geo.lat) and math.isfinite(geo.lon)) or not (
        -90 <= geo.lat <= 90 and -180 <= geo.lon <= 180
    ):
        raise DecodeError("invalid-matched", "a location off the globe")
    return geo


def _delivery_value(
    encoder: Encoder,
    facts: Facts,
    partner: Partner,
    lead: dict[str, Any],
    geo: dict[str, Any] | None,
    body: bytes,
) -> bytes:
    """The ``LeadDelivery`` record of ``facts``, with the partner's payload rendered; the lead is
    copied as the Avro body it came as."""
    # Render: the partner's payload, once here rather than in every worker that sends it.
    payload, content_type = render(partner.format, lead, facts)
    record = {
        "delivery_id": facts.delivery_id,
        "lead_id": lead["lead_id"],
        "profile": facts.profile,
        "partner": facts.partner,
        "partner_name": facts.partner_name,
        "assignment": facts.assignment,
        "tier": facts.tier,
        "price": facts.price,
        "currency": facts.currency,
        "distance_km": facts.distance_km,
        "format": partner.format,
        "destinations": list(partner.destinations),
        "rules_version": facts.rules_version,
        "routed_at": facts.routed_at,
        "geo": geo,
        "lead": lead,
        "payload": payload,
        "content_type": content_type,
    }
    (value,) = encoder.encode(record, {"lead": body})
    return value
