"""Both stages of the processor in one process, the hand-over between them kept in memory.

This is the function that the stream benchmark's contenders (a bare transactional loop, Quix
Streams) run for each consumed lead, so that they do the processor's own work without its
two-stage topology: a lead goes through ``MatchStage.process``, and the ``LeadMatched`` record it
hands on goes straight to ``DecideStage.process`` instead of through the decide topic. What the
decide stage makes (deliveries, the audit record, the unroutable copy), and whatever else the match
stage makes (a dead letter), are the records to produce.

The state is the decide stage's own (caps, duplicates, rotation), in a RocksDB store of its own
that starts empty, changed per transaction as the processor changes it: :meth:`changelog` gives
the transaction's changelog records before the Kafka commit, :meth:`commit` makes its writes the
committed state after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import TIMESTAMP_CREATE_TIME

from processor.app import enricher_for
from processor.control.state import read_config
from processor.kafka.records import Headers, InputRecord, OutputRecord
from processor.rules import Snapshot, compile_rules
from processor.settings import Settings
from processor.state.changelog import OnRecord
from processor.state.decide import DecideState
from processor.state.stores import StateStores
from processor.stream.decide import DecideStage
from processor.stream.match import MatchStage
from processor.wire import Codec

DECIDE_PARTITION = 0
"""The decide topic's one partition, whose state the decide stage keeps."""


class NoChangelog:
    """A changelog with nothing to restore: the state starts empty."""

    def read(self, starts: Mapping[int, int], on_record: OnRecord) -> None:
        """Nothing to read."""


def rules_in_force(settings: Settings) -> Snapshot:
    """The rules version in force on the config topic, compiled, as the processor follows it."""
    config = read_config(settings)
    if config.document is None or config.version is None:
        raise SystemExit(f"no rules in force on {settings.topics.config_topic}")
    return compile_rules(config.document, config.version)


@dataclass(frozen=True, slots=True)
class _HandedOn:
    """The match stage's ``LeadMatched`` record as the decide stage would consume it, at
    ``sequence`` on the decide topic."""

    record: OutputRecord
    sequence: int

    def topic(self) -> str:
        return self.record.topic

    def partition(self) -> int:
        return DECIDE_PARTITION

    def offset(self) -> int:
        return self.sequence

    def key(self) -> bytes | None:
        return self.record.key

    def value(self) -> bytes | None:
        return self.record.value

    def headers(self) -> Headers | None:
        return self.record.headers

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME, self.record.timestamp)


class StagesInMemory:
    """Routes each lead through both stages; the decide stage's state in ``folder``."""

    def __init__(self, settings: Settings, snapshot: Snapshot, folder: Path) -> None:
        codec = Codec.for_registry(settings.registry)
        self._enricher = enricher_for(settings.geo)
        self._match = MatchStage(settings, codec, self._enricher, lambda: snapshot)
        stores = StateStores(settings.with_changes(state_dir=folder), NoChangelog())
        self._state = DecideState(stores, settings.rules.lead_id_memory_days * 86_400)
        self._state.assign({DECIDE_PARTITION: -1})
        self._decide = DecideStage(settings, codec, lambda: snapshot, self._state)
        self._decide_topic = settings.topics.decide_topic
        self._sequence = 0
        """The offset the next hand-over would have on the decide topic."""

    def route(self, message: InputRecord) -> list[OutputRecord]:
        """The records to produce for ``message``."""
        out: list[OutputRecord] = []
        for record in self._match.process(message).records:
            if record.topic == self._decide_topic:
                out += self._decide.process(_HandedOn(record, self._sequence)).records
                self._sequence += 1
            else:
                out.append(record)
        return out

    def changelog(self) -> list[OutputRecord]:
        """The state's changelog records, to produce in the transaction about to commit."""
        return self._state.changelog({DECIDE_PARTITION: self._sequence})

    def commit(self) -> None:
        """The transaction committed: its state writes are the committed state now."""
        self._state.commit()

    def close(self) -> None:
        self._state.close()
        self._enricher.close()
