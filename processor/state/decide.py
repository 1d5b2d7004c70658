"""The decide stage's state: one ledger per assigned decide topic partition, over its store.

The decide topic has one partition, so one instance at a time holds all of routing's memory (caps,
duplicates, rotation): what a decision reads is exact, whichever input partition each lead came
through. A partition's :class:`Ledger` writes straight into its store's open transaction; the loop
takes the written keys as changelog records when it commits (``changelog``), after pruning what
has expired, and drops them on an abort (``rollback``), so that the batch is decided again from
the committed state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from processor.kafka.records import OutputRecord
from processor.rules import Ledger
from processor.state.stores import StateStores

PRUNE_LIMIT = 5000
"""Expired keys dropped per transaction at most: forgetting keeps pace with a busy stream without
making one commit wait on a large backlog (after a long pause, it is worked off over several)."""


class DecideState:
    """The :class:`Ledger` of each assigned decide partition, and the stores' transactions."""

    def __init__(self, stores: StateStores, lead_memory_s: int) -> None:
        self._stores = stores
        self._lead_memory_s = lead_memory_s
        self._ledgers: dict[int, Ledger] = {}

    def assign(self, committed: Mapping[int, int]) -> None:
        """Opens the stores of newly assigned partitions, at their ``committed`` input offsets."""
        self._stores.assign(committed)

    def revoke(self, partitions: Iterable[int]) -> None:
        gone = list(partitions)
        for partition in gone:
            self._ledgers.pop(partition, None)
        self._stores.revoke(gone)

    def of(self, partition: int) -> Ledger:
        """The partition's ledger, for the open transaction to change."""
        ledger = self._ledgers.get(partition)
        if ledger is None:
            store = self._stores.store(partition)
            ledger = self._ledgers[partition] = Ledger(store, self._lead_memory_s)
        return ledger

    def changelog(self, offsets: Mapping[int, int]) -> list[OutputRecord]:
        """The changelog records of a transaction committing the input ``offsets``: each
        partition's expired keys are dropped first (up to ``PRUNE_LIMIT``), so that old duplicate
        memory and cap windows leave the store and, as tombstones, the changelog; then what the
        transaction wrote to expire is indexed by day, for a later transaction to drop."""
        now_ms = int(time.time() * 1000)
        for partition in offsets:
            ledger, store = self.of(partition), self._stores.store(partition)
            ledger.prune(store, PRUNE_LIMIT, now_ms)
            ledger.index(list(store.pending()))
        return self._stores.changelog(offsets)

    def commit(self) -> None:
        """The transaction committed: its writes are the committed state now."""
        self._stores.commit()

    def rollback(self) -> None:
        """The transaction aborted: reads see the committed state again (a ledger keeps its salt
        in memory, which an aborted first write must not leave behind: each is made anew)."""
        self._ledgers.clear()
        self._stores.rollback()

    def close(self) -> None:
        self._stores.close()


class NoState:
    """The match stage's state: it keeps none, so every transaction carries offsets only."""

    def assign(self, committed: Mapping[int, int]) -> None:
        """Nothing to open."""

    def revoke(self, partitions: Iterable[int]) -> None:
        """Nothing to close."""

    def changelog(self, offsets: Mapping[int, int]) -> list[OutputRecord]:
        return []

    def commit(self) -> None:
        """Nothing to persist."""

    def rollback(self) -> None:
        """Nothing to drop."""

    def close(self) -> None:
        """Nothing to release."""
