"""The routing state (caps, duplicate memory, rotation) of each assigned partition, in its store.

Each partition's :class:`Ledger` writes straight into its store's open transaction; the loop takes
the written keys as changelog records when it commits, and drops them on an abort, so that the
next lead reads the committed state again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from processor.kafka.records import OutputRecord
from processor.rules import Ledger
from processor.state.stores import StateStores


class Rotations:
    """The ledger of each assigned partition, over its state store."""

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
        """The changelog records of a transaction committing the input ``offsets``."""
        return self._stores.changelog(offsets)

    def commit(self) -> None:
        """The transaction committed: its writes are the committed state now."""
        self._stores.commit()

    def rollback(self) -> None:
        """The transaction aborted: reads see the committed state again."""
        self._stores.rollback()

    def close(self) -> None:
        self._stores.close()
