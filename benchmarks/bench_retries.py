"""Retry topics benchmark: what failing deliveries cost a delivery worker and the broker.

Starts its own single-node Kafka broker and an HTTP endpoint in this process, and runs one
delivery worker (``processor.delivery.Worker``, in a thread) per phase for a partner whose one
destination is that endpoint, with one quick try per attempt (``DELIVERY_ATTEMPTS=1``) and the
schedule ``delivery: {retries: ["1s"]}``:

- baseline: every request answered 200;
- with failures: a fraction of the deliveries (``--failing``) answered 503 at their first request
  and 200 after, so each of them waits once on the partner's first retry topic.

Each phase writes ``LeadDelivery`` records straight to the partner's delivery topic, as the
processor would: first a burst of N (the worker drains a backlog: deliveries/s over the span from
the first to the last healthy delivery the endpoint received), then a steady load below capacity
(latency from the record's timestamp to the endpoint receiving it, for the healthy deliveries).
With failures it also measures how late each retry comes past the ``next_attempt_at`` of its
``retrying`` receipt, and what each failure writes to the broker: records and bytes (key, value,
headers, read back) on the retry topic and the receipts topic, and transactions (the commit
markers on the receipts topic: the worker commits one per attempt).

    .venv/bin/python -m benchmarks.bench_retries
    .venv/bin/python -m benchmarks.bench_retries --deliveries 300 --rounds 1
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from confluent_kafka import Message, Producer, TopicPartition

from benchmarks.bench_rules import generate_lead
from processor.control.publisher import publish_rules
from processor.delivery import Worker
from processor.formats import Facts, render
from processor.kafka.admin import TopicAdmin
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.localkafka import EmbeddedKafka
from processor.rules.deliveries import delivery_id
from processor.rules.validate import validate_document
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec, lead_from_json

SCHEDULE = {"retries": ["1s"]}
WAIT_S = 600.0
"""How long a phase may take to deliver everything before the benchmark gives up."""


class Endpoint:
    """An HTTP endpoint that notes when each request arrives, by ``Idempotency-Key``, and answers
    503 to the first request of each delivery in ``failing``, 200 to every other."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.received: dict[str, list[float]] = {}
        """Arrival times (epoch seconds) of each delivery's requests."""
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = endpoint._arrived(self.headers.get("Idempotency-Key", ""), time.time())
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # thousands of lines of nothing

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/leads"

    def _arrived(self, key: str, at: float) -> int:
        with self._lock:
            times = self.received.setdefault(key, [])
            times.append(at)
            return 503 if key in self.failing and len(times) == 1 else 200

    def delivered(self) -> int:
        """Deliveries answered 200 so far."""
        with self._lock:
            return sum(
                1
                for key, times in self.received.items()
                if len(times) > (1 if key in self.failing else 0)
            )

    def reset(self, failing: set[str]) -> None:
        with self._lock:
            self.failing = failing
            self.received = {}

    def __enter__(self) -> Endpoint:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def deliveries(partner: str, count: int, prefix: str, seed: int) -> list[dict[str, Any]]:
    """``LeadDelivery`` records for ``partner`` as the processor writes them, payload as json."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        raw, _ = generate_lead(rng, n)
        lead = lead_from_json(raw | {"lead_id": f"{prefix}-{n:06d}"})
        record: dict[str, Any] = {
            "delivery_id": delivery_id(lead["lead_id"], partner),
            "lead_id": lead["lead_id"],
            "profile": "web",
            "partner": partner,
            "partner_name": None,
            "assignment": "a",
            "tier": "all",
            "price": 12.5,
            "currency": "USD",
            "distance_km": None,
            "format": "json",
            "destinations": [],
            "rules_version": "1",
            "routed_at": lead["submitted_at"],
            "geo": None,
            "lead": lead,
        }
        record["payload"], record["content_type"] = render("json", lead, Facts.of(record))
        out.append(record)
    return out


def write(
    settings: Settings, records: Sequence[dict[str, Any]], per_second: float = 0
) -> dict[str, float]:
    """Writes ``records`` to their partner's delivery topic, ``per_second`` (as fast as it can
    with 0); the timestamp (epoch seconds) each was given, by delivery id."""
    codec = Codec()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 0})
    stamps: dict[str, float] = {}
    start = time.monotonic()
    for n, record in enumerate(records):
        if per_second:
            time.sleep(max(0.0, start + n / per_second - time.monotonic()))
        topic = settings.topics.delivery_topic(record["partner"])
        value = codec.encode(topic, "LeadDelivery", record)
        now_ms = int(time.time() * 1000)
        producer.produce(topic, key=record["lead_id"].encode(), value=value, timestamp=now_ms)
        producer.poll(0)
        stamps[record["delivery_id"]] = now_ms / 1000
    if producer.flush(60):
        raise SystemExit(f"could not write {len(records)} deliveries in 60 s")
    return stamps


def wait_until(done: Callable[[], bool], what: str, every_s: float = 0.05) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {WAIT_S:.0f} s waiting for {what}")
        time.sleep(every_s)


@contextmanager
def worker_thread(settings: Settings, partner: str) -> Iterator[None]:
    """The partner's delivery worker, running in a thread of this process."""
    worker = Worker(settings, partner)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, name=f"deliver-{partner}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop()
        thread.join(60)
        if failure:
            raise failure[0]


