"""Both stages of the processor in one process, for unit tests of what the decide stage does
with the records the match stage (or anyone else) writes to the decide topic.

The decide stage's state is RocksDB in a folder of each test's own, its changelog kept in memory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import TIMESTAMP_CREATE_TIME
from statekit import FakeChangelog

from processor.geo.enrich import Enricher
from processor.kafka.records import Headers, OutputRecord
from processor.rules import Snapshot, compile_rules, load_rules
from processor.rules.ledger import LEAD_MEMORY_S
from processor.settings import Settings
from processor.state.decide import DecideState
from processor.state.stores import StateStores
from processor.stream.decide import DecideStage
from processor.stream.match import MatchStage
from processor.stream.result import Result
from processor.wire import Codec, lead_from_json

RULES = """
partners:
  - {id: crm, format: json, destinations: ["https://crm.example"]}
profiles:
  - {id: main, sources: [web], assignments: [{id: a, partner: crm}]}
"""


INPUT_HEADERS = (("traceparent", b"00-4bf92f3577b34da6-00f067aa0ba902b7-01"), ("origin", b"web"))
INPUT_TIMESTAMP = 1_763_632_800_000


class Message:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def topic(self) -> str:
        return "leads"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 42

    def key(self) -> bytes:
        return b"the-key"

    def value(self) -> bytes:
        return self._value

    def headers(self) -> Headers:
        return list(INPUT_HEADERS)

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME, INPUT_TIMESTAMP)


SUBMITTED = datetime(2026, 11, 20, 10, tzinfo=UTC)


def lead(**changes: Any) -> bytes:
    document = {"lead_id": "lead-1", "submitted_at": "2026-11-20T10:00:00Z", "site_id": "web"}
    return Codec().encode("leads", "LeadSubmitted", lead_from_json(document | changes))


class Forwarded:
    """The record the match stage forwarded, as the decide stage consumes it."""

    def __init__(self, record: OutputRecord) -> None:
        self._record = record

    def topic(self) -> str:
        return self._record.topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def key(self) -> bytes | None:
        return self._record.key

    def value(self) -> bytes | None:
        return self._record.value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME, self._record.timestamp)


class Stages:
    """Both stages, with the decide stage's state in a folder of its own."""

    def __init__(self, folder: Path, rules: str, **settings: Any) -> None:
        own = Settings(state_dir=folder, transactional_id="stages", **settings)
        snapshot: Snapshot = compile_rules(load_rules(rules), "1")
        codec = Codec()
        self.state = DecideState(StateStores(own, FakeChangelog()), LEAD_MEMORY_S)
        self.state.assign({0: -1})
        self.match = MatchStage(own, codec, Enricher(), lambda: snapshot)
        self.decide = DecideStage(own, codec, lambda: snapshot, self.state)

    def process(self, value: bytes) -> Result:
        matched = self.match.process(Message(value))
        if matched.outcome is not None:
            return matched
        (forwarded,) = matched.records
        return self.decide.process(Forwarded(forwarded))

    def matched(self, value: bytes) -> dict[str, Any]:
        """The ``LeadMatched`` record the match stage forwards for an input record."""
        (forwarded,) = self.match.process(Message(value)).records
        return Codec().decode(forwarded.topic, forwarded.value or b"", "LeadMatched")
