"""Routing past leads again, without a trace: replay's inner loop.

A placeholder of the engine's interface, deciding as the processor does.
"""

from __future__ import annotations

from dataclasses import dataclass

from processor.geo.enrich import Enricher
from processor.rules import Decision, Ledger, Snapshot, decide
from processor.wire import Codec, DecodeError


@dataclass(frozen=True, slots=True, order=True)
class Delivered:
    partner: str
    assignment: str | None
    price: float
    currency: str


@dataclass(frozen=True, slots=True)
class Routed:
    """One lead's decision as replay compares it: no trace."""

    lead_id: str | None
    outcome: str
    profile: str | None
    duplicate_of: str | None
    deliveries: tuple[Delivered, ...]
    error: str | None


class Replayer:
    def __init__(self, snapshot: Snapshot, enricher: Enricher, ledger: Ledger, codec: Codec):
        self._snapshot, self._enricher, self._ledger, self._codec = (
            snapshot,
            enricher,
            ledger,
            codec,
        )
        self._last: dict | None = None  # type: ignore[type-arg]
        self._redriven = False

    def route(self, topic: str, value: bytes, *, redriven: bool = False) -> Routed:
        try:
            lead, _ = self._codec.decode_lead(topic, value)
        except DecodeError as error:
            self._last = None
            return Routed(error.lead_id, "rejected", None, None, (), f"{error.reason}: {error}")
        self._last, self._redriven = lead, redriven
        self._ledger.begin()
        decision = self._decide(lead, trace=False)
        return Routed(
            decision.lead_id,
            decision.outcome,
            decision.profile,
            decision.duplicate_of,
            tuple(
                sorted(
                    Delivered(d.partner, d.assignment, d.price, d.currency)
                    for d in decision.deliveries
                )
            ),
            decision.error,
        )

    def explain(self) -> Decision:
        assert self._last is not None
        self._ledger.undo()
        self._ledger.begin()
        return self._decide(self._last, trace=True)

    def _decide(self, lead: dict, trace: bool) -> Decision:  # type: ignore[type-arg]
        whereabouts = self._enricher.whereabouts(lead)
        located = whereabouts.located()
        return decide(
            self._snapshot,
            lead,
            located.geo,
            self._ledger,
            trace=trace,
            redriven=self._redriven,
            notes=located.notes,
            locate=whereabouts.at,
        )
