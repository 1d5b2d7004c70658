"""Rules memory benchmark: the largest document the limits accept, read, compiled and routing.

A processor holds its rules whole: the config topic's parts as read, the validated document and
its compiled snapshot, and while it switches versions the next document and snapshot beside them.
This builds documents at the limits (``RulesLimits``, or the sizes given), writes each to a file,
and in a fresh Python process for each (so nothing else is on its heap) does what a processor does
with it: reads and validates it, compiles it, routes leads, then reads, validates and compiles it a
second time while the first snapshot stays in force, and routes again. It reports the peak resident
set size (``ru_maxrss``), the child's resident size before reading the document (with the Kafka
client and the postcode table loaded, as in a processor), and the times.

Shapes, each filling the byte limit with as many assignments (up to their limit) as the limits
accept:

- ``network``: the dealer network of ``bench_rules`` (four profiles, realistic conditions), each
  assignment's first OR-set turned into a territory of five-digit postcodes, as many as the byte
  limit leaves room for;
- ``one-tier``: the same, but every assignment in one profile and one category, so one condition
  index covers every OR-set (it holds a bitset of all the tier's OR-sets per value): the index
  limit, not the assignment limit, decides how many assignments it may have.
- ``distinct``: ``one-tier`` with values that no two lists share (five hex digits), where
  postcodes repeat: the most distinct values, and so index entries, the byte limit allows.
- ``conditions``: the network, each assignment one OR-set of as many short conditions (with
  values no two share) as the byte limit leaves room for: the most conditions it allows.

    .venv/bin/python -m benchmarks.bench_rules_memory
    .venv/bin/python -m benchmarks.bench_rules_memory --assignments 5000 --bytes 4000000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.bench_rules import generate_document, generate_lead
from processor.app import Enricher
from processor.rules import Ledger, MemoryStore, RulesLimits, compile_rules, decide
from processor.rules.limits import index_costs
from processor.rules.load import parse_text, read_text
from processor.rules.validate import validate_document

SHAPES = ("network", "one-tier", "distinct", "conditions")
FIELDS = ("vehicle.make", "vehicle.model", "vehicle.trim", "address.city", "offer_id", "lead_type")


def _compact(document: object) -> str:
    """JSON as ``rules apply`` writes parts: no spaces."""
    return json.dumps(document, separators=(",", ":"))


POSTCODE_BYTES = len(_compact(["12345", "12345"])) - len(_compact(["12345"]))
"""What one more postcode in a list adds to the document."""


def _postcodes(rng: random.Random, count: int) -> list[str]:
    return [f"{rng.randrange(1000, 99999):05d}" for _ in range(count)]


def _codes(start: int, count: int) -> list[str]:
    """Values no other list names: the most index entries and keys a size allows."""
    return [f"{n:05x}" for n in range(start, start + count)]


def build(shape: str, assignments: int, size: int) -> dict[str, Any]:
    """A valid document of ``assignments`` assignments, at most about ``size`` bytes as JSON."""
    document = generate_document(assignments)
    if shape in ("one-tier", "distinct"):
        everything = [a for p in document["profiles"] for a in p["assignments"]]
        for n, assignment in enumerate(everything):
            assignment["id"] = f"a{n:06d}"
            assignment["category"] = "New Models"
        document["profiles"] = [{**document["profiles"][0], "assignments": everything}]
    everything = [a for p in document["profiles"] for a in p["assignments"]]
    if shape == "conditions":
        return _conditions(document, everything, size)
    for assignment in everything:
        assignment["filter"][0][0] = {"field": "address.postcode", "op": "in_list", "value": []}
    room = size - len(_compact(document))
    per_assignment = max(1, room // POSTCODE_BYTES // len(everything))
    rng = random.Random(5)
    for n, assignment in enumerate(everything):
        values = (
            _codes(n * per_assignment, per_assignment)
            if shape == "distinct"
            else _postcodes(rng, per_assignment)
        )
        assignment["filter"][0][0]["value"] = values
    return document


def largest_accepted(shape: str, limits: RulesLimits) -> tuple[int, dict[str, Any]]:
    """About the most assignments (up to their limit) with which a document of ``shape`` filling
    the byte limit is accepted, and that document: the byte or the condition index limit may
    refuse it first. Both grow about in proportion to the assignments, so each refusal scales
    their number down by how far over its limit the document is."""
    unlimited = replace(limits, max_index_bytes=2**62)
    assignments = limits.max_assignments
    while True:
        document = build(shape, assignments, limits.max_bytes)
        written = len(_compact(document))
        if written > limits.max_bytes:  # too many assignments to fit even one value each
            assignments = int(assignments * limits.max_bytes / written * 0.98)
            continue
        size = sum(cost.size for cost in index_costs(validate_document(document, unlimited)))
        if size <= limits.max_index_bytes:
            return assignments, document
        assignments = int(assignments * limits.max_index_bytes / size * 0.98)


def _conditions(
    document: dict[str, Any], everything: list[dict[str, Any]], size: int
) -> dict[str, Any]:
    """Every assignment one OR-set of as many short conditions as the size leaves room for."""
    for assignment in everything:
        assignment["filter"] = [[]]
    condition = {"field": "vehicle.model", "op": "not_equals", "value": "00000"}
    room = size - len(_compact(document))
    per_assignment = max(1, room // (len(_compact(condition)) + 1) // len(everything))
    for n, assignment in enumerate(everything):
        assignment["filter"][0] = [
            {"field": FIELDS[k % len(FIELDS)], "op": "not_equals", "value": f"{n:04x}{k:x}"}
            for k in range(per_assignment)
        ]
    return document


def _rss_mb() -> float:
    """The peak resident set size so far, in MiB (Linux counts ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: Path, limits: RulesLimits, leads: int) -> dict[str, float]:
    """What one processor does with the document in ``path``, measured in this process; the
    document must be within ``limits``."""
    rng = random.Random(11)
    sample = [generate_lead(rng, n) for n in range(leads)]
    enricher = Enricher()  # the processor's other resident: its postcode table, loaded on first use
    enricher.locate(sample[0][0] | {"visitor": None})
    before = _rss_mb()
    started = time.perf_counter()
    raw = parse_text(read_text(path, limits), limits)  # kept, as the config follower keeps parts
    document = validate_document(raw, limits)
    validated = time.perf_counter()
    snapshot = compile_rules(document, "1")
    compiled = time.perf_counter()
    ledger = Ledger(MemoryStore())
    for lead, geo in sample:
        decide(snapshot, lead, geo, ledger)
    routed = time.perf_counter()
    next_raw = parse_text(read_text(path, limits), limits)
    following = compile_rules(validate_document(next_raw, limits), "2")
    for lead, geo in sample:
        decide(following, lead, geo, ledger)
    return {
        "before_mb": before,
        "peak_mb": _rss_mb(),
        "validate_s": validated - started,
        "compile_s": compiled - validated,
        "route_us": (routed - compiled) / leads * 1e6,
    }