@dataclass(frozen=True)
class Written:
    """What one topic holds at the end of a phase: committed records, their key, value and
    header bytes, and the offsets the transactions' commit markers took."""

    records: int
    size: int
    markers: int
    values: list[bytes]


def written(settings: Settings, topic: str) -> Written:
    """What ``topic`` holds now, read back from the beginning (read_committed)."""
    consumer = reading_consumer(settings.kafka, f"bench-read-{topic}")
    values: list[bytes] = []
    size = 0

    def take(message: Message) -> None:
        nonlocal size
        value = message.value() or b""
        values.append(value)
        headers = message.headers() or []
        pairs = headers.items() if isinstance(headers, dict) else headers
        size += len(message.key() or b"") + len(value)
        size += sum(len(name) + len(data or b"") for name, data in pairs)

    try:
        read_to_end(consumer, topic, take)
        spans = []
        for partition in consumer.list_topics(topic, timeout=30).topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            spans.append(high - low)
    finally:
        consumer.close()
    return Written(len(values), size, sum(spans) - len(values), values)


@dataclass(frozen=True)
class Phase:
    """The figures of one phase of one round."""

    rate: float
    """Healthy deliveries per second in the burst."""
    latencies_ms: list[float]
    """Each healthy steady-load delivery's, from its record's timestamp to its request."""
    late_in_burst_ms: list[float]
    """How late each retry of a burst delivery came: behind a backlog."""
    late_ms: list[float]
    """How late each retry of a steady-load delivery came."""
    behind_backlog: float
    """The share of the burst's retries sent after its last healthy delivery."""
    failures: int
    retry: Written | None
    receipts: Written
    deliveries: Written


