"""``lead-router demo``: the main job on an embedded default, end to end."""

from __future__ import annotations

import argparse
import logging

from rich.console import Console

from processor.cli.options import add_settings_flags, settings_from_args
from processor.demo.run import run_demo
from processor.localkafka import free_port

EPILOG = """\
What it does: starts a local Apache Kafka broker (unless --bootstrap-servers or
LEAD_ROUTER_BOOTSTRAP_SERVERS names one), applies the sample rules (processor/demo/rules.yaml: a
dealer group routing by interest category to the nearest of its stores, and a lead marketplace
selling to the highest bidder, the top one capped at 3 leads a day), publishes sample leads (among
them a visitor who asks twice and a publisher's retry), runs the processor until every lead is
routed, and prints what happened, read back from the audit topic: the cap reached and who took
the leads after it, the duplicates caught. Then it serves the console on the demo's broker
(http://127.0.0.1:8080, or a free port when 8080 is taken) with an editor and a viewer made for
this run, their passwords printed last, until Ctrl-C; --no-console ends after the summary.

The IP database from `lead-router geo fetch` is used when it is in the cache (`make demo` fetches
it), so leads with only an IP address are located too.

examples:
  lead-router demo
  lead-router demo --leads 10000 --console-port 9000
  lead-router demo --no-console
  lead-router demo --bootstrap-servers 127.0.0.1:9092     # on a broker you run
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole product on a local broker with sample rules and leads",
        description="Routes a few thousand sample leads end to end on a real Kafka broker and "
        "prints a summary: outcomes, deliveries and revenue per partner, example decisions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--leads", type=int, default=3000, help="how many sample leads (default: %(default)s)"
    )
    parser.add_argument(
        "--bad-records",
        type=int,
        default=30,
        help="how many records that are not leads, for the dead-letter topic "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--no-console",
        dest="console",
        action="store_false",
        help="end after the summary and the deliveries, without serving the console",
    )
    add_settings_flags(
        parser,
        (
            "kafka",
            "registry",
            "topics",
            "processor",
            "delivery",
            "geo",
            "metrics",
            "rules",
            "console",
        ),
    )
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    if args.leads < 1 or args.bad_records < 0:
        raise SystemExit("lead-router demo: --leads must be at least 1, --bad-records at least 0")
    settings = settings_from_args(args)
    # The summary tells what happened; per-record log lines would bury it.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    updates: dict[str, object] = {}
    if "metrics_port" not in settings.metrics.model_fields_set:
        updates["metrics_port"] = free_port()
    return run_demo(
        settings.with_changes(**updates),
        args.leads,
        args.bad_records,
        Console(),
        with_console=args.console,
    )
