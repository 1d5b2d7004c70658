"""``lead-router receipts``: the Lead Delivery Receipts view, read from the receipts topic.

Each delivery appears once, with its latest receipt: the partner, the lead, the price the partner
pays, when the worker finished and how (delivered, retrying, failed, rejected, reoffered; returned
or return_refused for a return), and what each destination answered.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC

from rich.console import Console
from rich.table import Table
from rich.text import Text

from processor.cli.options import add_settings_flags, settings_from_args
from processor.delivery import read_receipts
from processor.delivery.receipts import Receipt
from processor.kafka.access import check_access
from processor.kafka.clients import CLIENT_LOG
from processor.kafka.span import moment_arg
from processor.wire.lead_json import format_timestamp

STATUSES = (
    "delivered",
    "retrying",
    "failed",
    "rejected",
    "reoffered",
    "returned",
    "return_refused",
)
"""Every status of schemas/DeliveryReceipt.avsc, in the order a delivery's life reaches them."""
STYLES = {
    "delivered": "green",
    "retrying": "cyan",
    "failed": "yellow",
    "rejected": "red",
    "reoffered": "magenta",
    "returned": "blue",
    "return_refused": "red",
}

EPILOG = """\
--since takes a moment in ISO 8601 (2026-11-20, 2026-11-20T14:00:00Z, 2026-11-20T09:00-05:00;
without an offset, UTC) or a span back from now: 90s, 15m, 2h, 7d, 1w.

The view reads the receipts topic (--receipts-topic) to its end, read_committed, and shows the
latest receipt of each delivery, oldest first. --format json prints one object per line with every
field of the DeliveryReceipt, the time in ISO 8601.

examples:
  lead-router receipts --bootstrap-servers kafka:9092
  lead-router receipts --partner crm-east --since 2h
  lead-router receipts --lead web-20240501-0001
  lead-router receipts --status failed --format json | jq -r .delivery_id
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "receipts",
        help="show delivered leads: partner, price, time and status, from the receipts topic",
        description="The Lead Delivery Receipts view: every delivery that delivery workers "
        "finished, with its partner, price, time and status, as a table or as JSON lines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--partner", metavar="ID", help="only this partner's deliveries")
    parser.add_argument("--lead", metavar="ID", help="only this lead's deliveries")
    parser.add_argument(
        "--since", type=moment_arg, metavar="TIME", help="only receipts from this moment on"
    )
    parser.add_argument("--status", choices=STATUSES, help="only receipts with this status")
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table for people (default), json for programs: one object per line",
    )
    add_settings_flags(parser, ("kafka", "registry", "topics"))
    parser.set_defaults(handler=_receipts)


def quiet_kafka_client() -> None:
    """For commands whose output is the answer: the Kafka client's connection messages would
    bury it, and an unreachable cluster ends in one error that says so."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    CLIENT_LOG.setLevel(logging.CRITICAL)


def _receipts(args: argparse.Namespace) -> int:
    quiet_kafka_client()
    settings = settings_from_args(args)
    check_access(settings.kafka)
    receipts = [
        receipt
        for receipt in read_receipts(settings)
        if (args.partner is None or receipt["partner"] == args.partner)
        and (args.lead is None or receipt["lead_id"] == args.lead)
        and (args.since is None or receipt["at"] >= args.since)
        and (args.status is None or receipt["status"] == args.status)
    ]
    if args.format == "json":
        for receipt in receipts:
            print(json.dumps({**receipt, "at": format_timestamp(receipt["at"])}))
        return 0
    console = Console()
    if receipts:
        console.print(_table(receipts))
    console.print(_summary(receipts), highlight=False)
    return 0


def _table(receipts: Sequence[Receipt]) -> Table:
    table = Table(title="Lead Delivery Receipts")
    for column in ("time (UTC)", "lead", "partner", "price", "status", "tries", "detail"):
        table.add_column(
            column,
            justify="right" if column in ("price", "tries") else "left",
            no_wrap=column != "detail",
            overflow="fold",  # a destination's address is one long word: fold it, never cut it
        )
    for receipt in receipts:
        # Text cells: ids and answers are shown as they are, never read as rich markup.
        table.add_row(
            Text(receipt["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")),
            Text(receipt["lead_id"]),
            Text(receipt["partner"]),
            Text(_price(receipt)),
            Text(receipt["status"], style=STYLES[receipt["status"]]),
            Text("" if receipt["attempts"] is None else str(receipt["attempts"])),
            Text(receipt["detail"] or ""),
        )
    return table


def _price(receipt: Receipt) -> str:
    if receipt["price"] is None:
        return ""
    return f"{receipt['price']:,.2f} {receipt['currency'] or ''}".rstrip()


def _summary(receipts: Sequence[Receipt]) -> str:
    """How many deliveries ended how, and what the delivered ones earned, per currency."""
    if not receipts:
        return "no receipts match"
    statuses = Counter(receipt["status"] for receipt in receipts)
    revenue: defaultdict[str, float] = defaultdict(float)
    for receipt in receipts:
        if receipt["status"] == "delivered" and receipt["price"] is not None:
            revenue[receipt["currency"] or ""] += receipt["price"]
    parts = [f"{statuses[status]} {status}" for status in STATUSES if statuses[status]]
    if revenue:
        earned = ", ".join(
            f"{total:,.2f} {currency}" for currency, total in sorted(revenue.items())
        )
        parts.append(f"earning {earned}")
    noun = "delivery" if len(receipts) == 1 else "deliveries"
    return f"{len(receipts)} {noun}: " + ", ".join(parts)
