"""Stream throughput benchmark: the processor against a bare passthrough, on one real broker.

Starts its own single-node Kafka broker, publishes a realistic rules document (1,000 assignments,
from bench_rules' generator) and N leads as Avro, then measures in the same run, on the same broker
and the same input records, with exactly-once on for both:

- passthrough: a bare confluent-kafka consumer and transactional producer copying every record
  to one output topic, committing offsets in the transactions (the ceiling for this EOS setting);
- the same passthrough fanned out: each record also copied to one of the rules' partner topics
  in turn, so that transactions touch as many partitions as the processor's do;
- processor: ``lead-router run`` as a separate process draining the same input through both
  stages (match: decode, enrich, hand on to the decide topic; decide: route, deliveries + audit
  record per lead; each in its transactions); with ``--processes N``, N of them over N input
  partitions, one of them deciding;
- end-to-end latency of the processor at a fixed offered load below its capacity: leads published
  at a steady rate while it runs, latency from publishing a lead to a read_committed consumer
  seeing its audit record.

Throughput is records over the span between the first and the last output record's timestamp, so
process start-up and group joins are not counted on either side.

    .venv/bin/python -m benchmarks.bench_stream
    .venv/bin/python -m benchmarks.bench_stream --leads 100000 --rate 1000 --processes 2
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from benchmarks.bench_rules import generate_document, generate_lead, with_state
from processor.control.publisher import publish_rules
from processor.kafka import clients
from processor.kafka.admin import TopicAdmin, TopicSpec
from processor.localkafka import EmbeddedKafka
from processor.rules.validate import validate_document
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec, lead_from_json

COPY_TOPIC = "bench.copy"
FANNED_COPY_TOPIC = "bench.copy-fanned"


def encoded_leads(count: int, prefix: str, seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    codec = Codec()
    out = []
    for n in range(count):
        lead, _ = generate_lead(rng, n)
        lead["lead_id"] = f"{prefix}-{n:07d}"
        out.append(
            (lead["lead_id"].encode(), codec.encode("in", "LeadSubmitted", lead_from_json(lead)))
        )
    return out


def produce_all(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)
    producer.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process (all its threads) has used so far, from Linux /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds that processes used between ``start`` and ``stop``."""

    def __init__(self, pids: Sequence[int]) -> None:
        self._pids = pids
        self._start = self._now()
        self.used = 0.0

    def _now(self) -> float:
        return sum(cpu_seconds(pid) for pid in self._pids)

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        self.used = self._now() - self._start


def timestamps(
    bootstrap: str,
    topic: str,
    count: int,
    timeout: float = 600,
    on_first: Callable[[], None] | None = None,
) -> list[float]:
    """The timestamps (s) of the first ``count`` committed records of ``topic``, as they come;
    ``on_first`` is called when the first one is seen."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ts-{topic}",
            "isolation.level": "read_committed",
        }
    )
    metadata = consumer.list_topics(topic, timeout=30).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
    found: list[float] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{topic}: only {len(found)} of {count} records after {timeout} s")
        for message in consumer.consume(10000, timeout=0.5):
            if message.error() is None:
                if not found and on_first is not None:
                    on_first()
                found.append(message.timestamp()[1] / 1000)
    consumer.close()
    return found


def rate(stamps: list[float]) -> float:
    span = max(stamps) - min(stamps)
    return (len(stamps) - 1) / span if span > 0 else float("inf")


def passthrough(settings: Settings, count: int, topic: str, fan_out: Sequence[str] = ()) -> None:
    """Copies ``count`` input records to ``topic`` with the processor's transactional pattern and
    settings; with ``fan_out``, each record is also copied to the next of those topics in turn,
    as the processor spreads its deliveries over the partners' topics."""
    batch, interval = settings.processor.batch_size, settings.kafka.commit_interval_ms / 1000
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"bench-{topic}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    producer = clients.transactional_producer(settings.kafka, f"bench-{topic}")
    producer.init_transactions(30)
    consumer.subscribe([settings.topics.input_topic])
    done = pending = copied = 0
    started = 0.0
    while done < count:
        messages = consumer.consume(batch, timeout=0.01 if pending else interval)
        for message in messages:
            if message.error() is not None:
                continue
            if not pending:
                producer.begin_transaction()
                started = time.monotonic()
            producer.produce(topic, key=message.key(), value=message.value())
            if fan_out:
                producer.produce(
                    fan_out[copied % len(fan_out)], key=message.key(), value=message.value()
                )
            copied += 1
            pending += 1
        if pending and (pending >= batch or time.monotonic() - started >= interval):
            producer.send_offsets_to_transaction(
                consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30
            )
            producer.commit_transaction(30)
            done += pending
            pending = 0
    consumer.close()
    producer.close()


