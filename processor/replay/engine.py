"""The replay engine: input records in, decisions out, with the processor's own functions.

A record is decoded and checked as the match stage does (``Codec.decode_lead``), located as the
processor locates it (``Enricher.whereabouts``) and decided with the ledger by ``decide``, so a
replayed decision is the one the processor, or ``dry-run``, makes for the same lead, state and
rules. Only the trace is left out: building it costs more than deciding, and a comparison needs
it for the few leads whose decision changed, which :meth:`Replayer.explain` decides again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from processor.geo.enrich import Enricher, Whereabouts
from processor.rules import Decision, Ledger, Snapshot, decide
from processor.wire import Codec, DecodeError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivered:
    """One partner's share of a replayed lead: ``assignment`` is None for a fallback delivery."""

    partner: str
    assignment: str | None
    price: float
    currency: str


@dataclass(frozen=True, slots=True)
class Routed:
    """One lead's decision as replay compares it: no trace."""

    lead_id: str | None
    """None only when the bytes had no readable lead id."""
    outcome: str
    """routed, fallback, unroutable, duplicate or rejected."""
    profile: str | None
    duplicate_of: str | None
    deliveries: tuple[Delivered, ...]
    error: str | None
    """``reason: message`` for a rejected lead, as its audit record words it."""


@dataclass(frozen=True, slots=True)
class _Last:
    """What the last routed lead was decided from: enough to decide it again with a trace."""

    lead: dict[str, Any]
    whereabouts: Whereabouts
    redriven: bool


class Replayer:
    """Routes input records in order over one ledger, as the processor would have.

    The ledger is the replay's own (the routing state as it was at the span's start): each lead's
    changes are remembered from :meth:`Ledger.begin` on, so that :meth:`explain` can decide the
    last lead again from the state it found.
    """

    __slots__ = ("_codec", "_enricher", "_last", "_ledger", "_snapshot")

    def __init__(
        self, snapshot: Snapshot, enricher: Enricher, ledger: Ledger, codec: Codec
    ) -> None:
        self._snapshot = snapshot
        self._enricher = enricher
        self._ledger = ledger
        self._codec = codec
        self._last: _Last | None = None

    def route(self, topic: str, value: bytes, *, redriven: bool = False) -> Routed:
        """Decodes and checks the input record's value as the match stage does, rejects what the
        processor would reject (outcome rejected, error as the audit record words it), enriches
        as the processor does and decides with the ledger, without a trace.

        ``redriven`` says the record is a lead published again by ``redrive``: an earlier
        unroutable decision of its lead id does not make it a duplicate. A registry that
        does not answer raises ``DecodeError`` (transient): the record itself may be fine.
        """
        self._last = None
        try:
            lead, _ = self._codec.decode_lead(topic, value)
        except DecodeError as error:
            if error.transient:
                raise
            return _rejected(error.lead_id, error.reason, str(error))
        whereabouts = self._enricher.whereabouts(lead)
        ledger = self._ledger
        ledger.begin()
        try:
            decision = decide(
                self._snapshot,
                lead,
                whereabouts.located().geo,
                ledger,
                trace=False,
                locate=whereabouts.at,
                redriven=redriven,
            )
        except Exception as error:
            # As in the processor: a lead that trips a bug is rejected, and the leads behind it
            # are still routed; the log says which lead without its data.
            log.exception("routing failed for a replayed lead")
            ledger.undo()
            return _rejected(
                lead["lead_id"], "processing-error", f"{type(error).__name__}: {error}"
            )
        self._last = _Last(lead, whereabouts, redriven)
        return Routed(
            decision.lead_id,
            decision.outcome,
            decision.profile,
            decision.duplicate_of,
            tuple(
                Delivered(each.partner, each.assignment, each.price, each.currency)
                for each in decision.deliveries
            ),
            None,
        )

    def explain(self) -> Decision:
        """The last routed lead decided again with its trace, from the state as it was before it,
        leaving the ledger as :meth:`route` left it.

        Raises ``LookupError`` when there is no such lead: none was routed yet, or the last one
        was rejected (its ``Routed`` says why, and a rejection has no trace).
        """
        last = self._last
        if last is None:
            raise LookupError("no lead was decided since the last rejection, or at all")
        ledger = self._ledger
        routed = ledger.written()
        ledger.undo()
        ledger.begin()
        located = last.whereabouts.located()
        decision = decide(
            self._snapshot,
            last.lead,
            located.geo,
            ledger,
            notes=located.notes,
            locate=last.whereabouts.at,
            redriven=last.redriven,
        )
        ledger.undo()
        ledger.begin()
        ledger.redo(routed)
        return decision


def _rejected(lead_id: str | None, reason: str, message: str) -> Routed:
    return Routed(lead_id, "rejected", None, None, (), f"{reason}: {message}")
