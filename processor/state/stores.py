"""The state stores of the input partitions assigned to this processor.

The loop changes state only through a store's open transaction, and the Kafka transaction that
commits input offsets carries the changes as changelog records (``changelog``). Once Kafka has
committed, the changes reach RocksDB with the offset they belong to (``commit``); after an abort
they are dropped (``rollback``). So the changelog always holds the state of the committed offsets,
and a local store knows whether it is current.

When a partition is assigned, its local store is kept if it holds the state of the committed
offset, and otherwise wiped and restored from the changelog partition's beginning. Right after
another owner's commit, its offsets can be readable before its changelog records are (the broker
writes a transaction's markers partition by partition), so the restore reads on until the
partition's marker names the committed offset, for up to ``CATCH_UP_S``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping

from processor.kafka.records import InputRecord, OutputRecord
from processor.settings import Settings
from processor.state.changelog import (
    ChangelogReader,
    KafkaChangelogReader,
    marker,
    marker_offset,
)
from processor.state.store import NO_OFFSET, PartitionStore

log = logging.getLogger(__name__)

CATCH_UP_S = 10.0
"""How long a restore waits for the state of the committed offset before it goes on with what it
found (a changelog that was cleared, or written before it had markers)."""

_CATCH_UP_PAUSE_S = 0.05
_RESTORE_BATCH = 10_000
"""Restored records are written to RocksDB this many at a time: memory stays bounded."""


class StateStores:
    """The stores of the partitions assigned to this processor, and their changelog topic."""

    def __init__(self, settings: Settings, reader: ChangelogReader | None = None) -> None:
        self._topic = settings.topics.state_topic
        self._folder = (
            settings.processor.state_dir.expanduser()
            / settings.kafka.transactional_id_or_default()
            / self._topic
        )
        self._reader = reader if reader is not None else KafkaChangelogReader(settings)
        self._stores: dict[int, PartitionStore] = {}
        self._in_transaction: dict[int, int] = {}
        """The input offsets of the last ``changelog``: what ``commit`` persists."""

    def assign(self, committed: Mapping[int, int]) -> None:
        """Opens the store of each partition at its ``committed`` input offset (negative: nothing
        committed yet, an empty store), restoring those whose local copy is not current."""
        stale: dict[int, int] = {}
        for partition, offset in committed.items():
            self.revoke([partition])
            store = self._open(partition)
            if offset < 0 or store.input_offset != offset:
                store = store.wipe()
                if offset >= 0:
                    stale[partition] = offset
            self._stores[partition] = store
        if stale:
            self._restore(stale)
        log.info(
            "state of partitions %s opened, %s restored from %s",
            sorted(committed),
            sorted(stale),
            self._topic,
        )

    def _open(self, partition: int) -> PartitionStore:
        """The partition's store in its folder; a temporary one (restored from the changelog)
        when another process holds that folder: a processor with the same transactional id on
        this host, which this one replaces (fenced, or about to be) and which may still run."""
        path = self._folder / str(partition)
        try:
            return PartitionStore(partition, path)
        except Exception as error:  # rocksdict says only in words that the folder is locked
            if "lock" not in str(error).lower():
                raise
        temporary = path.with_name(f"{partition}.{os.getpid()}")
        log.warning(
            "the state of partition %s in %s is held by another process with the same "
            "transactional id; using %s until this one stops",
            partition,
            path,
            temporary,
        )
        return PartitionStore(partition, temporary, temporary=True)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Drops the pending writes of ``partitions`` and closes their stores."""
        for partition in partitions:
            self._in_transaction.pop(partition, None)
            store = self._stores.pop(partition, None)
            if store is not None:
                store.close()

    def store(self, partition: int) -> PartitionStore:
        """The store of an assigned partition; KeyError for another."""
        return self._stores[partition]

    def changelog(self, offsets: Mapping[int, int]) -> list[OutputRecord]:
        """The records to produce in the Kafka transaction that commits input ``offsets``
        (partition: next input offset): the pending writes of those partitions' stores and, for
        every one of them, touched or not, the marker of its offset. KeyError for a partition
        not assigned."""
        records: list[OutputRecord] = []
        for partition, offset in offsets.items():
            for key, value in self.store(partition).pending():
                records.append(OutputRecord(self._topic, key, value, partition=partition))
            records.append(marker(self._topic, partition, offset))
        self._in_transaction = dict(offsets)
        return records

    def commit(self) -> None:
        """After Kafka committed the last ``changelog``'s transaction: its writes go to RocksDB,
        one batch per store with the input offset they belong to."""
        for partition, offset in self._in_transaction.items():
            self._stores[partition].commit(offset)
        self._in_transaction = {}

    def rollback(self) -> None:
        """After an abort: every pending write is dropped, reads see the committed state."""
        for store in self._stores.values():
            store.rollback()
        self._in_transaction = {}

    def close(self) -> None:
        self.revoke(list(self._stores))

    def _restore(self, committed: dict[int, int]) -> None:
        """Fills the (empty) stores of ``committed`` from the changelog, reading on until each
        partition's marker reaches its committed offset or ``CATCH_UP_S`` has passed."""
        restoring = {p: _Restoring(self._stores[p]) for p in committed}

        def take(record: InputRecord) -> None:
            restoring[record.partition() or 0].take(record)

        deadline = time.monotonic() + CATCH_UP_S
        while True:
            self._reader.read({p: r.next_offset for p, r in restoring.items()}, take)
            behind = [
                p for p, offset in committed.items() if offset > 0 and restoring[p].marker < offset
            ]
            if not behind:
                break
            if time.monotonic() > deadline:
                log.warning(
                    "state of partitions %s in %s is older than their committed offsets; "
                    "going on with it",
                    behind,
                    self._topic,
                )
                break
            time.sleep(_CATCH_UP_PAUSE_S)  # the previous owner's commit markers are on their way
        for each in restoring.values():
            each.finish()


class _Restoring:
    """One store being restored: its records go to RocksDB a batch at a time, and the input
    offset they belong to only at the end, so an interrupted restore never looks current."""

    def __init__(self, store: PartitionStore) -> None:
        self._store = store
        self._batch: list[tuple[bytes, bytes | None]] = []
        self.next_offset = 0
        """The changelog offset to read from next."""
        self.marker = NO_OFFSET
        """The input offset of the last marker read."""

    def take(self, record: InputRecord) -> None:
        self.next_offset = (record.offset() or 0) + 1
        offset = marker_offset(record)
        if offset is not None:
            self.marker = offset
            return
        key = record.key()
        if key is None:
            return  # not a state record: compaction keeps no record without a key
        self._batch.append((key, record.value()))
        if len(self._batch) >= _RESTORE_BATCH:
            self._write(NO_OFFSET)

    def finish(self) -> None:
        self._write(self.marker)

    def _write(self, input_offset: int) -> None:
        self._store.write(self._batch, input_offset)
        self._batch = []