def latency(bootstrap: str, settings: Settings, count: int, offered: float) -> list[float]:
    """Publishes ``count`` leads at ``offered`` per second; seconds until each audit record."""
    records = encoded_leads(count, "lat", seed=11)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-latency",
            "isolation.level": "read_committed",
        }
    )
    metadata = consumer.list_topics(settings.topics.audit_topic, timeout=30).topics[
        settings.topics.audit_topic
    ]
    ends = []
    for p in metadata.partitions:
        _, high = consumer.get_watermark_offsets(
            TopicPartition(settings.topics.audit_topic, p), timeout=30
        )
        ends.append(TopicPartition(settings.topics.audit_topic, p, high))
    consumer.assign(ends)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    sent: dict[bytes, float] = {}
    seen: dict[bytes, float] = {}
    start = time.monotonic()
    for n, (key, value) in enumerate(records):
        due = start + n / offered
        while (now := time.monotonic()) < due:
            for message in consumer.consume(1000, timeout=min(0.005, due - now)):
                if message.error() is None and message.key() in sent:
                    seen.setdefault(message.key() or b"", time.monotonic())
        producer.produce(settings.topics.input_topic, key=key, value=value)
        producer.poll(0)
        sent[key] = time.monotonic()
    producer.flush(30)
    deadline = time.monotonic() + 120
    while len(seen) < len(sent) and time.monotonic() < deadline:
        for message in consumer.consume(1000, timeout=0.05):
            if message.error() is None and message.key() in sent:
                seen.setdefault(message.key() or b"", time.monotonic())
    consumer.close()
    producer.close()
    return sorted(seen[k] - sent[k] for k in seen)


def measured_copy(
    settings: Settings, broker_pid: int, count: int, topic: str, fan_out: Sequence[str]
) -> tuple[float, tuple[float, float]]:
    """A passthrough's records/s, and its CPU seconds per record in this process and the broker."""
    copier, broker_cpu = CpuMeter([os.getpid()]), CpuMeter([broker_pid])
    passthrough(settings, count, topic, fan_out)
    copier.stop()
    broker_cpu.stop()
    return rate(timestamps(settings.kafka.bootstrap_servers, topic, count)), (
        copier.used / count,
        broker_cpu.used / count,
    )


def fmt_cpu(per_lead: tuple[float, float]) -> str:
    return f"{per_lead[0] * 1000:.3f}, {per_lead[1] * 1000:.3f}"


