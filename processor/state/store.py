"""One consumed partition's state: a RocksDB database, changed through the open transaction.

Writes wait in memory until the Kafka transaction that carries them to the changelog has committed;
only then do they reach RocksDB, in one batch with the input offset they belong to. So RocksDB holds
committed state only, and the input offset stored beside it says which: a local copy whose offset
equals the group's committed offset is current.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch, WriteBufferManager

from processor.state.changelog import MARKER_KEY

_META = "meta"
"""The column family of what the store knows of itself, apart from the keys it holds."""
_INPUT_OFFSET = b"input-offset"

NO_OFFSET = -1
"""The input offset of a store that holds no committed state."""


MEMORY_BYTES = 32 * 2**20
"""What RocksDB may hold in memory, all stores of the process together: its block cache, which
the stores' write buffers are charged to. The processor shares its memory with the rules."""
WRITE_BUFFERS_BYTES = 16 * 2**20
"""Of ``MEMORY_BYTES``, what the write buffers (memtables) of all stores may take."""
_WRITE_BUFFER_BYTES = 4 * 2**20
"""One store's write buffer: flushed to disk when full."""


@functools.cache
def _memory() -> tuple[Cache, WriteBufferManager]:
    """The block cache and write buffer budget every store of the process shares."""
    cache = Cache(MEMORY_BYTES)
    return cache, WriteBufferManager.new_write_buffer_manager_with_cache(
        WRITE_BUFFERS_BYTES, False, cache
    )


def _options() -> Options:
    cache, write_buffers = _memory()
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    table.set_cache_index_and_filter_blocks(True)
    # Most reads ask for keys that are not there (a person never seen, a lead id never decided):
    # a Bloom filter answers those without reading a block of every level.
    table.set_bloom_filter(10, False)
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.create_missing_column_families(True)
    options.set_block_based_table_factory(table)
    options.set_write_buffer_manager(write_buffers)
    options.set_write_buffer_size(_WRITE_BUFFER_BYTES)
    return options


class PartitionStore:
    """One partition's key-value state: RocksDB on disk, changed through a transaction."""

    def __init__(self, partition: int, path: Path, *, temporary: bool = False) -> None:
        """``temporary``: the folder is deleted when the store closes."""
        self.partition = partition
        self._path = path
        self._temporary = temporary
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), _options(), column_families={_META: _options()})
        self._meta = self._db.get_column_family(_META)
        self._pending: dict[bytes, bytes | None] = {}
        """The open transaction's writes; None deletes."""

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, as the open transaction left it."""
        if key in self._pending:
            return self._pending[key]
        value: bytes | None = self._db.get(key)
        return value

    def set(self, key: bytes, value: bytes) -> None:
        """Sets ``key`` in the open transaction."""
        self._pending[_own(key)] = value

    def delete(self, key: bytes) -> None:
        """Deletes ``key`` in the open transaction."""
        self._pending[_own(key)] = None

    def is_pending(self, key: bytes) -> bool:
        """Whether the open transaction wrote (or deleted) ``key``."""
        return key in self._pending

    def unwrite(self, key: bytes) -> None:
        """Drops the open transaction's write of ``key``: it reads as committed again."""
        self._pending.pop(key, None)

    def scan(self, prefix: bytes, limit: int) -> Iterator[tuple[bytes, bytes]]:
        """Up to ``limit`` committed keys that start with ``prefix``, in key order, with their
        values, read as they are taken (an expiry index value lists many keys, and pruning, the
        one reader, stops when it has dropped enough); the open transaction's writes are not seen
        (pruning reads what earlier transactions left)."""
        if limit <= 0:
            return
        for taken, (key, value) in enumerate(self._db.items(from_key=prefix), 1):
            assert isinstance(key, bytes)  # raw mode: keys are bytes
            if not key.startswith(prefix):
                return
            yield key, value
            if taken >= limit:
                return

    @property
    def input_offset(self) -> int:
        """The next input offset of the committed state held here (``NO_OFFSET``: none)."""
        value: bytes | None = self._meta.get(_INPUT_OFFSET)
        return NO_OFFSET if value is None else int(value)

    def pending(self) -> Iterator[tuple[bytes, bytes | None]]:
        """The open transaction's writes, each key once with its last value (None: deleted)."""
        return iter(self._pending.items())

    def commit(self, input_offset: int) -> None:
        """Writes the pending writes to RocksDB as the state of ``input_offset``, atomically."""
        self.write(self._pending.items(), input_offset)
        self._pending.clear()

    def rollback(self) -> None:
        """Drops the pending writes: reads see the committed state again."""
        self._pending.clear()

    def write(self, changes: Iterable[tuple[bytes, bytes | None]], input_offset: int) -> None:
        """Writes ``changes`` (None: delete) and ``input_offset`` in one RocksDB batch."""
        batch = WriteBatch(raw_mode=True)
        for key, value in changes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(
            _INPUT_OFFSET, str(input_offset).encode(), self._db.get_column_family_handle(_META)
        )
        self._db.write(batch)

    def close(self) -> None:
        """Drops the pending writes and closes the database; its files stay for the next owner."""
        self._pending.clear()
        self._meta.close()
        self._db.close()
        if self._temporary:
            shutil.rmtree(self._path, ignore_errors=True)

    def wipe(self) -> PartitionStore:
        """Closes and deletes the database; returns an empty one in its place."""
        self.close()
        shutil.rmtree(self._path, ignore_errors=True)
        return PartitionStore(self.partition, self._path, temporary=self._temporary)


def _own(key: bytes) -> bytes:
    """``key``, unless it is the changelog's marker key, which no store may write."""
    if key == MARKER_KEY:
        raise ValueError(f"the key {MARKER_KEY!r} is the changelog's own")
    return key
