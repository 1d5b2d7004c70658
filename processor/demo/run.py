"""``lead-router demo``: the whole product on this machine, end to end, in about a minute.

A local broker (or the one configured), the sample rules applied through the config topic, a few
thousand varied sample leads published as Avro, the real processor routing them exactly once, a
summary read back from the audit topic, as an operator would (a buyer's daily cap reached and who
took the leads after it, the duplicates caught), and the reference delivery worker delivering one
partner's leads to files with a receipt for each.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from processor.app import App
from processor.control.publisher import publish_rules
from processor.delivery import Worker, read_receipts
from processor.demo.highlights import Highlights
from processor.demo.leads import not_a_lead, sample_leads
from processor.errors import ServiceUnavailable
from processor.kafka import clients
from processor.kafka.access import check_access
from processor.kafka.reading import read_to_end
from processor.localkafka import EmbeddedKafka
from processor.rules import load_rules
from processor.rules.explain import explain_text
from processor.rules.schedule import lead_time
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec, lead_from_json

DRAIN_TIMEOUT_S = 300.0
DELIVERED_PARTNER = "metro-manhattan"
"""The partner whose deliveries the demo hands to the reference delivery worker."""
PRICED_PARTNERS = ("prime-lending", "harbor-finance")
"""Partners that pay for leads, delivered too (quietly) when the console follows, so that its
receipts and revenue page has revenue to show."""
EXAMPLES = ("routed", "routed-priced", "capped", "fallback", "unroutable", "duplicate", "rejected")
"""The kinds of decision the summary explains, one example each, in this order: ``capped`` is a
lead that went elsewhere because a cap was full."""


def rules_text() -> str:
    return resources.files("processor.demo").joinpath("rules.yaml").read_text()


@contextmanager
def broker(settings: Settings, console: Console) -> Iterator[Settings]:
    """The configured cluster when one was named, else a fresh local broker for the demo."""
    if "bootstrap_servers" in settings.kafka.model_fields_set:
        check_access(settings.kafka)
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="lead-router-demo-") as folder:
        console.print("starting a local Apache Kafka broker (KRaft, one node) ...")
        started = time.monotonic()
        local = EmbeddedKafka(Path(folder))
        state = local.start(quiet=False)
        console.print(f"  ready at {state.bootstrap_servers} in {time.monotonic() - started:.1f} s")
        try:
            yield settings.with_changes(bootstrap_servers=state.bootstrap_servers)
        finally:
            local.stop()


@dataclass
class Tally:
    """What the audit topic says happened."""

    highlights: Highlights
    outcomes: Counter[str] = field(default_factory=Counter)
    by_profile: Counter[tuple[str, str]] = field(default_factory=Counter)
    deliveries: Counter[str] = field(default_factory=Counter)
    revenue: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    geo_sources: Counter[str] = field(default_factory=Counter)

    def add(self, decision: dict[str, Any]) -> None:
        outcome = decision["outcome"]
        trace = json.loads(decision["trace"])
        self.highlights.add(decision, trace)
        self.outcomes[outcome] += 1
        self.by_profile[(decision["profile"] or "(none)", outcome)] += 1
        for delivery in decision["deliveries"]:
            self.deliveries[delivery["partner"]] += 1
            self.revenue[(delivery["partner"], delivery["currency"])] += delivery["price"]
        geo = decision["geo"]
        self.geo_sources[geo["source"] if geo else "none"] += 1
        wanted = outcome if outcome != "routed" or not decision["deliveries"] else "routed"
        if wanted == "routed" and not any(d["distance_km"] for d in decision["deliveries"]):
            wanted = "routed-priced"
        self.examples.setdefault(wanted, decision)
        if any(str(entry.get("excluded", "")).startswith("capped") for entry in trace):
            self.examples.setdefault("capped", decision)


def run_demo(
    settings: Settings, leads: int, bad_records: int, console: Console, *, with_console: bool = True
) -> int:
    """Runs the demo; with ``with_console`` it ends serving the console on the demo's broker
    until Ctrl-C or SIGTERM."""
    with broker(settings, console) as settings:
        Topics(settings).ensure_base()
        rules = load_rules(rules_text())
        result = publish_rules(settings, rules)
        console.print(f"applied the sample rules as version {result.version}")
        times = _publish(settings, leads, bad_records, console)
        app = App(settings)
        thread = threading.Thread(target=app.run, name="processor", daemon=True)
        thread.start()
        metrics_url = f"http://127.0.0.1:{settings.metrics.metrics_port}/metrics"
        try:
            _wait_drained(app, leads + bad_records, console)
        finally:
            app.stop()
            thread.join(60)
        tally = _read_audit(settings, Highlights(rules, times))
        dead = _count(settings, settings.topics.dlq_topic)
        _print_summary(console, settings, tally, dead, metrics_url)
        delivered = next(p for p in rules.partners if p.id == DELIVERED_PARTNER)
        _deliver(
            settings,
            delivered.id,
            delivered.destinations,
            tally.deliveries[delivered.id],
            console,
        )
        if with_console:
            for partner in (p for p in rules.partners if p.id in PRICED_PARTNERS):
                _deliver(
                    settings,
                    partner.id,
                    partner.destinations,
                    tally.deliveries[partner.id],
                    Console(quiet=True),
                )
            # Imported here, as by `lead-router console`: the web stack loads only when served,
            # so the other commands start ~0.5 s sooner.
            from processor.demo.console import serve_console

            serve_console(settings)
    return 0


def _deliver(
    settings: Settings,
    partner: str,
    destinations: Sequence[str],
    expected: int,
    console: Console,
) -> None:
    """Runs the reference delivery worker for one partner until it has recorded a receipt for
    each of the partner's deliveries, as a partner's integration would run it."""
    worker = Worker(settings.with_changes(metrics_port=0), partner)
    failure: list[Exception] = []

    def run() -> None:
        try:
            worker.run()
        except Exception as error:  # reported below, in words, with what was delivered
            failure.append(error)

    thread = threading.Thread(target=run, name=f"deliver-{partner}", daemon=True)
    thread.start()
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    receipts: Counter[str] = Counter()
    try:
        with Progress(console=console) as progress:
            task = progress.add_task(f"delivering to {partner}", total=expected)
            while sum(receipts.values()) < expected:
                if time.monotonic() > deadline or not thread.is_alive():
                    why = f": {failure[0]}" if failure else ""
                    raise ServiceUnavailable(
                        f"the delivery worker recorded {sum(receipts.values())} of {expected} "
                        f"receipts{why}"
                    )
                time.sleep(0.2)
                receipts = Counter(
                    r["status"] for r in read_receipts(settings) if r["partner"] == partner
                )
                progress.update(task, completed=sum(receipts.values()))
    finally:
        worker.stop()
        thread.join(60)
    statuses = ", ".join(f"{status} {count}" for status, count in sorted(receipts.items()))
    console.print(
        f"The delivery worker for {partner} sent each delivery to {', '.join(destinations)} "
        f"(relative to {settings.delivery.deliveries_dir.resolve()}), one file per delivery named "
        f"by its delivery id, and recorded a receipt for each on {settings.topics.receipts_topic} "
        f"({statuses}): see `lead-router receipts --partner {partner}`. In production, run "
        "`lead-router deliver --partner ID` for each partner."
    )


def _publish(
    settings: Settings, leads: int, bad_records: int, console: Console
) -> dict[str, datetime]:
    """Publishes the sample leads and the records that are not leads; returns each lead's time
    by its id, which the audit record does not carry and a cap's window needs."""
    codec = Codec.for_registry(settings.registry)
    times: dict[str, datetime] = {}
    producer = clients.producer(settings.kafka, {"linger.ms": 20})
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("publishing sample leads", total=leads + bad_records)
        for n, lead in enumerate(sample_leads(leads)):
            record = lead_from_json(lead)
            value = codec.encode(settings.topics.input_topic, "LeadSubmitted", record)
            when = lead_time(record)
            if when is not None:
                times[lead["lead_id"]] = when
            producer.produce(settings.topics.input_topic, key=lead["lead_id"].encode(), value=value)
            if n % 200 == 0:
                producer.poll(0)
                progress.update(task, completed=n)
        for n in range(bad_records):
            producer.produce(
                settings.topics.input_topic, key=f"bad-{n}".encode(), value=not_a_lead(n)
            )
        producer.flush(60)
        producer.close()
        progress.update(task, completed=leads + bad_records)
    return times


