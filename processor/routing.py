"""Routing one lead: enrich, then decide, the one way for the processor, ``dry-run`` and ``replay``.

The processor decodes a lead from Avro and ``dry-run`` parses it from JSON; from there both ask
the same ``Router``, so a rules change tried with ``dry-run`` decides exactly as the processor
will, trace included (enrichment's notes open it as its ``geo`` step). ``Router.route_json`` is
``dry-run``'s way in: a JSON lead is checked by the same rules as a decoded one
(``lead_from_json`` builds the very record decoding gives, and validates it as decoding does), and
one the processor would reject comes out ``rejected`` with the words of the processor's audit
record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.geo.enrich import Enricher
from processor.rules import Decision, Ledger, MemoryStore, Snapshot, decide
from processor.wire import InvalidLead, lead_from_json


class Router:
    """Decides where leads go, each located by ``enricher`` first.

    The router does not own the enricher: whoever built it closes it, as it may outlive the
    router (the processor's ``App`` builds one enricher for the life of the process).
    """

    __slots__ = ("_enricher",)

    def __init__(self, enricher: Enricher) -> None:
        self._enricher = enricher

    def route(self, snapshot: Snapshot, lead: Mapping[str, Any], ledger: Ledger) -> Decision:
        """The decision for a valid lead (a decoded ``LeadSubmitted``), enrichment's notes in its
        trace; nearest-store routing asks for the lead's location by the profile's own sources."""
        whereabouts = self._enricher.whereabouts(lead)
        located = whereabouts.located()
        return decide(
            snapshot, lead, located.geo, ledger, notes=located.notes, locate=whereabouts.at
        )

    def route_json(self, snapshot: Snapshot, document: object, ledger: Ledger) -> Decision:
        """The decision for a lead parsed from JSON: ``rejected`` when the processor would reject
        it.

        Raises ``InvalidLead`` when the lead has no lead id to name a decision by: the processor
        dead-letters such a lead without an audit record.
        """
        try:
            lead = lead_from_json(document)
        except InvalidLead as error:
            if error.lead_id is None:
                raise
            return Decision.rejected(error.lead_id, error.reason, str(error), snapshot.version)
        return self.route(snapshot, lead, ledger)


SURROGATE = "a string is not Unicode text: it holds half of a surrogate pair (\\ud800-\\udfff)"


def fresh_ledger(lead_id_memory_days: int) -> Ledger:
    """Routing memory that starts empty: no cap used, no lead seen, no rotation yet. What
    ``dry-run`` and the console's "test a lead" decide with, so a tried lead changes nothing."""
    return Ledger(MemoryStore(), lead_id_memory_days * 86_400)


def is_unicode(value: object) -> bool:
    """True when every string in a parsed JSON value is Unicode text, as UTF-8 can carry it.

    JSON's escapes can write half of a surrogate pair (``\\ud800``), which no lead can carry on
    the wire; walked with a stack, as the value may be nested as deeply as ``json`` allows.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
