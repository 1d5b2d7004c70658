"""Replay benchmark: leads per second of ``Replayer.route`` against a plain evaluation of rules.

``lead-router replay`` must be cheap enough to run before every rules change. This routes the
leads of ``bench_rules`` (its rules documents and leads, encoded as the input topic holds them:
Avro in single-object encoding) on one core, in one run per size:

- ``replay``: ``Replayer.route`` from the record's bytes (decode, check, enrich, decide without a
  trace), over a ledger on a fresh ``MemoryStore``;
- ``plain``: ``bench_rules``' plain evaluator, every assignment of the lead's tiers evaluated one
  by one, as ``dry-run`` once did, over the same leads already decoded and located (so the
  ratio counts only matching against replay's whole path);
- ``dry-run``: ``Router.route`` with the trace, printed as ``dry-run`` prints it, for reference.

It checks that replay and the ``dry-run`` path decide every lead alike, then prints leads per
second for each and the ratio of replay to plain. Times are the process's CPU time, so that
other work on a shared machine does not count, and each is the best of ``--repeat`` runs.

    .venv/bin/python -m benchmarks.bench_replay                    # 1,000 and 10,000 assignments
    .venv/bin/python -m benchmarks.bench_replay --sizes 10000 --leads 5000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.bench_rules import SCALING, generate_document, generate_lead, plain
from processor.geo.enrich import Enricher
from processor.geometry.geo import Geo
from processor.replay import Replayer, Routed
from processor.routing import Router
from processor.rules import Decision, Ledger, MemoryStore, Snapshot, compile_rules
from processor.rules.validate import validate_document
from processor.wire import Codec, lead_from_json

TOPIC = "lead-router.input"
WARM_UP = 200
"""Leads routed before timing, on a ledger of their own."""


def _per_second(count: int, work: Callable[[], object], repeat: int) -> float:
    """The best of ``repeat`` runs: what the code costs, with the least of the machine's noise."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return count / best


def _same(routed: Routed, decision: Decision) -> bool:
    delivered = [(d.partner, d.assignment, d.price, d.currency) for d in routed.deliveries]
    return (routed.outcome, routed.profile, routed.duplicate_of, delivered) == (
        decision.outcome,
        decision.profile,
        decision.duplicate_of,
        [(d.partner, d.assignment, d.price, d.currency) for d in decision.deliveries],
    )


def run(
    size: int,
    records: Sequence[bytes],
    leads: Sequence[tuple[dict[str, Any], Geo | None]],
    codec: Codec,
    enricher: Enricher,
    repeat: int,
) -> dict[str, float]:
    """Leads per second of each path over one document of ``size`` assignments."""
    snapshot: Snapshot = compile_rules(
        validate_document(generate_document(size), SCALING), f"bench-{size}"
    )
    warm = Replayer(snapshot, enricher, Ledger(MemoryStore()), codec)
    for value in records[:WARM_UP]:
        warm.route(TOPIC, value)
    routed: list[Routed] = []

    def replay() -> None:
        replayer = Replayer(snapshot, enricher, Ledger(MemoryStore()), codec)
        routed[:] = [replayer.route(TOPIC, value) for value in records]

    decisions: list[Decision] = []

    def dry_run() -> None:
        router, ledger = Router(enricher), Ledger(MemoryStore())
        decisions.clear()
        for lead, _ in leads:
            decision = router.route(snapshot, lead, ledger)
            json.dumps(decision.as_dict(), ensure_ascii=False)
            decisions.append(decision)

    rate = _per_second(len(records), replay, repeat)
    plain_rate = _per_second(
        len(leads), lambda: [plain(snapshot, lead, geo) for lead, geo in leads], repeat
    )
    dry = _per_second(len(leads), dry_run, repeat)
    for replayed, decision in zip(routed, decisions, strict=True):
        if not _same(replayed, decision):
            raise SystemExit(f"replay and dry-run disagree on {decision.lead_id}")
    return {"replay": rate, "plain": plain_rate, "dry_run": dry, "ratio": rate / plain_rate}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--leads", type=int, default=5000, help="leads per size (default 5000)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each path per size, the best kept (default 3)",
    )
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    codec, enricher = Codec(), Enricher()
    rng = random.Random(11)
    records, leads = [], []
    for n in range(args.leads):
        lead = lead_from_json(generate_lead(rng, n)[0])
        records.append(codec.single_object("LeadSubmitted", codec.lead_body(lead)))
        leads.append((lead, enricher.locate(lead).geo))
    header = (
        f"{'assignments':>11} {'replay/s':>9} {'plain/s':>8} {'ratio':>6} {'dry-run/s':>9} "
        f"{'replay µs':>9}"
    )
    print(f"{len(records)} leads per size, on one core; leads per second\n")
    print(header)
    print("-" * len(header))
    try:
        for size in args.sizes:
            r = run(size, records, leads, codec, enricher, args.repeat)
            print(
                f"{size:>11,} {r['replay']:>9,.0f} {r['plain']:>8,.0f} {r['ratio']:>5.0f}x "
                f"{r['dry_run']:>9,.0f} {1e6 / r['replay']:>9.1f}"
            )
    finally:
        enricher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
