"""Console index benchmark: search latency at a million decisions, on SQLite and PostgreSQL.

The console's pages answer from the index (``processor.console.index``). This loads
``--decisions`` synthetic decisions straight into the index's tables, with their deliveries and
receipts, in chunks of ``executemany`` (the tables' indexes in place, as the indexer fills them),
then times ``--searches`` calls of each query a page makes, with random arguments:

- ``lead id``: ``search`` by lead id (the distribution log's search box);
- ``lead page``: ``decisions_of`` and ``receipts_of`` of one lead;
- ``partner``: a partner's newest 50, and its next page (keyset cursor);
- ``profile+outcome``: a profile's newest 50 of one outcome;
- ``time span``: the newest 50 of a random hour;
- ``partner days``: ``partner_days`` of one partner over 30 days, and of every partner, from
  the daily totals the indexer keeps (loaded here with the same ``rollup`` functions);
- ``index status``: what the logs and Health pages show of the index: the row counts the
  indexer keeps (loaded here with ``rollup.count``), the newest decision, the positions.

The data: ~200 partners and ~20 profiles, both skewed (a few take most leads), 5 outcomes
(routed 70 %, duplicate 10 %, fallback 10 %, unroutable 8 %, rejected 2 %), spread evenly over 30
days; routed leads go to 1-3 partners; a trace of ~700 bytes each; one receipt per delivery
(delivered 90 %, failed 4 %, rejected 3 %, retrying 3 %) and a return for 2 %.

It prints the load rate, the database's size, and p50 and p99 per query. PostgreSQL is a fresh
server from the distribution's packages (``benchmarks.pgkit``), with its default settings.

With ``--kafka-records N`` it then measures the indexer itself: N decisions (and a receipt for
each delivery) published to a real broker (``KAFKA_BOOTSTRAP_SERVERS``, else the embedded one),
indexed from the start into an empty index of the same database; records per second.

    .venv/bin/python -m benchmarks.bench_console_search --decisions 1000000 --database sqlite
    .venv/bin/python -m benchmarks.bench_console_search --decisions 1000000 --database postgresql
    .venv/bin/python -m benchmarks.bench_console_search --decisions 1000 --kafka-records 200000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from sqlalchemy import Engine, insert, text

from benchmarks.pgkit import postgres
from processor.console.index import rollup
from processor.console.index.indexer import Indexer
from processor.console.index.schema import (
    DAY_MS,
    decision_deliveries,
    decisions,
    metadata,
    open_index,
    receipts,
)
from processor.console.index.search import (
    DecisionQuery,
    decisions_of,
    index_status,
    partner_days,
    receipts_of,
    search,
)
from processor.kafka.admin import TopicAdmin, TopicSpec
from processor.localkafka import EmbeddedKafka
from processor.settings import Settings
from processor.wire import Codec

RECEIPT_FIELDS = (
    "delivery_id",
    "lead_id",
    "partner",
    "status",
    "detail",
    "price",
    "currency",
    "attempts",
    "revenue",
)
PARTNERS = [f"partner-{n:03d}" for n in range(200)]
PROFILES = [f"profile-{n:02d}" for n in range(20)]
OUTCOMES = (("routed", 70), ("duplicate", 10), ("fallback", 10), ("unroutable", 8), ("rejected", 2))
ENDINGS = (("delivered", 90), ("failed", 4), ("rejected", 3), ("retrying", 3))
DAYS = 30
START = 20_400 * DAY_MS  # 2025-11-08, midnight UTC
HOUR_MS = 3_600_000
TRACE = json.dumps(
    [
        {
            "assignment": f"a-{n}",
            "partner": f"partner-{n:03d}",
            "matched": n == 2,
            "or_sets": [{"held": False, "conditions": ["address.state equals CA: no (NY)"]}],
        }
        for n in range(4)
    ]
)


def skewed(names: Sequence[str], rng: random.Random) -> Callable[[], str]:
    """Picks from ``names`` with Zipf-like weights: the first few take most picks."""
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(names))]
    cumulative = list(_accumulate(weights))
    return lambda: rng.choices(names, cum_weights=cumulative)[0]


def _accumulate(values: Sequence[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def chunks(count: int, size: int, seed: int) -> Iterator[tuple[list[dict[str, Any]], ...]]:
    """The synthetic index, ``size`` decisions at a time: decision, delivery and receipt rows,
    decisions in time order as the indexer writes them."""
    rng = random.Random(seed)
    partner, profile = skewed(PARTNERS, rng), skewed(PROFILES, rng)
    outcomes, weights = zip(*OUTCOMES, strict=True)
    endings, ending_weights = zip(*ENDINGS, strict=True)
    step = DAYS * DAY_MS / count
    for first in range(0, count, size):
        made: list[dict[str, Any]] = []
        sent: list[dict[str, Any]] = []
        ended: list[dict[str, Any]] = []
        for n in range(first, min(first + size, count)):
            at = START + int(n * step)
            outcome = rng.choices(outcomes, weights)[0]
            lead = f"web-{n:08d}"
            made.append(
                {
                    "id": n + 1,
                    "lead_id": lead,
                    "attempt": 1,
                    "outcome": outcome,
                    "profile": None if outcome == "rejected" else profile(),
                    "tier": "all",
                    "site_id": "site",
                    "duplicate_of": None,
                    "error": None,
                    "rules_version": "7",
                    "decided_at": at,
                    "day": at // DAY_MS,
                    "sequence": n,
                    "source_topic": "leads",
                    "source_partition": n % 12,
                    "source_offset": n // 12,
                    "reoffer_of": None,
                    "geo": None,
                    "trace": TRACE,
                    "topic": "audit",
                    "partition": n % 12,
                    "offset": n // 12,
                }
            )
            partners = {partner() for _ in range(rng.choices((1, 2, 3), (70, 20, 10))[0])}
            taken = {"routed": partners, "fallback": {partner()}}.get(outcome, set())
            for k, name in enumerate(sorted(taken)):
                delivery = f"{lead}-{k}"
                sent.append(
                    {
                        "decision_id": n + 1,
                        "delivery_id": delivery,
                        "partner": name,
                        "assignment": "a-2",
                        "price": 25.0,
                        "currency": "USD",
                        "distance_km": None,
                        "decided_at": at,
                        "day": at // DAY_MS,
                    }
                )
                status = rng.choices(endings, ending_weights)[0]
                endings_of = [(status, 25.0 if status == "delivered" else None)]
                if status == "delivered" and rng.random() < 0.02:
                    endings_of.append(("returned", -25.0))
                for status, revenue in endings_of:
                    ended.append(
                        {
                            "delivery_id": delivery,
                            "lead_id": lead,
                            "partner": name,
                            "status": status,
                            "at": at + 60_000,
                            "day": (at + 60_000) // DAY_MS,
                            "detail": "https://crm.example/hook: HTTP 200",
                            "price": 25.0,
                            "currency": "USD",
                            "attempts": 1,
                            "next_attempt_at": None,
                            "revenue": revenue,
                            "reason": None,
                            "topic": "receipts",
                            "partition": 0,
                            "offset": len(ended) + first * 2,
                        }
                    )
        yield made, sent, ended


def load(engine: Engine, count: int, size: int) -> tuple[float, int]:
    """Loads the synthetic index; returns the seconds it took and the rows written."""
    rows = 0
    offset = 0
    started = time.perf_counter()
    for made, sent, ended in chunks(count, size, seed=18):
        for row in ended:  # receipts' offsets unique across chunks
            row["offset"] = offset
            offset += 1
        with engine.begin() as connection:
            connection.execute(insert(decisions), made)
            if sent:
                connection.execute(insert(decision_deliveries), sent)
            if ended:
                connection.execute(insert(receipts), ended)
            rollup.add(connection, rollup.tally(sent, ended))
            rollup.count(connection, {"decisions": len(made), "receipts": len(ended)})
        rows += len(made) + len(sent) + len(ended)
    return time.perf_counter() - started, rows


def timed(runs: int, call: Callable[[], object]) -> tuple[float, float]:
    """p50 and p99 of ``runs`` calls, in milliseconds."""
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        spent.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(spent, n=100, method="inclusive")
    return cuts[49], cuts[98]


def queries(count: int, rng: random.Random) -> dict[str, Callable[[Engine], object]]:
    """Each query kind, as a call with fresh random arguments each time."""
    first_day = START // DAY_MS

    def lead() -> str:
        return f"web-{rng.randrange(count):08d}"

    def hour() -> int:
        return START + rng.randrange(DAYS * 24) * HOUR_MS

    def next_page(engine: Engine) -> object:
        page = search(engine, DecisionQuery(partner=rng.choice(PARTNERS)))
        if page:
            last = page[-1]
            search(
                engine,
                DecisionQuery(
                    partner=last.deliveries[0].partner, before=(last.decided_at, last.id)
                ),
            )
        return page

    return {
        "lead id": lambda e: search(e, DecisionQuery(lead_id=lead())),
        "lead page": lambda e: (decisions_of(e, (found := lead())), receipts_of(e, found)),
        "partner, newest 50": lambda e: search(e, DecisionQuery(partner=rng.choice(PARTNERS))),
        "partner, 2 pages": next_page,
        "profile+outcome": lambda e: search(
            e,
            DecisionQuery(profile=rng.choice(PROFILES), outcome=rng.choice(["routed", "fallback"])),
        ),
        "time span (1 h)": lambda e: search(
            e, DecisionQuery(since=(at := hour()), until=at + HOUR_MS)
        ),
        "partner days, 1 partner": lambda e: partner_days(
            e, first_day, first_day + DAYS - 1, rng.choice(PARTNERS)
        ),
        "partner days, all": lambda e: partner_days(e, first_day, first_day + DAYS - 1),
        "index status": index_status,
    }


@contextmanager
def broker(folder: Path) -> Iterator[str]:
    """The bootstrap address of a real broker: ``KAFKA_BOOTSTRAP_SERVERS``, else one started
    here from the Apache Kafka jars."""
    explicit = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if explicit:
        yield explicit
        return
    with EmbeddedKafka(folder / "kafka") as started:
        yield started.bootstrap_servers


def index_from_kafka(engine: Engine, count: int, folder: Path) -> tuple[int, float]:
    """Publishes ``count`` decisions and their receipts, then indexes them all; returns the
    records indexed and the seconds the indexer took."""
    suffix = uuid.uuid4().hex[:8]
    with broker(folder) as bootstrap:
        settings = Settings(
            bootstrap_servers=bootstrap,
            group_id=f"bench-{suffix}",
            audit_topic=f"bench-audit-{suffix}",
            receipts_topic=f"bench-receipts-{suffix}",
            dlq_topic=f"bench-dlq-{suffix}",
        )
        topics = settings.topics
        TopicAdmin(settings).ensure(
            [TopicSpec(topics.audit_topic, 4), TopicSpec(topics.receipts_topic, 4)]
        )
        published = publish(settings, count)
        indexer = Indexer(settings, engine)
        taken = 0
        started = time.perf_counter()
        while taken < published:
            taken += indexer.poll_once(1.0)
        seconds = time.perf_counter() - started
        indexer.close()
    return taken, seconds


def publish(settings: Settings, count: int) -> int:
    """The synthetic decisions and receipts as the processor and workers write them."""
    codec = Codec()
    topics = settings.topics
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 20})
    records = 0
    for made, sent, ended in chunks(count, 10_000, seed=5):
        deliveries: dict[int, list[dict[str, Any]]] = {}
        for delivery in sent:
            deliveries.setdefault(delivery["decision_id"], []).append(delivery)
        for row in made:
            decision = {
                "lead_id": row["lead_id"],
                "outcome": row["outcome"],
                "profile": row["profile"],
                "tier": row["tier"],
                "rules_version": row["rules_version"],
                "trace": row["trace"],
                "source": {
                    "topic": "leads",
                    "partition": row["source_partition"],
                    "offset": row["source_offset"],
                },
                "decided_at": datetime.fromtimestamp(row["decided_at"] / 1000, UTC),
                "deliveries": [
                    {
                        key: d[key]
                        for key in ("delivery_id", "partner", "assignment", "price", "currency")
                    }
                    for d in deliveries.get(row["id"], [])
                ],
            }
            value = codec.encode(topics.audit_topic, "RoutingDecision", decision)
            producer.produce(topics.audit_topic, value, row["lead_id"].encode())
            producer.poll(0)
        for row in ended:
            receipt = {key: row[key] for key in RECEIPT_FIELDS}
            receipt["at"] = datetime.fromtimestamp(row["at"] / 1000, UTC)
            value = codec.encode(topics.receipts_topic, "DeliveryReceipt", receipt)
            producer.produce(topics.receipts_topic, value, row["delivery_id"].encode())
            producer.poll(0)
        records += len(made) + len(ended)
    assert producer.flush(60) == 0, "the broker did not take every record"
    return records


@contextmanager
def database(kind: str, folder: Path) -> Iterator[tuple[str, Callable[[Engine], int]]]:
    """The URL of an empty index of ``kind``, and how to measure its size in bytes."""
    if kind == "sqlite":
        path = folder / "console.sqlite3"

        def files(engine: Engine) -> int:
            with engine.connect() as connection:  # the WAL's pages into the file first
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            return sum(p.stat().st_size for p in folder.glob("console.sqlite3*"))

        yield f"sqlite:///{path}", files
    else:
        with postgres() as url:

            def size(engine: Engine) -> int:
                with engine.connect() as connection:
                    return int(
                        connection.execute(
                            text("SELECT pg_database_size(current_database())")
                        ).scalar_one()
                    )

            yield url, size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--searches", type=int, default=200, help="runs of each query")
    parser.add_argument("--chunk", type=int, default=10_000, help="decisions per transaction")
    parser.add_argument(
        "--kafka-records", type=int, default=0, help="decisions to index from a real broker"
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-console-") as scratch,
        database(args.database, Path(scratch)) as (url, size_of),
    ):
        engine = open_index(url)
        seconds, rows = load(engine, args.decisions, args.chunk)
        with engine.begin() as connection:  # fresh statistics, as autovacuum would give
            connection.execute(text("ANALYZE"))
        print(
            f"{args.database}: {args.decisions:,} decisions, {rows:,} rows in "
            f"{seconds:.1f} s: {args.decisions / seconds:,.0f} decisions/s, "
            f"{rows / seconds:,.0f} rows/s; database {size_of(engine) / 2**20:,.0f} MiB"
        )
        rng = random.Random(7)
        header = f"{'query':<26}{'runs':>6}{'p50 ms':>10}{'p99 ms':>10}"
        print(header)
        print("-" * len(header))
        for name, query in queries(args.decisions, rng).items():
            query(engine)  # the first call warms the caches
            p50, p99 = timed(args.searches, lambda query=query: query(engine))
            print(f"{name:<26}{args.searches:>6}{p50:>10.2f}{p99:>10.2f}")
        if args.kafka_records:
            metadata.drop_all(engine)
            metadata.create_all(engine)
            taken, seconds = index_from_kafka(engine, args.kafka_records, Path(scratch))
            print(
                f"indexer: {taken:,} records from Kafka in {seconds:.1f} s: "
                f"{taken / seconds:,.0f} records/s"
            )
        engine.dispose()
    print(f"on {os.cpu_count()} cores, one client thread")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