def run_phase(
    settings: Settings,
    endpoint: Endpoint,
    partner: str,
    args: argparse.Namespace,
    fraction: float,
    seed: int,
) -> Phase:
    """One worker for ``partner`` through a warm-up delivery, the burst and the steady load."""
    settings = settings.with_changes(receipts_topic=f"bench.receipts.{partner}")
    burst = deliveries(partner, args.deliveries, f"{partner}-burst", seed)
    steady = deliveries(partner, args.latency_deliveries, f"{partner}-steady", seed + 1)
    rng = random.Random(seed)
    failing = {
        record["delivery_id"]
        for record in rng.sample([*burst, *steady], int((len(burst) + len(steady)) * fraction))
    }
    endpoint.reset(failing)
    with worker_thread(settings, partner):
        write(settings, deliveries(partner, 1, f"{partner}-warm-up", seed + 2))
        wait_until(lambda: endpoint.delivered() == 1, "the worker to start")  # joined, warm

        write(settings, burst)
        wait_until(lambda: endpoint.delivered() == 1 + len(burst), f"{partner}'s burst")
        healthy = [
            endpoint.received[r["delivery_id"]][0] for r in burst if r["delivery_id"] not in failing
        ]
        rate = (len(healthy) - 1) / (max(healthy) - min(healthy))
        retried = [
            endpoint.received[key][1] for key in failing - {r["delivery_id"] for r in steady}
        ]
        behind = sum(1 for at in retried if at > max(healthy)) / len(retried) if retried else 0.0

        stamps = write(settings, steady, args.rate)
        total = 1 + len(burst) + len(steady)
        wait_until(lambda: endpoint.delivered() == total, f"{partner}'s steady load")
        received = endpoint.received
        latencies = sorted(
            (received[key][0] - stamp) * 1000 for key, stamp in stamps.items() if key not in failing
        )
        expected = total + len(failing)
        receipts = settings.topics.receipts_topic
        wait_until(lambda: written(settings, receipts).records == expected, receipts, 0.5)
    found = written(settings, receipts)
    codec = Codec()
    late: dict[str, float] = {}
    for value in found.values:
        receipt = codec.decode(receipts, value, "DeliveryReceipt")
        if receipt["status"] == "retrying":
            due = receipt["next_attempt_at"].timestamp()
            late[receipt["delivery_id"]] = (received[receipt["delivery_id"]][1] - due) * 1000
    retry_topic = settings.topics.retry_topic(partner, 1)
    retry = written(settings, retry_topic) if failing else None
    in_burst = sorted(late[k] for k in late.keys() - stamps.keys())
    in_steady = sorted(late[k] for k in late.keys() & stamps.keys())
    delivery_topic = written(settings, settings.topics.delivery_topic(partner))
    return Phase(
        rate, latencies, in_burst, in_steady, behind, len(failing), retry, found, delivery_topic
    )


def percentile(values: Sequence[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))]


def spread(values: Sequence[float], unit: str = "", digits: int = 0) -> str:
    """min / median / max of one figure over the rounds (just the figure with one round)."""
    shown = [f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))]
    return (shown[1] if len(values) == 1 else " / ".join(shown)) + unit


