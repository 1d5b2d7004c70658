"""``lead-router kafka start|stop|status``: a local single-node Kafka broker to try things on."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from processor.cache import cache_dir
from processor.localkafka import KAFKA_VERSION, AlreadyRunning, EmbeddedKafka

EPILOG = f"""\
The broker is Apache Kafka {KAFKA_VERSION} in KRaft mode (one node, broker and controller in one
JVM) on 127.0.0.1, with transactions and fast compaction enabled. The first start resolves its jars
from Maven Central with Maven (needs Java 17+ and Maven); later starts reuse the cache.

examples:
  lead-router kafka start             # prints the bootstrap address, e.g. 127.0.0.1:39093
  lead-router kafka status
  lead-router kafka status --format json
  lead-router kafka stop
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "kafka",
        help="start, stop or query a local single-node Kafka broker",
        description="A real Apache Kafka broker on this machine, for the demo and for trying "
        "lead-router out; no Docker needed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        ("start", _start, "start the broker in the background and print its bootstrap address"),
        ("stop", _stop, "stop the broker (it keeps its data for the next start)"),
        ("status", _status, "say whether the broker runs and where; exit 1 when it does not"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "--dir",
            type=Path,
            default=cache_dir() / "broker",
            help="the broker's folder: configuration, data and logs (default: %(default)s)",
        )
        if name == "status":
            action.add_argument("--format", choices=("text", "json"), default="text")
        action.set_defaults(handler=handler)


def _start(args: argparse.Namespace) -> int:
    broker = EmbeddedKafka(args.dir)
    started = time.monotonic()
    try:
        if broker.state() is None:
            print(f"starting Apache Kafka {KAFKA_VERSION} in {args.dir} ...", file=sys.stderr)
        state = broker.start(quiet=False)
    except AlreadyRunning as running:
        print(f"already running (pid {running.state.pid}); not starting another", file=sys.stderr)
        print(running.state.bootstrap_servers)
        return 0
    print(
        f"ready in {time.monotonic() - started:.1f} s (pid {state.pid}); logs: {broker.log_file}",
        file=sys.stderr,
    )
    print(state.bootstrap_servers)
    return 0


def _stop(args: argparse.Namespace) -> int:
    if EmbeddedKafka(args.dir).stop():
        print("stopped", file=sys.stderr)
    else:
        print(f"no broker runs from {args.dir}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    broker = EmbeddedKafka(args.dir)
    state = broker.state()
    if args.format == "json":
        report = {"running": state is not None, "folder": str(args.dir)}
        if state is not None:
            report |= {
                "bootstrap_servers": state.bootstrap_servers,
                "pid": state.pid,
                "version": state.version,
                "uptime_s": round(time.time() - state.started_at, 1),
                "log_file": str(broker.log_file),
            }
        print(json.dumps(report))
    elif state is None:
        print(f"not running (folder {args.dir})")
    else:
        print(
            f"running at {state.bootstrap_servers}\n"
            f"  pid      {state.pid}\n"
            f"  version  Apache Kafka {state.version}\n"
            f"  uptime   {time.time() - state.started_at:.0f} s\n"
            f"  logs     {broker.log_file}"
        )
    return 0 if state is not None else 1
