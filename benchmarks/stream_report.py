"""The stream benchmark's results, as a table for people or JSON for machines.

Each contender ran once per round on the same input; a table row gives its min, median and max
leads/s over the rounds and its median CPU per lead. The ratios that say how the processor fares
are taken round by round (the contenders of one round ran closest together, so shared-machine
noise touches them most alike), and their median is given with them.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.stream_meter import Run

LABELS = {
    "copy": "passthrough (EOS copy)",
    "fanned": "  fanned out like deliveries",
    "bare": "both stages, bare EOS loop",
    "quix": "both stages, Quix Streams",
    "processor": "processor (lead-router run)",
    "split": "  stages in two processes",
}
"""The contenders in the order they run in a round, and what the table calls them."""

PROCESSORS = ("processor", "split")
"""The contenders that are the processor: one instance running both stages, and a ``STAGES=match``
instance beside a ``STAGES=decide`` one, each stage with a core."""

RATIOS = (
    ("processor", "quix"),
    ("processor", "fanned"),
    ("processor", "bare"),
    ("split", "quix"),
    ("split", "fanned"),
)
"""The ratios of leads/s that the report gives: the processor against Quix Streams running the
same function, against the cost of the Kafka traffic alone, and against its own function in a
loop without its two-stage topology."""


@dataclass(frozen=True)
class Latency:
    """End-to-end seconds per lead seen, at ``offered`` leads/s, of ``sent`` leads."""

    offered: float
    waits: list[float]
    sent: int

    def percentile(self, p: float) -> float:
        return self.waits[max(0, int(len(self.waits) * p) - 1)]


def summary(
    runs: Mapping[str, Sequence[Run]],
    latencies: Mapping[str, Latency],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything the benchmark found, as JSON-ready values."""
    contenders = {}
    for name, done in runs.items():
        rates = [run.rate for run in done]
        contenders[name] = {
            "label": LABELS[name].strip(),
            "leads_per_s": {
                "rounds": rates,
                "min": min(rates),
                "median": statistics.median(rates),
                "max": max(rates),
            },
            "cpu_ms_per_lead": {
                "client": statistics.median(run.client_cpu for run in done) * 1000,
                "broker": statistics.median(run.broker_cpu for run in done) * 1000,
            },
        }
    ratios = {}
    for top, bottom in RATIOS:
        per_round = [a.rate / b.rate for a, b in zip(runs[top], runs[bottom], strict=True)]
        ratios[f"{top}/{bottom}"] = {"median": statistics.median(per_round), "rounds": per_round}
    return {
        "contenders": contenders,
        "ratios": ratios,
        "latency": {
            name: {
                "offered_leads_per_s": latency.offered,
                "p50_ms": statistics.median(latency.waits) * 1000,
                "p99_ms": latency.percentile(0.99) * 1000,
                "seen": len(latency.waits),
                "sent": latency.sent,
            }
            for name, latency in latencies.items()
        },
        "settings": dict(settings),
    }


def as_json(found: Mapping[str, Any]) -> str:
    return json.dumps(found, indent=2)


def as_table(found: Mapping[str, Any]) -> str:
    """The summary for people: leads/s and CPU per contender, the ratios, the latency."""
    lines = [
        f"{'':32}{'leads/s: min':>14}{'median':>9}{'max':>9}   CPU ms per lead: client, broker"
    ]
    for name, contender in found["contenders"].items():
        rates, cpu = contender["leads_per_s"], contender["cpu_ms_per_lead"]
        lines.append(
            f"{LABELS[name]:32}{rates['min']:14.0f}{rates['median']:9.0f}{rates['max']:9.0f}"
            f"   {cpu['client']:.3f}, {cpu['broker']:.3f}"
        )
    lines.append("")
    for name, ratio in found["ratios"].items():
        top, bottom = name.split("/")
        rounds = " ".join(f"{r:.2f}" for r in ratio["rounds"])
        lines.append(
            f"{LABELS[top].strip()} / {LABELS[bottom].strip()}: "
            f"{ratio['median']:.2f} (rounds: {rounds})"
        )
    lines.append("")
    for name, latency in found["latency"].items():
        lines.append(
            f"{LABELS[name].strip()}, end to end at {latency['offered_leads_per_s']:.0f} leads/s "
            f"offered: p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms "
            f"({latency['seen']} of {latency['sent']} leads seen)"
        )
    s = found["settings"]
    lines += [
        f"rules: {s['assignments']} assignments"
        f"{', caps and duplicate checks on' if s['with_state'] else ''}; "
        f"{s['leads']} leads per contender, {s['rounds']} rounds; "
        f"batch {s['batch_size']}, commit interval {s['commit_interval_ms']} ms",
    ]
    return "\n".join(lines)
