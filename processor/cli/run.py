"""``lead-router run``: the stream processor."""

from __future__ import annotations

import argparse
import logging

from processor.app import App
from processor.cli.options import add_settings_flags, settings_from_args

EPILOG = """\
The processor creates missing topics, reads the rules from the config topic to its end, and only
then consumes leads. Each batch of leads, their outputs and their offsets commit in one Kafka
transaction (exactly once). SIGTERM commits the open transaction and exits 0.

examples:
  lead-router run --bootstrap-servers kafka:9092
  LEAD_ROUTER_BOOTSTRAP_SERVERS=kafka:9092 LEAD_ROUTER_GEO_IP_DB=~/.cache/lead-router/geo \\
      lead-router run --metrics-port 9108
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the stream processor",
        description="Consume lead events, route each exactly once, emit deliveries and audit.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_flags(
        parser,
        ("kafka", "registry", "topics", "processor", "geo", "metrics", "rules", "logging"),
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.logging.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = App(settings)
    app.install_signal_handlers()
    app.run()
    return 0
