"""CPU per lead of the pipeline alone (decode, enrich, route, render, encode), without Kafka.

The stream benchmark says how fast the processor runs on a broker; this one says where the
processor's own time goes, with nothing else on the machine competing: the same rules
(1,000 assignments) and leads as the stream benchmark, through ``Pipeline.process`` in this
process. ``--profile`` prints the functions that cost most.

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
import time
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.bench_rules import generate_document, generate_lead
from processor.geo.enrich import Enricher
from processor.pipeline import Pipeline
from processor.rules import Ledger, MemoryStore, compile_rules
from processor.rules.validate import validate_document
from processor.settings import Settings
from processor.wire import Codec, lead_from_json

INPUT_TOPIC = "bench.leads"


@dataclass(frozen=True, slots=True)
class Record:
    """An input record as the consumer hands it over."""

    data: bytes
    at: int

    def topic(self) -> str:
        return INPUT_TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.at

    def key(self) -> bytes:
        return b"lead"

    def value(self) -> bytes:
        return self.data

    def headers(self) -> list[tuple[str, bytes]] | None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, -1)  # TIMESTAMP_NOT_AVAILABLE


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--assignments", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the leads")
    parser.add_argument("--profile", action="store_true", help="print the costliest functions")
    args = parser.parse_args(argv)

    snapshot = compile_rules(validate_document(generate_document(args.assignments)), "1")
    codec = Codec()
    rng = random.Random(7)
    records = [
        Record(codec.encode(INPUT_TOPIC, "LeadSubmitted", lead_from_json(lead)), n)
        for n, (lead, _) in enumerate(generate_lead(rng, n) for n in range(args.leads))
    ]
    pipeline = Pipeline(Settings(), codec, Enricher())
    ledger = Ledger(MemoryStore())

    def one_pass() -> int:
        return sum(len(pipeline.process(r, snapshot, ledger).records) for r in records)

    outputs = one_pass()  # warm-up: codec plans, segment schemas, interned strings
    passes = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        one_pass()
        passes.append((time.perf_counter() - started) / len(records) * 1e6)
    print(
        f"pipeline: {statistics.median(passes):.1f} µs per lead (median of {args.rounds} passes, "
        f"best {min(passes):.1f}); {outputs / len(records):.2f} output records per lead; "
        f"{args.assignments} assignments"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(one_pass)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
