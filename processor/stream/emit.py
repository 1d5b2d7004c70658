"""What both stages emit for a lead they are done with: its decision records, or its rejection.

The match stage rejects what it cannot read as a lead; the decide stage emits the decision, or
rejects a lead whose routing failed. Both reject alike (``Emitter.reject``: the dead-letter copy of
the input and, when the lead id is known, a ``rejected`` RoutingDecision), and both guard the work
they do per lead alike (``Emitter.guarded``: a time budget, and no exception of one lead stops the
leads behind it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from processor.budget import RoutingBudget, TooSlow
from processor.kafka.records import InputRecord, OutputRecord, dead_letter, where
from processor.rules import Decision, Outcome
from processor.rules.trace import TRACE_MAX_BYTES
from processor.settings import Settings
from processor.stream.result import Result
from processor.wire import Codec, WireError

log = logging.getLogger(__name__)


class Emitter:
    """Writes decision records and rejections; one per stage, holding the stage's encoders."""

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._settings = settings
        audit = settings.topics.audit_topic
        # Where a decision record goes: the audit topic, and the unroutable topic too when so.
        self._decisions = codec.encoder("RoutingDecision", audit)
        self._unroutable = codec.encoder("RoutingDecision", settings.topics.unroutable_topic)
        # The trace takes at most half of an audit record, so that it never makes one too large.
        self._trace_bytes = min(TRACE_MAX_BYTES, settings.kafka.max_record_bytes // 2)
        self._budget = RoutingBudget(settings.processor.routing_budget_ms / 1000)

    def guarded(
        self,
        source: InputRecord,
        lead_id: str,
        work: Callable[[], Result],
        undo: Callable[[], None] = lambda: None,
    ) -> Result:
        """``work``'s result for the lead read from ``source``, or its rejection: when it takes
        longer than the routing budget (``too-slow``), fails (``processing-error``), or makes a
        record larger than the producer sends (``too-large``). ``undo`` takes back the state the
        work changed, so that a rejected lead leaves the state as if it never came (a lead too
        large to send sold nothing either)."""
        try:
            with self._budget.limit():
                done = work()
            result = self._within_limit(source, done, lead_id)
            if result is not done:
                undo()
            return result
        except TooSlow as slow:
            # The partition moves on. A lead routed again (re-driven) gets the same budget: a fix
            # to the rules lets it through.
            undo()
            return self.reject(source, "too-slow", str(slow), lead_id)
        except WireError as error:
            if error.transient:
                raise
            log.exception("encoding an output failed at %s", where(source))
            undo()
            return self.reject(source, "processing-error", str(error), lead_id)
        except Exception as error:
            # A lead that trips a bug must not stop every lead behind it: it goes to the
            # dead-letter topic like bad input, and the log says where (without its data). Its
            # lead id was read, so the audit topic has its rejection too.
            log.exception("routing failed at %s", where(source))
            undo()
            text = f"{type(error).__name__}: {error}"
            return self.reject(source, "processing-error", text, lead_id)

    def decision_records(
        self, key: bytes, audit: dict[str, Any], outcome: Outcome, lead: bytes | None = None
    ) -> list[OutputRecord]:
        """The decision record on the audit topic, and on the unroutable topic too when so; the
        unroutable copy carries the ``lead`` (single-object ``LeadSubmitted``), for a redrive."""
        (value,) = self._decisions.encode(audit)
        records = [OutputRecord(self._decisions.topics[0], key, value)]
        if outcome == "unroutable":
            (copy,) = self._unroutable.encode({**audit, "lead": lead})
            records.append(OutputRecord(self._unroutable.topics[0], key, copy))
        return records

    def decision_record(
        self,
        source: InputRecord,
        decision: Decision,
        deliveries: list[dict[str, Any]],
        geo: dict[str, Any] | None,
        rules_version: str | None,
        now: datetime,
        *,
        site_id: str | None = None,
        sequence: int | None = None,
    ) -> dict[str, Any]:
        """The RoutingDecision record of the lead read from ``source``; its trace explains up to
        ``audit_trace_failures`` non-matching assignments per tier, since explaining is the
        costliest step per lead."""
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
                "topic": source.topic(),
                "partition": source.partition(),
                "offset": source.offset(),
            },
            "decided_at": now,
            "sequence": sequence,
            "lead": None,
            "attempt": decision.attempt,
            "reoffer_of": decision.reoffer_of,
        }

    def reject(self, source: InputRecord, reason: str, text: str, lead_id: str | None) -> Result:
        """The dead-letter copy of ``source``, and the ``rejected`` decision when ``lead_id`` is
        set.

        The exception's class is named in the copy when one is being handled (called from an
        ``except``).
        """
        dead = dead_letter(source, self._settings.topics.dlq_topic, reason, text)
        records = [dead]
        if lead_id:
            rejected = Decision.rejected(lead_id, reason, text)
            audit = self.decision_record(source, rejected, [], None, None, datetime.now(UTC))
            records.extend(self.decision_records(lead_id.encode(), audit, rejected.outcome))
        log.warning("rejected the record at %s: %s", where(source), reason)
        return Result("rejected", None, records, dead_letter_reason=reason)

    def _within_limit(self, source: InputRecord, result: Result, lead_id: str) -> Result:
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
                return self.reject(source, "too-large", text, lead_id)
        return result
