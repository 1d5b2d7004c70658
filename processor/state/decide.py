"""The decide stage's state: one ledger (and rotation) per assigned decide topic partition.

The decide topic has one partition, so one instance at a time holds all of routing's memory: what
a decision reads is exact, whichever input partition each lead came through. The stage changes a
partition's :class:`Memory` lead by lead; the loop takes the changes as changelog records when it
commits (``changelog``), after pruning what has expired, and drops them on an abort (``rollback``),
so that the batch is decided again from the committed state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from processor.kafka.records import OutputRecord
from processor.rules import RotationState
from processor.rules.ledger import Ledger
from processor.state.rotation import load_rotation, save_rotation
from processor.state.store import PartitionStore
from processor.state.stores import StateStores

PRUNE_LIMIT = 5000
"""Expired keys dropped per transaction at most: forgetting keeps pace with a busy stream without
making one commit wait on a large backlog (after a long pause, it is worked off over several)."""


class Memory:
    """One partition's state as the open transaction sees it: the ledger over its store, and
    the rotation state the engine reads until it reads the ledger."""

    __slots__ = ("ledger", "rotation")

    def __init__(self, store: PartitionStore) -> None:
        self.ledger = Ledger(store)
        self.rotation: RotationState = load_rotation(store)

    def begin(self) -> None:
        """One lead starts: what it changes can be taken back with :meth:`undo`."""
        self.ledger.begin()
        self.rotation.begin()

    def undo(self) -> None:
        """The lead is rejected part way: the state is as if it had never come."""
        self.ledger.undo()
        self.rotation.undo()


class DecideState:
    """The :class:`Memory` of each assigned decide partition, read from its store when first
    needed, and the stores' transactions."""

    def __init__(self, stores: StateStores) -> None:
        self._stores = stores
        self._memories: dict[int, Memory] = {}
        self._touched: set[int] = set()

    def assign(self, committed: Mapping[int, int]) -> None:
        """Opens the stores of newly assigned partitions, at their ``committed`` input offsets."""
        self._stores.assign(committed)

    def revoke(self, partitions: Iterable[int]) -> None:
        gone = list(partitions)
        for partition in gone:
            self._memories.pop(partition, None)
            self._touched.discard(partition)
        self._stores.revoke(gone)

    def of(self, partition: int) -> Memory:
        """The partition's state, for the open transaction to change."""
        self._touched.add(partition)
        return self._memory(partition)

    def _memory(self, partition: int) -> Memory:
        memory = self._memories.get(partition)
        if memory is None:
            memory = self._memories[partition] = Memory(self._stores.store(partition))
        return memory

    def changelog(self, offsets: Mapping[int, int]) -> list[OutputRecord]:
        """The changelog records of a transaction committing the input ``offsets``: each
        partition's expired keys are dropped first (up to ``PRUNE_LIMIT``), so that old duplicate
        memory and cap windows leave the store and, as tombstones, the changelog."""
        for partition in offsets:
            store = self._stores.store(partition)
            self._memory(partition).ledger.prune(store, PRUNE_LIMIT)
        for partition in self._touched:
            save_rotation(self._stores.store(partition), self._memories[partition].rotation)
        return self._stores.changelog(offsets)

    def commit(self) -> None:
        """The transaction committed: the changed state is the committed one now."""
        self._touched.clear()
        self._stores.commit()

    def rollback(self) -> None:
        """The transaction aborted: each partition's state is read from its store again (a
        ledger keeps its salt in memory, which an aborted first write must not leave behind)."""
        self._memories.clear()
        self._touched.clear()
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
