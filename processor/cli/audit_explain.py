"""``audit show``'s explanation on demand: the assignments an audit record only counts, explained.

The processor's audit record says what the decision did and counts the assignments that did not
match (explaining them was most of its work per lead); see :func:`processor.rules.trace.expand`.
Asked about one lead, this reads what the explanation needs: the rules version the decision names
(from the history topic, each version once) and the lead, from the input record the decision
names. Either can be gone (the history's or the input topic's retention) or not be what the
record says (anyone who can write the audit topic can write a record): then the decision keeps
the trace it has and a note says why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer

from processor.audit.inputs import outside_input, read_input_lead
from processor.control.documents import from_history
from processor.control.records import version_number
from processor.errors import InvalidInput
from processor.geometry.geo import Geo
from processor.rules import compile_rules
from processor.rules.snapshot import Snapshot
from processor.rules.trace import expand
from processor.settings import Settings
from processor.wire import Codec

Decision = dict[str, Any]


class Explainer:
    """Fills in the counted assignments of decisions' traces; one per command, reusing the rules
    versions it has read."""

    def __init__(self, settings: Settings, codec: Codec, limit: int | None) -> None:
        self._settings = settings
        self._codec = codec
        self._limit = limit
        self._snapshots: dict[str, Snapshot | str] = {}
        self._leads: dict[tuple[int, int], Mapping[str, Any] | str] = {}

    def explained(self, decision: Decision, consumer: Consumer) -> tuple[Decision, str | None]:
        """``decision`` with its trace filled in, or as it is with why not (None when nothing in
        it was left to explain)."""
        trace = json.loads(decision["trace"] or "[]")
        if self._limit == 0 or not any(_counted(entry) for entry in trace):
            return decision, None
        version = decision.get("rules_version")
        snapshot = self._snapshot(version) if isinstance(version, str) else "names no rules version"
        if isinstance(snapshot, str):
            return decision, f"not explained: {snapshot}"
        lead = self._lead(decision, consumer)
        if isinstance(lead, str):
            return decision, f"not explained: {lead}"
        try:
            geo = None if decision.get("geo") is None else Geo(**decision["geo"])
        except (TypeError, ValueError):
            return decision, "not explained: its geo is not a location"
        filled = expand(trace, snapshot, lead, geo, self._limit)
        return {**decision, "trace": json.dumps(filled)}, None

    def _snapshot(self, version: str) -> Snapshot | str:
        """The rules of ``version``, compiled; or why they cannot be had."""
        if version not in self._snapshots:
            self._snapshots[version] = self._read_version(version)
        return self._snapshots[version]

    def _read_version(self, version: str) -> Snapshot | str:
        number = version_number(version)
        if number is None:
            return f"rules version {version!r} is not one the history numbers"
        try:
            return compile_rules(from_history(self._settings, number).document, version)
        except InvalidInput as refused:  # UnknownVersion among them
            return str(refused)

    def _lead(self, decision: Decision, consumer: Consumer) -> Mapping[str, Any] | str:
        """The lead the decision was made for, from the input record it names; or why not.

        Only a record of the input topic that the topic still holds is read, each once: a forged
        decision naming another topic, or an offset past the end (where a read would wait out
        its timeout), costs a look at the watermarks, not a wait."""
        source = decision["source"]
        topic, partition, offset = source["topic"], source["partition"], source["offset"]
        where = f"{topic}[{partition}]@{offset}"
        elsewhere = outside_input(self._settings.topics.input_topic, topic, partition, offset)
        if elsewhere is not None:
            return f"{where} {elsewhere}"
        if (partition, offset) not in self._leads:
            self._leads[(partition, offset)] = read_input_lead(
                consumer, self._codec, topic, partition, offset
            )
        lead = self._leads[(partition, offset)]
        if isinstance(lead, str):
            return f"{where} {lead}"
        if lead["lead_id"] != decision["lead_id"]:
            return f"{where} holds another lead"
        return lead


def _counted(entry: object) -> bool:
    return isinstance(entry, dict) and entry.get("step") == "not_shown"
