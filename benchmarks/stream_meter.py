"""How the stream benchmark measures a contender: output records' timestamps and CPU seconds.

Throughput is records over the span between the first and the last output record's timestamp, so
that process start-up and group joins do not count; CPU is what the contender's processes and the
broker used, from Linux /proc.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition


@dataclass(frozen=True)
class Run:
    """One contender's run: records per second, and CPU seconds per record of the contender and
    of the broker."""

    rate: float
    client_cpu: float
    broker_cpu: float


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process (all its threads) has used so far, from Linux /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds that processes used between ``start`` and ``stop``."""

    def __init__(self, pids: Sequence[int]) -> None:
        self._pids = pids
        self._start = self._now()
        self.used = 0.0

    def _now(self) -> float:
        return sum(cpu_seconds(pid) for pid in self._pids)

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        self.used = self._now() - self._start


def reader(bootstrap: str) -> Consumer:
    """A read_committed consumer that assigns itself the partitions it reads."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-reader",
            "isolation.level": "read_committed",
        }
    )


def end_offsets(bootstrap: str, topic: str) -> list[TopicPartition]:
    """Where each partition of ``topic`` ends now: what is written after starts there."""
    consumer = reader(bootstrap)
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        ends = []
        for p in metadata.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            ends.append(TopicPartition(topic, p, high))
        return ends
    finally:
        consumer.close()


def timestamps(
    bootstrap: str,
    since: list[TopicPartition],
    count: int,
    *,
    on_first: Callable[[], None] = lambda: None,
    check: Callable[[], None] = lambda: None,
    timeout: float = 600,
) -> list[float]:
    """The timestamps (s) of the first ``count`` committed records from ``since``, as they come;
    ``on_first`` is called when the first one is seen, ``check`` at every poll (it raises when
    what writes them has failed)."""
    consumer = reader(bootstrap)
    consumer.assign(since)
    found: list[float] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count:
            check()
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(found)} of {count} records after {timeout} s")
            for message in consumer.consume(10000, timeout=0.5):
                if message.error() is None:
                    if not found:
                        on_first()
                    found.append(message.timestamp()[1] / 1000)
    finally:
        consumer.close()
    return found[:count]


def rate(stamps: list[float]) -> float:
    span = max(stamps) - min(stamps)
    return (len(stamps) - 1) / span if span > 0 else float("inf")


def measured_processes(
    bootstrap: str,
    since: list[TopicPartition],
    count: int,
    broker_pid: int,
    processes: Sequence[subprocess.Popen[bytes]],
    failed: Callable[[subprocess.Popen[bytes]], str],
) -> Run:
    """The run of ``processes`` that write ``count`` records from ``since``, their CPU counted
    from the first record out (start-up, imports and group joins are not). ``failed(process)``
    says why a process that ended with an error did."""
    contender = CpuMeter([process.pid for process in processes])
    broker = CpuMeter([broker_pid])

    def first_out() -> None:
        contender.start()
        broker.start()

    def check() -> None:
        for process in processes:
            # WNOWAIT: an ended process stays a zombie, whose /proc entry keeps its CPU times.
            ended = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if ended is not None and (ended.si_code != os.CLD_EXITED or ended.si_status != 0):
                raise SystemExit(failed(process))

    stamps = timestamps(bootstrap, since, count, on_first=first_out, check=check)
    contender.stop()
    broker.stop()
    return Run(rate(stamps), contender.used / count, broker.used / count)
