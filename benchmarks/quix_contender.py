"""The stream benchmark's Quix Streams contender: both stages of the processor in a Quix Streams
application, exactly-once.

quixstreams pins an older confluent-kafka than the project's, so this runs in an environment of
its own, made by ``make bench-env``, as ``.venv-bench/bin/python -m benchmarks.quix_contender
--leads N``, with its settings in the ``LEAD_ROUTER_*`` variables; ``benchmarks.bench_stream``
starts it so.

The application consumes the input topic as bytes. ``apply(..., expand=True)`` routes each lead
through both stages (:class:`~benchmarks.stages_in_memory.StagesInMemory`) and makes a row of each
record to produce; ``to_topic`` sends each row to its record's topic, with its key, headers and
timestamp (its own, or the time it is sent, as the processor's are), through the application's
transactional producer: with ``processing_guarantee="exactly-once"``, the rows of a checkpoint
commit in one Kafka transaction with its consumed offsets, which is the processor's guarantee.
Checkpoints follow the processor's batch size and commit interval, and the producer has the
processor's tuning, so that the comparison is of the frameworks, not of their settings.

Quix Streams has no hook after a checkpoint commits; a sink's ``flush``, which each checkpoint
calls just before it commits, is the one it offers. The stages' state commits there, just before
the transaction rather than just after it as the processor's does (the same work; only a crash
between the two would tell). Its changelog records are made but not produced: no public API adds
records to a checkpoint's transaction there, so this contender writes less than the processor and
the bare loop do (about one record per lead), which favours it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import TIMESTAMP_CREATE_TIME
from quixstreams import (  # type: ignore[import-not-found]  # only in .venv-bench
    Application,
    message_context,
)
from quixstreams.models import SerializationContext  # type: ignore[import-not-found]
from quixstreams.models.serializers import Serializer  # type: ignore[import-not-found]
from quixstreams.sinks import BaseSink  # type: ignore[import-not-found]

from benchmarks.stages_in_memory import StagesInMemory, rules_in_force
from processor.kafka.records import ConsumedRecord, Headers, OutputRecord
from processor.settings import Settings


class _RecordValue(Serializer):  # type: ignore[misc]
    """Produces a row's record's value as it is (the stages encoded it)."""

    def __call__(self, record: OutputRecord, ctx: SerializationContext) -> bytes | None:
        return record.value


class _StateAtCheckpoint(BaseSink):  # type: ignore[misc]
    """Commits the stages' state at each checkpoint: a sink only for the flush every checkpoint
    calls; the rows it is given are produced by ``to_topic``."""

    def __init__(self, stages: StagesInMemory) -> None:
        super().__init__()
        self._stages = stages

    def add(self, *args: Any, **kwargs: Any) -> None:
        """Each row is in the transaction already."""

    def flush(self) -> None:
        self._stages.changelog()
        self._stages.commit()


def run(settings: Settings, stages: StagesInMemory, outputs: Sequence[str], count: int) -> None:
    """Routes the first ``count`` records of the input topic; ``outputs``: every topic the
    stages may write to."""
    kafka = settings.kafka
    processed = 0

    def on_processed(topic: str, partition: int, offset: int) -> None:
        nonlocal processed
        processed += 1
        if processed >= count:
            app.stop()

    app = Application(
        broker_address=kafka.bootstrap_servers,
        consumer_group=kafka.group_id,
        auto_offset_reset="earliest",
        commit_interval=kafka.commit_interval_ms / 1000,
        commit_every=settings.processor.batch_size,
        processing_guarantee="exactly-once",
        producer_extra_config={
            # processor.kafka.clients.transactional_producer's tuning (it says why)
            "transactional.id": kafka.transactional_id_or_default(),
            "transaction.timeout.ms": kafka.transaction_timeout_ms,
            "retry.backoff.ms": 5,
            "retry.backoff.max.ms": 50,
            "linger.ms": max(5, kafka.commit_interval_ms // 2),
            "queue.buffering.max.messages": 1_000_000,
        },
        use_changelog_topics=False,
        auto_create_topics=False,
        loglevel="WARNING",
        on_message_processed=on_processed,
    )
    topics = {
        name: app.topic(name, key_serializer="bytes", value_serializer=_RecordValue())
        for name in outputs
    }
    leads = app.topic(
        settings.topics.input_topic, key_deserializer="bytes", value_deserializer="bytes"
    )

    def route(
        value: bytes, key: bytes | None, timestamp: int, headers: Headers | None
    ) -> list[OutputRecord]:
        at = message_context()
        return stages.route(
            ConsumedRecord(
                at.topic,
                at.partition,
                at.offset,
                key,
                value,
                headers or [],
                (TIMESTAMP_CREATE_TIME, timestamp),
            )
        )

    def sent_at(record: OutputRecord, key: object, timestamp: int, headers: object) -> int:
        return record.timestamp or time.time_ns() // 1_000_000

    def own_headers(record: OutputRecord, key: object, timestamp: int, headers: object) -> Headers:
        return record.headers or []

    rows = app.dataframe(leads).apply(route, expand=True, metadata=True)
    rows = rows.set_timestamp(sent_at).set_headers(own_headers)
    rows.to_topic(lambda record, *_: topics[record.topic], key=lambda record: record.key)
    rows.sink(_StateAtCheckpoint(stages))
    app.run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Both stages in a Quix Streams application.")
    parser.add_argument("--leads", type=int, required=True, help="input records to drain")
    args = parser.parse_args(argv)
    settings = Settings()
    snapshot = rules_in_force(settings)
    t = settings.topics
    outputs = [
        t.audit_topic,
        t.unroutable_topic,
        t.dlq_topic,
        *(t.delivery_topic(partner) for partner in snapshot.partner_ids()),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-quix-") as folder:
        stages = StagesInMemory(settings, snapshot, Path(folder))
        try:
            run(settings, stages, outputs, args.leads)
        finally:
            stages.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
