"""Stream throughput benchmark: the processor against its contenders, on one real broker.

Starts its own single-node Kafka broker, publishes a realistic rules document (1,000 assignments,
from bench_rules' generator) and N leads as Avro, then runs, round after round, every contender
over the same input records, each in a consumer group of its own, exactly-once on every side:

- passthrough: a bare confluent-kafka consumer and transactional producer copying every record
  to one output topic, committing offsets in the transactions (the ceiling for this EOS setting);
- the same passthrough fanned out: each record also copied to one of the rules' partner topics
  in turn, so that transactions touch as many partitions as the processor's do;
- both stages, bare EOS loop: the same transactional loop (``benchmarks.eos_loop``) around the
  processor's own function, ``MatchStage.process`` then ``DecideStage.process`` with the
  hand-over kept in memory (``benchmarks.stages_in_memory``), producing the decide stage's
  records and its state's changelog: the processor's work without its topology;
- both stages, Quix Streams: the same function in a Quix Streams application with
  ``processing_guarantee="exactly-once"`` (``benchmarks.quix_contender``);
- processor: ``lead-router run`` as a separate process draining the same input through both
  stages (match: decode, enrich, hand on to the decide topic; decide: route, deliveries + audit
  record per lead; each in its transactions); with ``--processes N``, N of them over N input
  partitions, one of them deciding;
- the processor with its stages split: a ``STAGES=match`` process (``--processes N``: N of them)
  beside a ``STAGES=decide`` one, so that each stage has a core of its own;
- after the last round, the end-to-end latency of the processor (both ways) at a fixed offered
  load: leads published at a steady rate while it runs, latency from publishing a lead
  to a read_committed consumer seeing its audit record.

Throughput is records over the span between the first and the last output record's timestamp, so
process start-up and group joins are not counted on any side; the contenders in processes of
their own have their CPU counted from their first output record seen, which is when their first
transaction commits: the first transaction's work goes uncounted, a twentieth of the default
run, half of a run of 2,000 leads, so short runs show too little CPU. The table gives each
contender's min, median and max over the rounds, and the ratios of the processor to the others
round by round; ``--format json`` gives the same for machines. Progress goes to stderr.

quixstreams pins an older confluent-kafka than the project's, so the Quix Streams contender runs
in an environment of its own, ``.venv-bench``, which ``make bench-env`` makes once:

    make bench-env
    .venv/bin/python -m benchmarks.bench_stream
    .venv/bin/python -m benchmarks.bench_stream --leads 3000 --rounds 1 --format json
    .venv/bin/python -m benchmarks.bench_stream --leads 100000 --rate 1000 --processes 2
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, Message, Producer

from benchmarks.bench_rules import generate_document, generate_lead, with_state
from benchmarks.eos_loop import drain
from benchmarks.stream_meter import (
    CpuMeter,
    Run,
    end_offsets,
    measured_processes,
    rate,
    timestamps,
)
from benchmarks.stream_report import LABELS, PROCESSORS, Latency, as_json, as_table, summary
from processor.control.publisher import publish_rules
from processor.kafka.admin import TopicAdmin, TopicSpec
from processor.kafka.records import OutputRecord
from processor.localkafka import EmbeddedKafka
from processor.rules.validate import validate_document
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec, lead_from_json

ROOT = Path(__file__).resolve().parents[1]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
"""The Quix Streams contender's interpreter: ``make bench-env`` makes it."""
COPY_TOPIC = "bench.copy"
FANNED_COPY_TOPIC = "bench.copy-fanned"
WARM_UP_LEADS = 1000
"""Leads of the fanned-out copy that runs, uncounted, before the first round: the first
transactions that write to a partition cost the broker far more than later ones (without it,
the first round's copies ran several times slower than the second's), which would count against
the first round's first contenders only."""


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