def _run(limits: RulesLimits, *args: str) -> dict[str, float]:
    """This script in a fresh interpreter with these limits; what it prints, as JSON.

    The work is done in children so that this process stays small: a child's ``ru_maxrss`` starts
    from its parent's peak (Linux keeps the larger of the two across fork and exec)."""
    given = ["--assignments", str(limits.max_assignments), "--bytes", str(limits.max_bytes)]
    given += ["--index-bytes", str(limits.max_index_bytes)]
    command = [sys.executable, "-m", "benchmarks.bench_rules_memory", *given, *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr}")
    found: dict[str, float] = json.loads(result.stdout)
    return found


def measure(shape: str, limits: RulesLimits, leads: int) -> dict[str, float]:
    """``child`` in a fresh interpreter on the largest document of this shape the limits accept,
    which another child writes to a file first."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"rules-{shape}.json"
        built = _run(limits, "--build", shape, "--out", str(path))
        return {
            **built,
            "bytes": float(path.stat().st_size),
            **_run(limits, "--child", str(path), "--leads", str(leads)),
        }


def main(argv: Sequence[str] | None = None) -> int:
    defaults = RulesLimits()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignments", type=int, default=defaults.max_assignments)
    parser.add_argument("--bytes", type=int, default=defaults.max_bytes)
    parser.add_argument("--index-bytes", type=int, default=defaults.max_index_bytes)
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--leads", type=int, default=2000, help="leads routed per snapshot")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build", choices=SHAPES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    limits = RulesLimits(
        max_bytes=args.bytes, max_assignments=args.assignments, max_index_bytes=args.index_bytes
    )
    if args.child:
        print(json.dumps(child(args.child, limits, args.leads)))
        return 0
    if args.build:
        assignments, document = largest_accepted(args.build, limits)
        args.out.write_text(_compact(document))
        print(json.dumps({"assignments": assignments}))
        return 0
    header = (
        f"{'shape':<10} {'assignments':>11} {'MB':>6} {'start MiB':>9} {'peak MiB':>8} "
        f"{'validate s':>10} {'compile s':>9} {'route us':>8}"
    )
    print(f"{args.leads} leads routed per snapshot; two snapshots held at the peak\n")
    print(header)
    print("-" * len(header))
    for shape in args.shapes:
        r = measure(shape, limits, args.leads)
        print(
            f"{shape:<10} {r['assignments']:>11,.0f} {r['bytes'] / 1e6:>6.1f} "
            f"{r['before_mb']:>9.0f} {r['peak_mb']:>8.0f} {r['validate_s']:>10.2f} "
            f"{r['compile_s']:>9.2f} {r['route_us']:>8.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
