"""A bare confluent-kafka consume-transform-produce loop, exactly-once, for the stream benchmark.

The processor's transactional pattern with nothing of its own around it: consume the input topic
read_committed, produce what ``transform`` makes of each record, and commit the consumed offsets
in the same transaction after ``batch_size`` records or ``commit_interval_ms``, whichever comes
first, as the processor's loop does. The passthroughs run it with a copy for ``transform``; the
bare-loop contender runs it around both stages of the processor (``python -m
benchmarks.eos_loop``, in a process of its own, its settings from the ``LEAD_ROUTER_*``
variables), which shows what the processor's own loop and its two-stage topology cost beyond the
work per lead.

It stops after ``count`` input records; it aborts nothing, and retries nothing: an error ends the
run, which then says so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from confluent_kafka import Message

from benchmarks.stages_in_memory import StagesInMemory, rules_in_force
from processor.kafka import clients
from processor.kafka.records import OutputRecord
from processor.kafka.session import UNASSIGNED
from processor.settings import Settings

KAFKA_TIMEOUT_S = 30


def drain(
    settings: Settings,
    count: int,
    transform: Callable[[Message], Iterable[OutputRecord]],
    *,
    changelog: Callable[[], Iterable[OutputRecord]] = tuple,
    committed: Callable[[], None] = lambda: None,
) -> None:
    """Runs ``transform`` over the first ``count`` records of the input topic in the settings'
    group, under their transactional id. Before each commit, the records of ``changelog`` join
    the transaction; once it has committed, ``committed`` is called (the state's commit)."""
    kafka = settings.kafka
    batch, interval = settings.processor.batch_size, kafka.commit_interval_ms / 1000
    consumer = clients.consumer(kafka, kafka.group_id, transactional=True)
    producer = clients.transactional_producer(
        kafka, kafka.transactional_id_or_default(), {"queue.buffering.max.messages": 1_000_000}
    )
    producer.init_transactions(KAFKA_TIMEOUT_S)
    consumer.subscribe([settings.topics.input_topic])

    def produce(records: Iterable[OutputRecord]) -> None:
        for record in records:
            while True:
                try:
                    producer.produce(
                        record.topic,
                        key=record.key,
                        value=record.value,
                        headers=record.headers,
                        timestamp=record.timestamp,
                        partition=UNASSIGNED if record.partition is None else record.partition,
                    )
                    break
                except BufferError:
                    producer.poll(0.05)

    done = pending = 0
    started = 0.0
    while done < count:
        for message in consumer.consume(batch, timeout=0.01 if pending else interval):
            if message.error() is not None:
                raise SystemExit(f"consuming {settings.topics.input_topic}: {message.error()}")
            if not pending:
                producer.begin_transaction()
                started = time.monotonic()
            produce(transform(message))
            pending += 1
        if pending and (pending >= batch or time.monotonic() - started >= interval):
            produce(changelog())
            producer.send_offsets_to_transaction(
                consumer.position(consumer.assignment()),
                consumer.consumer_group_metadata(),
                KAFKA_TIMEOUT_S,
            )
            producer.commit_transaction(KAFKA_TIMEOUT_S)
            committed()
            done += pending
            pending = 0
    consumer.close()
    producer.flush(KAFKA_TIMEOUT_S)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Both stages in a bare transactional loop.")
    parser.add_argument("--leads", type=int, required=True, help="input records to drain")
    args = parser.parse_args(argv)
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as folder:
        stages = StagesInMemory(settings, rules_in_force(settings), Path(folder))
        try:
            drain(
                settings,
                args.leads,
                stages.route,
                changelog=stages.changelog,
                committed=stages.commit,
            )
        finally:
            stages.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