def _committed_total() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "lead_router_outcomes":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def _wait_drained(app: App, published: int, console: Console) -> None:
    """Waits until the processor has committed an outcome for every published record."""
    start = _committed_total()
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    with Progress(console=console) as progress:
        task = progress.add_task("routing (exactly once)", total=published)
        done = 0.0
        while done < published:
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"the processor routed {done:.0f} of {published} leads")
            time.sleep(0.2)
            done = _committed_total() - start
            progress.update(task, completed=done)


def _read_audit(settings: Settings, highlights: Highlights) -> Tally:
    codec = Codec.for_registry(settings.registry)
    tally = Tally(highlights)
    consumer = clients.reading_consumer(settings.kafka, "demo")
    try:
        read_to_end(
            consumer,
            settings.topics.audit_topic,
            lambda m: tally.add(codec.decode(m.topic() or "", m.value() or b"", "RoutingDecision")),
        )
    finally:
        consumer.close()
    return tally


def _count(settings: Settings, topic: str) -> int:
    count = 0

    def take(_: object) -> None:
        nonlocal count
        count += 1

    consumer = clients.reading_consumer(settings.kafka, "demo")
    try:
        read_to_end(consumer, topic, take)
    finally:
        consumer.close()
    return count


def _print_summary(
    console: Console, settings: Settings, tally: Tally, dead: int, metrics_url: str
) -> None:
    outcomes = Table(title="Outcomes by profile")
    for column in ("profile", "outcome", "leads"):
        outcomes.add_column(column, justify="right" if column == "leads" else "left")
    for (profile, outcome), count in sorted(tally.by_profile.items()):
        outcomes.add_row(profile, outcome, str(count))
    console.print(outcomes)

    partners = Table(title="Deliveries and revenue by partner")
    for column in ("partner", "topic", "deliveries", "revenue"):
        partners.add_column(
            column, justify="right" if column in ("deliveries", "revenue") else "left"
        )
    for (partner, currency), revenue in sorted(tally.revenue.items()):
        partners.add_row(
            partner,
            settings.topics.delivery_topic(partner),
            str(tally.deliveries[partner]),
            f"{revenue:,.2f} {currency}",
        )
    console.print(partners)

    sources = ", ".join(f"{source} {count}" for source, count in tally.geo_sources.most_common())
    console.print(f"geolocation by source: {sources}")
    console.print(
        f"dead letters on {settings.topics.dlq_topic}: {dead} (records that are not leads)"
    )
    # Lead ids come from publishers: printed as text, never read as console markup.
    for line in tally.highlights.cap_lines() or ["caps reached: none"]:
        console.print(line, markup=False)
    console.print(tally.highlights.duplicate_line(), markup=False)
    console.print()
    for kind in EXAMPLES:
        decision = tally.examples.get(kind)
        if decision is None:
            continue
        console.rule(f"why {decision['lead_id']} ended {decision['outcome']}")
        text = explain_text(decision["outcome"], json.loads(decision["trace"]), decision)
        console.print(text, markup=False)
    console.print()
    console.print(
        f"Metrics were served at {metrics_url} while the demo ran; `lead-router run` serves "
        "/metrics, /healthz and /readyz on --metrics-port (default 9108)."
    )
