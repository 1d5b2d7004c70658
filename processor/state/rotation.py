"""Rotation state (round_robin, weighted) in a partition's state store, under one key."""

from __future__ import annotations

from processor.rules import RotationState
from processor.state.store import PartitionStore

ROTATION_KEY = b"rotation"


def load_rotation(store: PartitionStore) -> RotationState:
    """The rotation state of the store's partition; a fresh one before its first lead."""
    value = store.get(ROTATION_KEY)
    return RotationState() if value is None else RotationState.from_json(value)


def save_rotation(store: PartitionStore, state: RotationState) -> None:
    """Writes ``state`` in the store's open transaction."""
    store.set(ROTATION_KEY, state.to_json())
