"""The decide stage: decide → render → emit, over the one partition of the decide topic.

Each ``LeadMatched`` record the match stage wrote is decided with routing's memory (the partition's
:class:`~processor.rules.Ledger`: caps, duplicates, rotation), each delivery rendered for its
partner, and the deliveries, the audit record (naming the original input record) and the
unroutable record emitted.
A record may instead hand the stage a delivery to settle (:mod:`processor.rules.settle`): a
re-offer, from a worker that gave up on a delivery (the lead is decided again without the
partners it was offered to), or a return, forwarded by the match stage (credited or refused in a
receipt, and the lead offered again when the partner's policy says so).
The decide topic can be written by others: a record that is no ``LeadMatched``, or a re-offer of a
delivery the stage did not make or has settled, is dead-lettered as it is, with the reason, and
the stage goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from processor.formats import Facts, render
from processor.geometry.geo import Geo, GeoSource
from processor.kafka.records import ConsumedRecord, InputRecord, OutputRecord, redriven
from processor.rules import Ledger, Matches, Snapshot, decide
from processor.rules.decide import Reoffer
from processor.rules.document import Partner
from processor.rules.ledger import epoch_ms
from processor.rules.settle import (
    MAX_BY,
    Refused,
    bounded,
    check_reoffer,
    judge_return,
    offers_returned,
    reoffer_for,
    settle,
)
from processor.settings import Settings
from processor.state.decide import DecideState
from processor.stream.caps_metrics import decision_metrics
from processor.stream.emit import Emitter
from processor.stream.result import Result
from processor.stream.settle import Receipts, Settlement
from processor.wire import Codec, DecodeError
from processor.wire.codec import Encoder


@dataclass(frozen=True, slots=True)
class Matched:
    """One ``LeadMatched`` record, read and checked."""

    original: ConsumedRecord
    """The input record the lead was read from: its place, key, headers and timestamp, and the
    lead as our current ``LeadSubmitted`` in single-object encoding (no registry needed, so a
    rejection never waits on one); a rejection dead-letters this copy, for a redrive."""
    lead: dict[str, Any]
    body: bytes
    geo: Geo | None
    notes: tuple[str, ...]
    locations: Mapping[GeoSource, Mapping[str, Any] | None]
    """Where each source the match stage's rules trust places the visitor, as read and checked
    (on the globe): made a ``Geo`` only when nearest-store routing asks (:meth:`at`), which most
    leads never do."""
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
            found = self.locations[source]
            return None if found is None else Geo(**found)
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
        self._receipts = Receipts(settings, codec)
        # Each partner's delivery topic with its schema, paired at the partner's first delivery.
        self._deliveries: dict[str, Encoder] = {}

    def process(self, message: InputRecord) -> Result:
        started = time.perf_counter()
        try:
            record = self._codec.decode(
                message.topic() or "", message.value() or b"", "LeadMatched"
            )
            returned, given_up = record["returned"], record["reoffer"]
            if returned is not None and given_up is not None:
                raise DecodeError("invalid-matched", "a re-offer and a return in one record")
            matched = None if returned is not None else self._read(record, message)
        except DecodeError as error:
            if error.transient:
                raise
            text = f"not a LeadMatched record of the match stage: {error}"
            result = self._emitter.reject(message, error.reason, text, None)
        else:
            ledger = self._state.of(message.partition() or 0)
            ledger.begin()
            if matched is None:
                # A return names a delivery, not a lead: its rejection dead-letters the record.
                result = self._emitter.guarded(
                    message, "", partial(self._returned, message, returned, ledger), ledger.undo
                )
            else:
                work = (
                    partial(self._decide, matched, ledger)
                    if given_up is None
                    else partial(self._reoffered, message, matched, given_up, ledger)
                )
                result = self._emitter.guarded(
                    matched.original, matched.lead["lead_id"], work, ledger.undo
                )
        result.processing_s = time.perf_counter() - started
        return result

    def _reoffered(
        self, message: InputRecord, matched: Matched, given_up: Mapping[str, Any], ledger: Ledger
    ) -> Result:
        """A delivery its worker gave up on: checked against what the stage remembers (else the
        record is dead-lettered, and nothing changes), settled, and the lead decided again."""
        checked = check_reoffer(
            ledger, given_up["delivery_id"], given_up["partner"], matched.lead["lead_id"]
        )
        if isinstance(checked, Refused):
            return self._emitter.reject(message, checked.reason, checked.text, None)
        settle(ledger, checked, "reoffered")
        why = (
            f"partner {checked.partner!r} gave up on delivery {checked.delivery_id} after "
            f"{given_up['attempts']} attempts: {bounded(given_up['reason'])}"
        )
        result = self._decide(matched, ledger, reoffer_for(checked, why))
        result.settlements = (Settlement(checked.partner, "reoffered"),)
        return result

    def _returned(
        self, message: InputRecord, returned: Mapping[str, Any], ledger: Ledger
    ) -> Result:
        """A return: credited (the caps' units given back, and the lead offered to the next
        candidate when the partner's policy says so) or refused, in a receipt either way."""
        snapshot = self._snapshot()
        now = datetime.now(UTC)
        delivery, reason = returned["delivery_id"], bounded(returned["reason"])
        by = None if returned["by"] is None else bounded(returned["by"], MAX_BY)
        verdict = judge_return(snapshot, ledger, delivery, epoch_ms(returned["at"]))
        if isinstance(verdict, str):
            receipt, settled = self._receipts.refused(
                delivery, ledger.sold(delivery), verdict, reason, by, now
            )
            return Result(None, None, [receipt], settlements=(settled,))
        settle(ledger, verdict, "returned")
        receipt, settled = self._receipts.credited(verdict, reason, by, now)
        if verdict.lead is None or not offers_returned(snapshot, verdict):
            return Result(None, None, [receipt], settlements=(settled,))
        source = returned["source"]
        original = ConsumedRecord(
            source["topic"],
            source["partition"],
            source["offset"],
            verdict.lead_id.encode(),
            self._codec.single_object("LeadSubmitted", verdict.lead),
            [],
            message.timestamp(),
        )
        lead = self._codec.read_lead_body(verdict.lead)
        matched = Matched(
            original, lead, verdict.lead, None, (), {}, None, None, message.offset() or 0
        )
        result = self._decide(matched, ledger, reoffer_for(verdict, f"returned: {reason}"))
        result.records.insert(0, receipt)
        result.settlements = (settled,)
        return result

    def _read(self, record: Mapping[str, Any], message: InputRecord) -> Matched:
        """The record as a ``Matched``; raises ``DecodeError`` for one that is not."""
        body: bytes = record["lead"]
        lead = self._codec.read_lead_body(body)
        source = record["source"]
        original = ConsumedRecord(
            source["topic"],
            source["partition"],
            source["offset"],
            record["key"],
            self._codec.single_object("LeadSubmitted", body),
            [(header["name"], header["value"]) for header in record["headers"]],
            message.timestamp(),
        )
        locations = {each["source"]: _on_globe(each["geo"]) for each in record["locations"]}
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

    def _decide(self, matched: Matched, ledger: Ledger, reoffer: Reoffer | None = None) -> Result:
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
            reoffer=reoffer,
            body=matched.body,
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
                delivery_id=delivery.delivery_id,
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
            caps=decision_metrics(decision),
        )

    def _delivery_encoder(self, partner: str) -> Encoder:
        encoder = self._deliveries.get(partner)
        if encoder is None:
            topic = self._settings.topics.delivery_topic(partner)
            encoder = self._deliveries[partner] = self._codec.encoder("LeadDelivery", topic)
        return encoder


def _geo(found: Mapping[str, Any] | None) -> Geo | None:
    """A ``Geo`` record as read; raises ``DecodeError`` for a point off the globe."""
    checked = _on_globe(found)
    return None if checked is None else Geo(**checked)


def _on_globe(found: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A ``Geo`` record as read, checked; raises ``DecodeError`` for a point off the globe."""
    if found is None:
        return None
    lat, lon = found["lat"], found["lon"]
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (
        -90 <= lat <= 90 and -180 <= lon <= 180
    ):
        raise DecodeError("invalid-matched", "a location off the globe")
    return found


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
