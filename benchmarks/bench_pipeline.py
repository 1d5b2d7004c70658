"""CPU per lead of the two stages alone (match: decode, enrich, forward; decide: decide, render,
encode), without Kafka.

The stream benchmark says how fast the processor runs on a broker; this one says where the
processor's own time goes, with nothing else on the machine competing: the same rules
(1,000 assignments, with caps and duplicate checks unless ``--without-state``) and leads as the
stream benchmark, through ``MatchStage.process`` and then ``DecideStage.process`` (with its state
in a temporary RocksDB store) in this process. ``--profile`` prints the functions that cost most.

    .venv/bin/python -m benchmarks.bench_pipeline
    .venv/bin/python -m benchmarks.bench_pipeline --profile
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_rules import generate_document, generate_lead, with_state
from benchmarks.stages_in_memory import NoChangelog
from processor.geo.enrich import Enricher
from processor.kafka.records import InputRecord
from processor.rules import compile_rules
from processor.rules.ledger import LEAD_MEMORY_S
from processor.rules.validate import validate_document
from processor.settings import Settings
from processor.state.decide import DecideState
from processor.state.stores import StateStores
from processor.stream.decide import DecideStage
from processor.stream.match import MatchStage
from processor.stream.result import Result
from processor.wire import Codec, lead_from_json

INPUT_TOPIC = "bench.leads"


@dataclass(frozen=True, slots=True)
class Record:
    """A record as the consumer hands it over."""

    data: bytes
    at: int
    on: str = INPUT_TOPIC

    def topic(self) -> str:
        return self.on

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.at

    def key(self) -> bytes:
        return b"lead"

    def value(self) -> bytes:
        return self.data

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, -1)  # TIMESTAMP_NOT_AVAILABLE


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--assignments", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the leads")
    parser.add_argument("--profile", action="store_true", help="print the costliest functions")
    parser.add_argument(
        "--sort",
        choices=("cumulative", "tottime"),
        default="cumulative",
        help="how --profile orders them: with what they call (default) or by their own time",
    )
    parser.add_argument(
        "--without-state",
        action="store_true",
        help="the rules without caps and duplicate checks (the default has both)",
    )
    args = parser.parse_args(argv)

    raw = generate_document(args.assignments)
    document = validate_document(raw if args.without_state else with_state(raw))
    snapshot = compile_rules(document, "1")
    codec = Codec()
    rng = random.Random(7)
    records = [
        Record(codec.encode(INPUT_TOPIC, "LeadSubmitted", lead_from_json(lead)), n)
        for n, (lead, _) in enumerate(generate_lead(rng, n) for n in range(args.leads))
    ]
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(state_dir=Path(folder), transactional_id="bench")
        match = MatchStage(settings, codec, Enricher(), lambda: snapshot)
        forwarded = [
            Record(match.process(r).records[0].value or b"", r.at, settings.topics.decide_topic)
            for r in records
        ]
        state = DecideState(StateStores(settings, NoChangelog()), LEAD_MEMORY_S)
        state.assign({0: -1})
        decide = DecideStage(settings, codec, lambda: snapshot, state)
        try:
            _time("match", match.process, records, args)
            # Each pass decides the same leads from fresh state, or they would all be duplicates.
            _time("decide", decide.process, forwarded, args, reset=state.rollback)
            _keys_written(decide, state, forwarded)
        finally:
            state.close()
    return 0


def _time(
    name: str,
    process: Callable[[InputRecord], Result],
    records: Sequence[InputRecord],
    args: argparse.Namespace,
    reset: Callable[[], None] = lambda: None,
) -> None:
    """Prints the median µs per record of ``process`` over ``records``, ``reset`` before each
    pass (untimed)."""

    def one_pass() -> int:
        return sum(len(process(r).records) for r in records)

    outputs = one_pass()  # warm-up: codec plans, segment schemas, interned strings
    passes = []
    for _ in range(args.rounds):
        reset()
        started = time.perf_counter()
        one_pass()
        passes.append((time.perf_counter() - started) / len(records) * 1e6)
    print(
        f"{name}: {statistics.median(passes):.1f} µs per lead (median of {args.rounds} passes, "
        f"best {min(passes):.1f}); {outputs / len(records):.2f} output records per lead; "
        f"{args.assignments} assignments"
    )
    if args.profile:
        reset()
        profiler = cProfile.Profile()
        profiler.runcall(one_pass)
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(30)


KEYS_PER_TRANSACTION = 100
"""Leads per transaction when counting the state keys written: the keys one transaction writes
are its changelog records, each key once however often its leads wrote it."""


def _keys_written(decide: DecideStage, state: DecideState, records: Sequence[InputRecord]) -> None:
    """Prints the state keys written per lead, counted per transaction of
    ``KEYS_PER_TRANSACTION`` leads from fresh state, with what the commit adds (pruning, and any
    index of what will expire): the state's changelog records per lead."""
    state.rollback()
    keys = 0
    for start in range(0, len(records), KEYS_PER_TRANSACTION):
        batch = records[start : start + KEYS_PER_TRANSACTION]
        for record in batch:
            decide.process(record)
        keys += len(state.changelog({0: start + len(batch)})) - 1  # less the offset marker
        state.commit()
    print(
        f"state: {keys / len(records):.2f} keys written per lead "
        f"(distinct per transaction of {KEYS_PER_TRANSACTION} leads)"
    )


if __name__ == "__main__":
    sys.exit(main())
