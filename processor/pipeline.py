"""One input record's way through lead-router: decode → enrich → route → render → emit.

``Pipeline.process`` turns one input record into the records to produce for it (deliveries, the
audit record, the unroutable or dead-letter record) and a ``Result`` that is counted in the metrics
once the transaction carrying those records has committed. It knows nothing of transactions or
consumers: the stream loop hands it a record and a rules snapshot and produces what comes back.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processor import metrics
from processor.budget import RoutingBudget, TooSlow
from processor.formats import Facts, render
from processor.geo.enrich import Enricher
from processor.kafka.records import InputRecord, OutputRecord, dead_letter, where
from processor.routing import Router
from processor.rules import Decision, Delivery, Ledger, Outcome, Snapshot, TierName
from processor.rules.document import Partner
from processor.rules.schedule import lead_time
from processor.rules.trace import TRACE_MAX_BYTES
from processor.settings import Settings
from processor.stream.caps_metrics import DecisionMetrics, decision_metrics
from processor.wire import Codec, DecodeError, WireError
from processor.wire.codec import Encoder

log = logging.getLogger(__name__)

DELIVERY_NAMESPACE = uuid.UUID("6f1d3c2e-6a44-4d8e-9a0f-1c2b3d4e5f60")
"""Namespace of delivery ids: uuid5 of lead id and partner id, the same on every re-processing."""


@dataclass(slots=True)
class Result:
    """What happened to one input record, counted in the metrics once committed."""

    outcome: Outcome
    profile: str | None
    records: list[OutputRecord]
    tier: TierName | None = None
    deliveries: tuple[Delivery, ...] = ()
    """The decision's deliveries, as routing chose them."""
    submitted_at: float | None = None
    processing_s: float = 0.0
    dead_letter_reason: str | None = None
    caps: DecisionMetrics | None = None
    """The decision's exclusions and the use of the caps it counted against."""

    def count(self, committed_at: float) -> None:
        profile = self.profile or ""
        metrics.OUTCOMES.labels(outcome=self.outcome, profile=profile).inc()
        tier = self.tier or ""
        for delivery in self.deliveries:
            partner = delivery.partner
            metrics.DELIVERIES.labels(profile=profile, partner=partner, tier=tier).inc()
            metrics.REVENUE.labels(partner=partner, currency=delivery.currency).inc(delivery.price)
        if self.dead_letter_reason is not None:
            metrics.DEAD_LETTERS.labels(reason=self.dead_letter_reason).inc()
        metrics.PROCESSING_SECONDS.observe(self.processing_s)
        if self.submitted_at is not None:
            metrics.END_TO_END_SECONDS.observe(max(0.0, committed_at - self.submitted_at))
        if self.caps is not None:
            self.caps.count()


