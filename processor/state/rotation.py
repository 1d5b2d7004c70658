"""Rotation state (round_robin, weighted) of a decide partition, under one key of its store.

The decide stage changes a partition's :class:`RotationState` in place, lead by lead
(``processor.state.decide``); it is written back to the store when the transaction commits.
"""

from __future__ import annotations

import logging

from processor.errors import InvalidInput
from processor.rules import RotationState
from processor.state.store import PartitionStore

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