def progress(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def of_round(settings: Settings, name: str, number: int) -> Settings:
    """``settings`` for one contender in one round: a consumer group, transactional id, decide
    topic and state of its own, so that it starts from the input's beginning with empty state."""
    own = f"bench-{name}-{number}"
    return settings.with_changes(
        group_id=own,
        transactional_id=own,
        decide_topic=f"bench.decide.{name}-{number}",
        state_topic=f"bench.state.{name}-{number}",
    )


def copier(topic: str, fan_out: Sequence[str]) -> Callable[[Message], list[OutputRecord]]:
    """What the passthrough makes of a record: its copy on ``topic``; with ``fan_out``, another
    on the next of those topics in turn, as the processor spreads its deliveries over the
    partners' topics."""
    copied = 0

    def copy(message: Message) -> list[OutputRecord]:
        nonlocal copied
        records = [OutputRecord(topic, message.key(), message.value())]
        if fan_out:
            records.append(
                OutputRecord(fan_out[copied % len(fan_out)], message.key(), message.value())
            )
        copied += 1
        return records

    return copy


def measured_copy(
    settings: Settings, broker_pid: int, count: int, topic: str, fan_out: Sequence[str]
) -> Run:
    """Copies the input (see :func:`copier`) with the processor's transactional pattern and
    settings. Its CPU is this process's, throughout."""
    bootstrap = settings.kafka.bootstrap_servers
    since = end_offsets(bootstrap, topic)
    copier_cpu, broker_cpu = CpuMeter([os.getpid()]), CpuMeter([broker_pid])
    drain(settings, count, copier(topic, fan_out))
    copier_cpu.stop()
    broker_cpu.stop()
    return Run(
        rate(timestamps(bootstrap, since, count)), copier_cpu.used / count, broker_cpu.used / count
    )


class Contenders:
    """Starts the contenders that run as processes of their own, each logging to a file."""

    def __init__(self, folder: Path, count: int) -> None:
        self._folder = folder
        self._count = str(count)
        self._logs: dict[int, Path] = {}
        """Each process's log, by its id."""

    def start(self, name: str, settings: Settings, processes: int) -> list[subprocess.Popen[bytes]]:
        """The processes of contender ``name``: the bare loop and Quix Streams one each, the
        processor ``processes``, each with a transactional id of its own, or, split, as many
        match-only ones and a decide-only one."""
        if name == "bare":
            command = [sys.executable, "-m", "benchmarks.eos_loop", "--leads", self._count]
        elif name == "quix":
            command = [str(BENCH_PYTHON), "-m", "benchmarks.quix_contender", "--leads", self._count]
        else:
            stages = ["both"] * processes if name == "processor" else ["match"] * processes
            if name == "split":
                stages.append("decide")
            return [
                self._start(
                    f"{name}-{n}",
                    [sys.executable, "-m", "processor", "run"],
                    settings.with_changes(
                        transactional_id=f"{settings.kafka.transactional_id}-{n}", stages=stage
                    ),
                )
                for n, stage in enumerate(stages)
            ]
        return [self._start(name, command, settings)]

    def _start(self, name: str, command: list[str], settings: Settings) -> subprocess.Popen[bytes]:
        log = self._folder / f"{settings.kafka.group_id}-{name}.log"
        with log.open("wb") as output:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=dict(os.environ) | settings.environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self._logs[process.pid] = log
        return process

    def why(self, process: subprocess.Popen[bytes]) -> str:
        """What a failed contender process wrote last."""
        log = self._logs[process.pid]
        tail = log.read_text(errors="replace").splitlines()[-15:]
        return f"{log.name} failed:\n" + "\n".join(tail)


@contextmanager
def running(processes: list[subprocess.Popen[bytes]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stops ``processes`` (SIGTERM: each commits what it has open) on the way out; those that
    ended by themselves are only reaped."""
    try:
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)


def latency(settings: Settings, count: int, offered: float) -> Latency:
    """Publishes ``count`` leads at ``offered`` per second; seconds until each audit record."""
    bootstrap = settings.kafka.bootstrap_servers
    records = encoded_leads(count, "lat", seed=11)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-latency",
            "isolation.level": "read_committed",
        }
    )
    consumer.assign(end_offsets(bootstrap, settings.topics.audit_topic))
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
    return Latency(offered, sorted(seen[k] - sent[k] for k in seen), count)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20000, help="leads each contender drains")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every contender")
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
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args(argv)
    if args.leads < 2 or args.rounds < 1:
        parser.error("--leads must be at least 2 and --rounds at least 1")
    if not BENCH_PYTHON.exists():
        parser.error(f"the Quix Streams contender needs {BENCH_PYTHON}: run `make bench-env`")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
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
            state_dir=Path(folder) / "state",
        )
        try:
            progress(f"broker at {bootstrap}; preparing {args.leads} leads ...")
            admin = TopicAdmin(settings)
            topics = Topics(settings, admin)
            topics.ensure_base()
            admin.ensure([TopicSpec(COPY_TOPIC), TopicSpec(FANNED_COPY_TOPIC)])
            raw = generate_document(args.assignments)
            document = validate_document(raw if args.without_state else with_state(raw))
            publish_rules(settings, document)
            partners = [settings.topics.delivery_topic(partner.id) for partner in document.partners]
            topics.ensure_deliveries([partner.id for partner in document.partners])
            leads = encoded_leads(args.leads, "lead", seed=7)
            produce_all(bootstrap, settings.topics.input_topic, leads)
            runs, latencies = rounds(args, settings, started.pid, partners, Path(folder))
        finally:
            broker.stop()

    found = summary(
        runs,
        latencies,
        {
            "leads": args.leads,
            "rounds": args.rounds,
            "assignments": args.assignments,
            "with_state": not args.without_state,
            "processes": args.processes,
            "batch_size": args.batch_size,
            "commit_interval_ms": args.commit_interval_ms,
        },
    )
    print(as_json(found) if args.format == "json" else as_table(found))
    return 0


def rounds(
    args: argparse.Namespace, settings: Settings, broker_pid: int, partners: list[str], folder: Path
) -> tuple[dict[str, list[Run]], dict[str, Latency]]:
    """Every contender's run in every round, and the processor's latency after the last."""
    contenders = Contenders(folder, args.leads)
    runs: dict[str, list[Run]] = {name: [] for name in LABELS}
    latencies: dict[str, Latency] = {}
    progress("warming the broker up with a fanned-out copy, not counted ...")
    warm_up = copier(COPY_TOPIC, [FANNED_COPY_TOPIC, *partners])
    drain(of_round(settings, "warm-up", 0), min(args.leads, WARM_UP_LEADS), warm_up)
    for number in range(1, args.rounds + 1):
        for name in LABELS:
            progress(f"round {number} of {args.rounds}: {LABELS[name].strip()} ...")
            own = of_round(settings, name, number)
            if name in ("copy", "fanned"):
                fan_out = partners if name == "fanned" else []
                topic = FANNED_COPY_TOPIC if fan_out else COPY_TOPIC
                runs[name].append(measured_copy(own, broker_pid, args.leads, topic, fan_out))
                continue
            Topics(own).ensure_base()  # the state topic the bare loop writes its changelog to
            since = end_offsets(own.kafka.bootstrap_servers, own.topics.audit_topic)
            with running(contenders.start(name, own, args.processes)) as processes:
                runs[name].append(
                    measured_processes(
                        own.kafka.bootstrap_servers,
                        since,
                        args.leads,
                        broker_pid,
                        processes,
                        contenders.why,
                    )
                )
                if name in PROCESSORS and number == args.rounds:
                    progress(f"latency of {LABELS[name].strip()} at {args.rate:.0f} leads/s ...")
                    latencies[name] = latency(own, args.latency_leads, args.rate)
    return runs, latencies


if __name__ == "__main__":
    sys.exit(main())
