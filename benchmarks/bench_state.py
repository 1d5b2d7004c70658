"""State benchmark: duplicate memory and caps for many leads, in RocksDB, within a small memory.

A decide stage remembers every decided lead id for 30 days, and every person each profile routed
and each partner received, within their spans: at a million leads a day, tens of millions of keys.
They live in the stage's RocksDB store (``PartitionStore``), whose block cache and write buffers
share a fixed budget, so memory stays flat while the disk grows. This routes ``--leads`` synthetic
leads, spread evenly over ``--days`` days of ``submitted_at``, each a new person (the worst case
for memory), through ``decide`` with a ``Ledger`` over a real store, committing every
``--batch`` leads as the processor does (with the index of what expires), and reports:

- leads per second (decide, ledger reads and writes, RocksDB commits; no Kafka);
- the peak resident set size of the process, and what it was before the first lead;
- the store's size on disk per lead, and so for 30 days of a million leads a day.

Rules: a profile with a duplicate check on email and phone (30 days), ten partners with daily and
monthly caps and a 30-day ``reject_duplicates_within``, round robin.

    .venv/bin/python -m benchmarks.bench_state
    .venv/bin/python -m benchmarks.bench_state --leads 3000000 --days 30
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from processor.rules import Ledger, compile_rules, decide, validate_document
from processor.state.store import PartitionStore

PARTNERS = 10


def document() -> dict[str, Any]:
    partners = [
        {
            "id": f"buyer-{n}",
            "format": "json",
            "timezone": "America/New_York",
            "caps": [
                {"per": "day", "leads": 10_000_000},
                {"per": "month", "revenue": 1e12, "currency": "USD"},
            ],
            "reject_duplicates_within": "30d",
        }
        for n in range(PARTNERS)
    ]
    return {
        "partners": partners,
        "profiles": [
            {
                "id": "main",
                "default": True,
                "strategy": "round_robin",
                "base_price": 20.0,
                "duplicates": {"keys": ["contact.email", "contact.phone"], "within": "30d"},
                "assignments": [{"id": f"a{n}", "partner": f"buyer-{n}"} for n in range(PARTNERS)],
            }
        ],
    }


def lead(n: int, when: datetime) -> dict[str, Any]:
    return {
        "lead_id": f"lead-{n:09d}",
        "submitted_at": when,
        "site_id": "web",
        "contact": {"email": f"person{n}@example.com", "phone": f"+1 415 {n % 10_000_000:07d}"},
        "address": {"country": "US"},
    }


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=500, help="leads per committed transaction")
    args = parser.parse_args(argv)

    snapshot = compile_rules(validate_document(document()), "bench")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    step = timedelta(days=args.days) / args.leads
    with tempfile.TemporaryDirectory(prefix="bench-state-") as folder:
        path = Path(folder) / "0"
        store = PartitionStore(0, path)
        ledger = Ledger(store)
        before = rss_mib()
        began = time.perf_counter()
        routed = 0
        for n in range(args.leads):
            decision = decide(snapshot, lead(n, start + step * n), None, ledger, trace=False)
            routed += decision.outcome == "routed"
            if (n + 1) % args.batch == 0:  # within 30 days nothing is old enough to prune
                ledger.index(list(store.pending()))
                store.commit(n + 1)
            if (n + 1) % 100_000 == 0:
                print(f"{n + 1:,} leads, peak RSS {rss_mib():.0f} MiB", file=sys.stderr)
        ledger.index(list(store.pending()))
        store.commit(args.leads)
        elapsed = time.perf_counter() - began
        store.close()
        on_disk = folder_bytes(path)
    per_lead = on_disk / args.leads
    month = per_lead * 30_000_000
    print(
        f"{args.leads:,} leads over {args.days} days, {routed:,} routed, in {elapsed:.1f} s: "
        f"{args.leads / elapsed:,.0f} leads/s"
    )
    print(f"peak RSS {rss_mib():.0f} MiB (before the first lead {before:.0f} MiB)")
    print(
        f"on disk {on_disk / 2**20:,.0f} MiB, {per_lead:.0f} bytes per lead: "
        f"30 days of a million leads a day is about {month / 2**30:.1f} GiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
