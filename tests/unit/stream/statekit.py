"""A changelog topic in memory: what StateStores writes to it and reads back, without a broker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fakes import Record

from processor.kafka.records import OutputRecord
from processor.state.changelog import OnRecord


@dataclass
class FakeChangelog:
    """The committed records of each changelog partition; ``before_read`` runs before each read
    (to make records readable part way through a restore)."""

    partitions: dict[int, list[Record]] = field(default_factory=dict)
    reads: list[dict[int, int]] = field(default_factory=list)
    before_read: Callable[[int], None] | None = None

    def publish(self, records: list[OutputRecord]) -> None:
        """Appends ``records`` as a committed transaction would."""
        for record in records:
            assert record.partition is not None, "a changelog record names its partition"
            log = self.partitions.setdefault(record.partition, [])
            log.append(Record(record.topic, record.partition, len(log), record.key, record.value))

    def read(self, starts: Mapping[int, int], on_record: OnRecord) -> None:
        if self.before_read is not None:
            self.before_read(len(self.reads))
        self.reads.append(dict(starts))
        for partition, start in starts.items():
            for record in self.partitions.get(partition, [])[start:]:
                on_record(record)
