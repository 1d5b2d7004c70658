"""The routing engine: rules documents in, decisions out; pure, with no Kafka in sight.

Load and validate a document (:func:`load_rules`, or :func:`document_from_parts` for the config
topic's parts), compile it once per version (:func:`compile_rules`), then route each lead with
:func:`decide`, with a :class:`Ledger` of what routing remembers (caps, duplicates, rotation).
:func:`lint` finds rules that are valid but probably not what was meant. :class:`RulesLimits`
bounds every document read.
"""

from processor.rules.decide import Decision, Delivery, Matched, Outcome, TierName, decide, match
from processor.rules.document import RulesDocument
from processor.rules.errors import LeadWithoutId, RuleError, RulesInvalid
from processor.rules.findings import Finding
from processor.rules.ledger import Ledger, MemoryStore
from processor.rules.limits import RulesLimits
from processor.rules.lint import lint
from processor.rules.load import load_rules
from processor.rules.parts import document_from_parts, document_to_parts
from processor.rules.snapshot import Snapshot, compile_rules
from processor.rules.validate import validate_document

__all__ = [
    "Decision",
    "Delivery",
    "Finding",
    "LeadWithoutId",
    "Ledger",
    "Matched",
    "MemoryStore",
    "Outcome",
    "RuleError",
    "RulesDocument",
    "RulesInvalid",
    "RulesLimits",
    "Snapshot",
    "TierName",
    "compile_rules",
    "decide",
    "document_from_parts",
    "document_to_parts",
    "lint",
    "load_rules",
    "match",
    "validate_document",
]
