"""Fills the index from the audit, receipts and dead-letter topics, each record exactly once.

Exactly once, with no consumer group: a batch's rows and the next offset of every partition the
batch read are written in one database transaction. The consumer is assigned at the offsets the
database holds, so after any crash (before the commit, during it, after it) the indexer starts
where the last committed transaction ended: a record's rows are in the database if and only if
the offsets past it are. The unique (topic, partition, offset) of every table makes a second
indexer on the same database fail its transaction rather than count a record twice.

A record that cannot be indexed (not a decision, a receipt from another tool, a time beyond the
calendar) is skipped, logged by topic, partition and offset only, and its offset advances with
the batch: nothing on a topic can stop the indexer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaException
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from processor.console.index import rollup
from processor.console.index.rows import (
    Place,
    Rows,
    Unusable,
    dead_letter_rows,
    decision_rows,
    receipt_rows,
)
from processor.console.index.schema import (
    COUNTED_TABLES,
    decision_deliveries,
    decisions,
    index_offsets,
)
from processor.console.index.source import KafkaSource, MessageSource, Position, Record
from processor.errors import ServiceUnavailable
from processor.settings import Settings
from processor.wire import Codec, DecodeError, SchemaName

log = logging.getLogger(__name__)

BATCH = 1_000
"""Records per transaction: large enough that a commit's cost is shared by many rows, small
enough that a page waiting on SQLite's write lock waits milliseconds."""
REDISCOVER_S = 10.0
"""How often partitions and topics are looked for again: a topic created after the console
started (no lead decided yet, no worker running yet) is indexed within this."""
RETRY_S = 2.0
"""The pause after a failed batch (broker or database away) before trying again."""


class OffsetsMoved(RuntimeError):
    """Another indexer wrote the same partitions meanwhile: this batch is not written, and
    reading starts again from the stored offsets."""


class Indexer:
    """Indexes ``settings``' audit, receipts and dead-letter topics into ``engine``'s index.

    ``source`` reads the topics; by default a read_committed Kafka consumer, so records of
    aborted transactions are never indexed.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        source: MessageSource | None = None,
        batch: int = BATCH,
    ) -> None:
        topics = settings.topics
        self._schemas: dict[str, SchemaName | None] = {
            topics.audit_topic: "RoutingDecision",
            topics.receipts_topic: "DeliveryReceipt",
            topics.dlq_topic: None,
        }
        self._dlq_topic = topics.dlq_topic
        self._engine = engine
        self._codec = Codec.for_registry(settings.registry)
        self._source = source if source is not None else KafkaSource(settings.kafka)
        self._batch = batch
        self._offsets: dict[Position, int] | None = None  # None: to be read from the database
        self._assigned: set[Position] = set()
        self._looked_at = 0.0
        self.skipped = 0
        """Records that could not be indexed since this indexer started."""

    def poll_once(self, timeout: float) -> int:
        """Reads one batch and writes its rows and offsets in one transaction; returns how many
        records it took (indexed or skipped). On any failure nothing of the batch is kept, and
        the next call reads again from the offsets in the database."""
        self._assign()
        records = self._source.consume(self._batch, timeout)
        if not records:
            self._past_markers()
            return 0
        try:
            self._write(records)
        except BaseException:
            self._offsets = None  # the consumer read past what the database holds: seek back
            raise
        return len(records)

    def run(self, stop: threading.Event) -> None:
        """Indexes until ``stop`` is set; a broker or database that fails is waited for."""
        while not stop.is_set():
            try:
                self.poll_once(0.5)
            except (KafkaException, ServiceUnavailable, DBAPIError, OffsetsMoved) as error:
                log.warning("console index: %s; trying again in %.0f s", _one_line(error), RETRY_S)
                stop.wait(RETRY_S)

    def close(self) -> None:
        self._source.close()

    def _assign(self) -> None:
        """Assigns every partition of the three topics: at the database's offsets on start and
        after a failure (the consumer may have read past them), and again when partitions
        appeared. Nothing is changed until the assignment is made, so a failure to look up the
        topics leaves the next call to seek back still."""
        now = time.monotonic()
        if self._offsets is not None and now - self._looked_at < REDISCOVER_S:
            return
        found = {(topic, p) for topic in self._schemas for p in self._source.partitions(topic)}
        self._looked_at = now
        if self._offsets is not None and found <= self._assigned:
            return
        if self._offsets is None:
            with self._engine.connect() as connection:
                offsets = _stored_offsets(connection)
        else:
            offsets = self._offsets
        self._source.assign({place: offsets.get(place, 0) for place in sorted(found)})
        self._assigned = found
        self._offsets = offsets
        log.info("console index: reading %d partitions of %s", len(found), ", ".join(self._schemas))

    def _write(self, records: Sequence[Record]) -> None:
        rows: list[Rows] = []
        ends: dict[Position, int] = {}
        for record in records:
            place = Place(record.topic() or "", record.partition() or 0, record.offset() or 0)
            ends[(place.topic, place.partition)] = place.offset + 1
            found = self._rows(record, place)
            if found is not None:
                rows.append(found)
        assert self._offsets is not None
        stored = self._offsets
        with self._engine.begin() as connection:
            _insert(connection, rows)
            for position, next_offset in ends.items():
                _store_offset(connection, position, next_offset, stored.get(position))
        stored.update(ends)

    def _past_markers(self) -> None:
        """Stores the offsets past the transaction markers that follow the last records read,
        once reading has caught up, so that an index read to the end stands at the end
        offsets (its lag reads 0, not 1 a partition). Every record before them is written
        already: this runs only when a read returned none."""
        assert self._offsets is not None
        stored = self._offsets
        ahead = {
            place: offset
            for place, offset in self._source.read_to().items()
            if offset > stored.get(place, 0)
        }
        if not ahead:
            return
        with self._engine.begin() as connection:
            for position, next_offset in ahead.items():
                _store_offset(connection, position, next_offset, stored.get(position))
        stored.update(ahead)

    def _rows(self, record: Record, place: Place) -> Rows | None:
        """The record's rows; None (logged, counted) when it cannot be indexed."""
        if place.topic == self._dlq_topic:
            return dead_letter_rows(_headers(record), record.timestamp()[1], place)
        schema = self._schemas[place.topic]
        assert schema is not None
        try:
            decoded = self._codec.decode(place.topic, record.value() or b"", schema)
            if schema == "RoutingDecision":
                return decision_rows(decoded, place)
            return receipt_rows(decoded, place)
        except DecodeError as error:
            if error.transient:  # the schema registry is away: read again later
                raise ServiceUnavailable(f"decoding {place.topic}: {error}") from error
            why = f"not a {schema} ({error.reason})"
        except (Unusable, KeyError, TypeError, ValueError, OverflowError) as error:
            why = f"not indexable ({type(error).__name__})"
        self.skipped += 1
        log.warning("console index: skipped %s[%d]@%d: %s", *_where(place), why)
        return None


