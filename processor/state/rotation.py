"""Rotation state (round_robin, weighted) of each assigned input partition, in its state store.

The pipeline changes a partition's :class:`RotationState` in place, lead by lead; the loop hands
the changed ones to their stores (one key each) when it commits, and drops them on an abort, so
that the next lead reads the committed state again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from processor.errors import InvalidInput
from processor.kafka.records import OutputRecord
from processor.rules import RotationState
from processor.state.store import PartitionStore
from processor.state.stores import StateStores

log = logging.getLogger(__name__)

ROTATION_KEY = b"rotation"


def load_rotation(store: PartitionStore) -> RotationState:
    """The rotation state of the store's partition; a fresh one before its first lead, and in
    place of a value that is no rotation state (the changelog is a topic anyone with access can
    write to: such a value must not stop the partition, at every restart)."""
    value = store.get(ROTATION_KEY)
    if value is None:
        return RotationState()
    try:
        return RotationState.from_json(value)
    except InvalidInput as error:
        log.error(
            "rotation state of partition %s is unreadable (%s); rotation starts afresh",
            store.partition,
            error,
        )
        return RotationState()


def save_rotation(store: PartitionStore, state: RotationState) -> None:
    """Writes ``state`` in the store's open transaction."""
    store.set(ROTATION_KEY, state.to_json())


class Rotations:
    """The rotation state of each assigned partition, read from its store when first needed."""

    def __init__(self, stores: StateStores) -> None:
        self._stores = stores
        self._states: dict[int, RotationState] = {}
        self._touched: set[int] = set()

    def assign(self, committed: Mapping[int, int]) -> None:
        """Opens the stores of newly assigned partitions, at their ``committed`` input offsets."""
        self._stores.assign(committed)

    def revoke(self, partitions: Iterable[int]) -> None:
        gone = list(partitions)
        for partition in gone:
            self._states.pop(partition, None)
            self._touched.discard(partition)
        self._stores.revoke(gone)

    def of(self, partition: int) -> RotationState:
        """The partition's state, for the open transaction to change."""
        self._touched.add(partition)
        state = self._states.get(partition)
        if state is None:
            state = self._states[partition] = load_rotation(self._stores.store(partition))
        return state

    def changelog(self, offsets: Mapping[int, int]) -> list[OutputRecord]:
        """The changelog records of a transaction committing the input ``offsets``."""
        for partition in self._touched:
            save_rotation(self._stores.store(partition), self._states[partition])
        return self._stores.changelog(offsets)

    def commit(self) -> None:
        """The transaction committed: the changed states are the committed ones now."""
        self._touched.clear()
        self._stores.commit()

    def rollback(self) -> None:
        """The transaction aborted: each partition's state is read from its store again."""
        self._states.clear()
        self._touched.clear()
        self._stores.rollback()

    def close(self) -> None:
        self._stores.close()