def report(args: argparse.Namespace, rounds: list[tuple[Phase, Phase]]) -> None:
    bases, flaky = [b for b, _ in rounds], [f for _, f in rounds]
    n = len(rounds)
    shape = f"min / median / max of {n} rounds" if n > 1 else "one round"

    def row(label: str, figures: Sequence[float], unit: str = "", digits: int = 0) -> None:
        print(f"{label:46}{spread(figures, unit, digits)}")

    print(
        f"\n{args.deliveries} deliveries in a burst, then {args.latency_deliveries} at "
        f"{args.rate:.0f}/s; {args.failing:.0%} fail once; {shape}"
    )
    print("\nbaseline (every request answered 200)")
    row("  deliveries/s (burst)", [p.rate for p in bases])
    row("  latency p50 (steady)", [statistics.median(p.latencies_ms) for p in bases], " ms")
    row("  latency p99 (steady)", [percentile(p.latencies_ms, 0.99) for p in bases], " ms")
    print(f"with failures (retries {SCHEDULE['retries']}, DELIVERY_ATTEMPTS=1)")
    row("  healthy deliveries/s (burst)", [p.rate for p in flaky])
    row("    ratio to the baseline", [f.rate / b.rate for b, f in rounds], digits=2)
    row("  healthy latency p50 (steady)", [statistics.median(p.latencies_ms) for p in flaky], " ms")
    row(
        "    ratio to the baseline",
        [statistics.median(f.latencies_ms) / statistics.median(b.latencies_ms) for b, f in rounds],
        digits=2,
    )
    row("  healthy latency p99 (steady)", [percentile(p.latencies_ms, 0.99) for p in flaky], " ms")
    row(
        "    ratio to the baseline",
        [percentile(f.latencies_ms, 0.99) / percentile(b.latencies_ms, 0.99) for b, f in rounds],
        digits=2,
    )
    late_by_load = {
        "steady": [p.late_ms for p in flaky],
        "burst": [p.late_in_burst_ms for p in flaky],
    }
    for label, late in late_by_load.items():
        print(f"  retry late past its due time ({label})")
        row("    p50", [statistics.median(each) for each in late], " ms")
        row("    p99", [percentile(each, 0.99) for each in late], " ms")
        row("    max", [max(each) for each in late], " ms")
    row(
        "    sent after the last healthy delivery",
        [p.behind_backlog * 100 for p in flaky],
        " %",
    )
    print("  broker writes per failed attempt")
    retried = [(p, p.retry) for p in flaky if p.retry is not None]
    row("    retry topic records", [w.records / p.failures for p, w in retried], digits=2)
    row("    retry topic bytes", [w.size / p.failures for p, w in retried], " B")
    row(
        "      (a delivery record's bytes)",
        [p.deliveries.size / p.deliveries.records for p in flaky],
        " B",
    )
    row(
        "    extra receipts",
        [(f.receipts.records - b.receipts.records) / f.failures for b, f in rounds],
        digits=2,
    )
    row(
        "    extra receipt bytes",
        [(f.receipts.size - b.receipts.size) / f.failures for b, f in rounds],
        " B",
    )
    row(
        "    extra transactions",
        [(f.receipts.markers - b.receipts.markers) / f.failures for b, f in rounds],
        digits=2,
    )
    row(
        "  receipt bytes per delivery (baseline)",
        [b.receipts.size / b.receipts.records for b in bases],
        " B",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries in the burst")
    parser.add_argument(
        "--latency-deliveries", type=int, default=500, help="deliveries at the steady load"
    )
    parser.add_argument("--rate", type=float, default=20, help="the steady load, deliveries/s")
    parser.add_argument(
        "--failing", type=float, default=0.1, help="share of deliveries that fail once"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both phases")
    args = parser.parse_args(argv)
    if not 0 < args.failing < 1:
        parser.error("--failing is a share between 0 and 1")

    with tempfile.TemporaryDirectory(prefix="bench-retries-") as folder, Endpoint() as endpoint:
        broker = EmbeddedKafka(Path(folder) / "broker")
        bootstrap = broker.start().bootstrap_servers
        settings = Settings(
            bootstrap_servers=bootstrap,
            group_id="bench",
            transactional_id="bench",
            topic_partitions=1,
            metrics_port=0,
            delivery_attempts=1,
            delivery_backoff_ms=1,
        )
        try:
            partners = [(f"base-{n}", f"flaky-{n}") for n in range(1, args.rounds + 1)]
            every = [partner for pair in partners for partner in pair]
            print(f"broker at {bootstrap}; {args.rounds} round(s) ...", file=sys.stderr)
            admin = TopicAdmin(settings)
            topics = Topics(settings, admin)
            topics.ensure_base()
            topics.ensure_deliveries(every)
            spec = {"format": "json", "destinations": [endpoint.url], "delivery": SCHEDULE}
            raw = {"partners": [{"id": partner, **spec} for partner in every]}
            publish_rules(settings, validate_document(raw))
            rounds = []
            for n, (base, flaky) in enumerate(partners):
                print(f"round {n + 1}: baseline ...", file=sys.stderr)
                baseline = run_phase(settings, endpoint, base, args, 0.0, seed=10 * n)
                print(f"round {n + 1}: with failures ...", file=sys.stderr)
                failures = run_phase(settings, endpoint, flaky, args, args.failing, seed=10 * n)
                rounds.append((baseline, failures))
        finally:
            broker.stop()
    report(args, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