def _insert(connection: Connection, rows: Sequence[Rows]) -> None:
    """Inserts the batch's rows table by table, and adds them to the partners' daily totals.

    Decisions go first, in one ``executemany``, and their ids are read back by their records'
    places: SQLite cannot return the ids of a many-row insert in order, and inserting row by
    row took a quarter of the indexer's time.
    """
    made = [found for found in rows if found.table == "decisions"]
    deliveries: list[dict[str, Any]] = []
    if made:
        d = decisions.c
        last = connection.execute(select(func.max(d.id))).scalar_one() or 0
        connection.execute(insert(decisions), [found.row for found in made])
        placed = connection.execute(
            select(d.partition, d.offset, d.id).where(d.id > last, d.topic == made[0].row["topic"])
        )
        ids = {(partition, offset): row_id for partition, offset, row_id in placed}
        deliveries = [
            {**delivery, "decision_id": ids[(found.row["partition"], found.row["offset"])]}
            for found in made
            for delivery in found.deliveries
        ]
        if deliveries:
            connection.execute(insert(decision_deliveries), deliveries)
    added = {"decisions": len(made)}
    for name in ("receipts", "dead_letters"):
        batch = [found.row for found in rows if found.table == name]
        if batch:
            connection.execute(insert(COUNTED_TABLES[name]), batch)
        added[name] = len(batch)
    rollup.add(connection, rollup.tally(deliveries, (r.row for r in rows if r.table == "receipts")))
    rollup.count(connection, added)


def _stored_offsets(connection: Connection) -> dict[Position, int]:
    rows = connection.execute(select(index_offsets))
    return {(row.topic, row.partition): row.next_offset for row in rows}


def _store_offset(
    connection: Connection, position: Position, offset: int, expected: int | None
) -> None:
    """Moves a partition's stored offset from ``expected`` (None: there is none yet) to
    ``offset``, compare-and-set: when another indexer moved it meanwhile, ``OffsetsMoved``
    rolls the batch back."""
    topic, partition = position
    if expected is None:
        connection.execute(
            insert(index_offsets).values(topic=topic, partition=partition, next_offset=offset)
        )
        return
    moved = connection.execute(
        update(index_offsets)
        .where(
            index_offsets.c.topic == topic,
            index_offsets.c.partition == partition,
            index_offsets.c.next_offset == expected,
        )
        .values(next_offset=offset)
    )
    if moved.rowcount != 1:
        raise OffsetsMoved(f"{topic}[{partition}] was indexed past {expected} by another indexer")


def _headers(record: Record) -> Mapping[str, str | bytes | None]:
    """A record's headers by name; the last of a name wins, as the processor appends its own
    error headers after the input's."""
    found = record.headers() or []
    return found if isinstance(found, dict) else dict(found)


def _where(place: Place) -> tuple[Any, ...]:
    return (place.topic, place.partition, place.offset)


def _one_line(error: BaseException) -> str:
    """An error in one line, without a database URL's password or a statement's parameters."""
    if isinstance(error, DBAPIError):
        return f"database: {type(error.orig).__name__}: {str(error.orig).splitlines()[0][:300]}"
    return str(error)[:300]