def start_processor(settings: Settings, number: int) -> subprocess.Popen[bytes]:
    """``lead-router run`` as a process of its own, with a transactional id of its own."""
    env = dict(os.environ) | settings.environment()
    env["LEAD_ROUTER_TRANSACTIONAL_ID"] = f"{settings.kafka.transactional_id}-{number}"
    return subprocess.Popen(
        [sys.executable, "-m", "processor", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=60000, help="leads to drain (each side)")
    parser.add_argument("--assignments", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000, help="offered load for the latency run")
    parser.add_argument("--latency-leads", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=Settings().processor.batch_size)
    parser.add_argument(
        "--commit-interval-ms", type=int, default=Settings().kafka.commit_interval_ms
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="processor processes in one group; the input topic gets as many partitions",
    )
    parser.add_argument(
        "--without-state",
        action="store_true",
        help="the rules without caps and duplicate checks (the default has both)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-stream-") as folder:
        broker = EmbeddedKafka(Path(folder) / "broker")
        started = broker.start()
        bootstrap = started.bootstrap_servers
        settings = Settings(
            bootstrap_servers=bootstrap,
            input_topic="bench.leads",
            audit_topic="bench.audit",
            group_id="bench-processor",
            transactional_id="bench-processor",
            topic_partitions=args.processes,
            metrics_port=0,
            batch_size=args.batch_size,
            commit_interval_ms=args.commit_interval_ms,
        )
        try:
            print(f"broker at {bootstrap}; preparing {args.leads} leads ...", file=sys.stderr)
            admin = TopicAdmin(settings)
            topics = Topics(settings, admin)
            topics.ensure_base()
            admin.ensure([TopicSpec(COPY_TOPIC), TopicSpec(FANNED_COPY_TOPIC)])
            raw = generate_document(args.assignments)
            document = validate_document(raw if args.without_state else with_state(raw))
            publish_rules(settings, document)
            partners = [partner.id for partner in document.partners]
            topics.ensure_deliveries(partners)
            records = encoded_leads(args.leads, "lead", seed=7)
            produce_all(bootstrap, settings.topics.input_topic, records)

            print("passthrough ...", file=sys.stderr)
            ceiling, copy_cpu = measured_copy(settings, started.pid, args.leads, COPY_TOPIC, [])
            print("passthrough fanned out to the partners' topics ...", file=sys.stderr)
            fanned, fanned_cpu = measured_copy(
                settings,
                started.pid,
                args.leads,
                FANNED_COPY_TOPIC,
                [settings.topics.delivery_topic(partner) for partner in partners],
            )

            print("processor ...", file=sys.stderr)
            processes = [start_processor(settings, n) for n in range(args.processes)]
            try:
                routers = CpuMeter([process.pid for process in processes])
                broker_cpu = CpuMeter([started.pid])

                def first_lead_out() -> None:  # start-up (imports, tables, joins) is not counted
                    routers.start()
                    broker_cpu.start()

                stamps = timestamps(
                    bootstrap, settings.topics.audit_topic, args.leads, on_first=first_lead_out
                )
                routers.stop()
                broker_cpu.stop()
                routed = rate(stamps)
                route_cpu = (routers.used / args.leads, broker_cpu.used / args.leads)
                print(f"latency at {args.rate:.0f} leads/s ...", file=sys.stderr)
                waits = latency(bootstrap, settings, args.latency_leads, args.rate)
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    process.wait(60)
        finally:
            broker.stop()

    p50 = statistics.median(waits) * 1000
    p99 = waits[int(len(waits) * 0.99) - 1] * 1000
    print(f"\n{'':32}{'leads/s':>10}   CPU ms per lead: client, broker")
    print(f"{'passthrough (EOS copy)':32}{ceiling:10.0f}   {fmt_cpu(copy_cpu)}")
    print(f"{'  fanned out like deliveries':32}{fanned:10.0f}   {fmt_cpu(fanned_cpu)}")
    label = "processor (lead-router run)" + (f" x{args.processes}" if args.processes > 1 else "")
    print(f"{label:32}{routed:10.0f}   {fmt_cpu(route_cpu)}")
    print(f"{'ratio to the passthrough':32}{routed / ceiling:10.2f}")
    print(f"{'ratio to the fanned-out copy':32}{routed / fanned:10.2f}")
    print(
        f"\nend to end at {args.rate:.0f} leads/s offered: p50 {p50:.0f} ms, p99 {p99:.0f} ms "
        f"({len(waits)} of {args.latency_leads} leads seen)"
    )
    print(
        f"rules: {args.assignments} assignments"
        f"{'' if args.without_state else ', caps and duplicate checks on'}; "
        f"{args.leads} leads per side; "
        f"batch {settings.processor.batch_size}, "
        f"commit interval {settings.kafka.commit_interval_ms} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