def delivery_id(lead_id: str, partner: str) -> str:
    """The same id whenever this lead is delivered to this partner: the workers' idempotency key."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{lead_id}\x1f{partner}"))


class Pipeline:
    """Decodes, enriches, routes and renders one lead at a time; holds no per-lead state."""

    def __init__(self, settings: Settings, codec: Codec, enricher: Enricher) -> None:
        self._settings = settings
        self._codec = codec
        self._router = Router(enricher)
        audit = settings.topics.audit_topic
        # Where a decision record goes: the audit topic, and the unroutable topic too when so.
        self._decisions = codec.encoder("RoutingDecision", audit)
        self._unroutable = codec.encoder("RoutingDecision", audit, settings.topics.unroutable_topic)
        # Each partner's delivery topic with its schema, paired at the partner's first delivery.
        self._deliveries: dict[str, Encoder] = {}
        # The trace takes at most half of an audit record, so that it never makes one too large.
        self._trace_bytes = min(TRACE_MAX_BYTES, settings.kafka.max_record_bytes // 2)
        self._budget = RoutingBudget(settings.processor.routing_budget_ms / 1000)

    def process(self, message: InputRecord, snapshot: Snapshot, ledger: Ledger) -> Result:
        started = time.perf_counter()
        try:
            lead, lead_body = self._codec.decode_lead(message.topic() or "", message.value() or b"")
        except DecodeError as error:
            if error.transient:
                raise
            result = self._reject(message, error.reason, str(error), error.lead_id)
        else:
            try:
                ledger.begin()
                with self._budget.limit():
                    routed = self._route(message, lead, lead_body, snapshot, ledger)
                result = self._within_limit(message, routed, lead["lead_id"])
                if result is not routed:  # dead-lettered as too large: it sold nothing
                    ledger.undo()
            except TooSlow as slow:
                # The partition moves on, and state is as if the lead had never come. A lead
                # routed again (re-driven) gets the same budget: a fix to the rules lets it through.
                ledger.undo()
                result = self._reject(message, "too-slow", str(slow), lead["lead_id"])
            except WireError as error:
                if error.transient:
                    raise
                log.exception("encoding an output failed at %s", where(message))
                ledger.undo()
                result = self._reject(message, "processing-error", str(error), lead["lead_id"])
            except Exception as error:
                # A lead that trips a bug must not stop every lead behind it: it goes to the
                # dead-letter topic like bad input, and the log says where (without its data).
                # Its lead id was read, so the audit topic has its rejection too. Like every
                # rejected lead, it takes no turn in the rotation and counts against no cap.
                log.exception("routing failed at %s", where(message))
                ledger.undo()
                text = f"{type(error).__name__}: {error}"
                result = self._reject(message, "processing-error", text, lead["lead_id"])
        result.processing_s = time.perf_counter() - started
        return result

    def _route(
        self,
        message: InputRecord,
        lead: dict[str, Any],
        lead_body: bytes | None,
        snapshot: Snapshot,
        ledger: Ledger,
    ) -> Result:
        decision = self._router.route(snapshot, lead, ledger)
        now = datetime.now(UTC)
        geo = decision.geo.as_dict() if decision.geo else None
        key = decision.lead_id.encode()
        records: list[OutputRecord] = []
        summaries: list[dict[str, Any]] = []
        tier = decision.tier or ""
        encoded = {"lead": lead_body} if lead_body is not None else None
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
            value = self._delivery_value(
                encoder, facts, partner, decision.lead_id, lead, geo, encoded
            )
            records.append(OutputRecord(encoder.topics[0], key, value))
            summary = delivery.as_dict()
            summary["delivery_id"] = facts.delivery_id
            summaries.append(summary)
        audit = self._decision_record(
            message, decision, summaries, geo, snapshot.version, now, site_id=lead.get("site_id")
        )
        records.extend(self._decision_records(key, audit, decision.outcome))
        submitted = lead.get("submitted_at")
        return Result(
            outcome=decision.outcome,
            profile=decision.profile,
            records=records,
            tier=decision.tier,
            deliveries=decision.deliveries,
            submitted_at=submitted.timestamp() if isinstance(submitted, datetime) else None,
            caps=decision_metrics(snapshot, ledger, decision, lead_time(lead)),
        )

    @staticmethod
    def _delivery_value(
        encoder: Encoder,
        facts: Facts,
        partner: Partner,
        lead_id: str,
        lead: dict[str, Any],
        geo: dict[str, Any] | None,
        encoded: dict[str, bytes] | None,
    ) -> bytes:
        """The ``LeadDelivery`` record of ``facts``, with the partner's payload rendered."""
        # Render: the partner's payload, once here rather than in every worker that sends it.
        payload, content_type = render(partner.format, lead, facts)
        record = {
            "delivery_id": facts.delivery_id,
            "lead_id": lead_id,
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
        (value,) = encoder.encode(record, encoded)
        return value

    def _delivery_encoder(self, partner: str) -> Encoder:
        encoder = self._deliveries.get(partner)
        if encoder is None:
            topic = self._settings.topics.delivery_topic(partner)
            encoder = self._deliveries[partner] = self._codec.encoder("LeadDelivery", topic)
        return encoder

    def _decision_records(
        self, key: bytes, audit: dict[str, Any], outcome: Outcome
    ) -> list[OutputRecord]:
        """The decision record on the audit topic, and on the unroutable topic too when so."""
        encoder = self._unroutable if outcome == "unroutable" else self._decisions
        values = encoder.encode(audit)
        return [
            OutputRecord(topic, key, value)
            for topic, value in zip(encoder.topics, values, strict=True)
        ]

    def _within_limit(self, message: InputRecord, result: Result, lead_id: str) -> Result:
        """The result, or a rejection when one of its records is larger than the producer sends.

        A lead that is valid but large (a long comment) makes delivery records larger still: the
        lead, and its payload rendered from it. The producer would refuse such a record, and with
        it the whole transaction, again on every restart; dead-lettering the lead (whose input
        the broker did take) lets the leads behind it through.
        """
        limit = self._settings.kafka.max_record_bytes
        for record in result.records:
            size = record.size()
            if size > limit:
                text = f"its record for {record.topic} would be {size} bytes, more than {limit}"
                return self._reject(message, "too-large", text, lead_id)
        return result

    def _decision_record(
        self,
        message: InputRecord,
        decision: Decision,
        deliveries: list[dict[str, Any]],
        geo: dict[str, Any] | None,
        rules_version: str | None,
        now: datetime,
        *,
        site_id: str | None = None,
    ) -> dict[str, Any]:
        """The RoutingDecision record; its trace explains up to ``audit_trace_failures``
        non-matching assignments per tier, since explaining is the costliest step per lead."""
        return {
            "lead_id": decision.lead_id,
            "site_id": site_id,
            "outcome": decision.outcome,
            "duplicate_of": decision.duplicate_of,
            "profile": decision.profile,
            "tier": decision.tier,
            "deliveries": deliveries,
            "geo": geo,
            "trace": decision.explain_json(
                self._settings.processor.audit_trace_failures, self._trace_bytes
            ),
            "error": decision.error,
            "rules_version": rules_version,
            "source": {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
            },
            "decided_at": now,
        }

    def _reject(self, message: InputRecord, reason: str, text: str, lead_id: str | None) -> Result:
        """The dead-letter copy of the input, and the ``rejected`` decision when ``lead_id`` is set.

        The exception's class is named in the copy when one is being handled (called from an
        ``except``).
        """
        dead = dead_letter(message, self._settings.topics.dlq_topic, reason, text)
        records = [dead]
        if lead_id:
            rejected = Decision.rejected(lead_id, reason, text)
            audit = self._decision_record(message, rejected, [], None, None, datetime.now(UTC))
            records.extend(self._decision_records(lead_id.encode(), audit, rejected.outcome))
        log.warning("rejected the record at %s: %s", where(message), reason)
        return Result("rejected", None, records, dead_letter_reason=reason)
