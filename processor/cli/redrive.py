"""``lead-router redrive``: dead-lettered or unroutable leads published to the input topic again.

After a fix (the rules, a writer schema, a publisher's setting), the leads that went to the
dead-letter topic or came out unroutable are published again, exactly once, for the processor to
route; what was selected and what became of each is printed, never the leads' data.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from processor.cli.options import add_settings_flags, settings_from_args
from processor.cli.receipts import quiet_kafka_client
from processor.errors import InvalidInput
from processor.kafka.access import check_access
from processor.kafka.clients import reading_consumer
from processor.kafka.span import MOMENT_HELP, SPAN_HELP, Span, topic_partitions
from processor.redrive.publish import Redriven, redrive
from processor.redrive.select import Selection, select, shown

DEFAULT_SINCE = "7d"
DEFAULT_LIMIT = 10_000

EPILOG = f"""\
--from dlq takes the dead-letter topic's records (--dlq-topic) that were dead-lettered from the
input topic, and publishes each as it came: its key, value and headers, without the error headers
the processor added. --from unroutable takes the unroutable topic's decisions (--unroutable-topic)
and publishes the lead each carries, keyed by its lead id; a decision written before decisions
carried their lead is redriven from the input record it names, while the input topic still holds it.

Every published record carries the header lead-router.redriven-from: <topic>/<partition>/<offset> of
the record it came from. Before publishing, the input topic is read from the earliest selected
record's time on, and a record redriven before is skipped: running the same redrive again
publishes nothing. What is published goes in one Kafka transaction: all of it, or nothing. A
redrive that starts while another runs on the same input topic stops the other (exit 7).

A redriven lead whose earlier decision was unroutable is routed again; a lead that was routed or
sent to the fallback partner before is a duplicate, so nothing is sold twice.

Only --since (default: {DEFAULT_SINCE}) to --until is read, by record time; records are shown
by lead id, place and reason, never by their data.

examples:
  lead-router redrive --from dlq --dry-run
  lead-router redrive --from dlq --since 24h --reason unknown-fingerprint
  lead-router redrive --from unroutable --lead web-20240501-0001 --lead web-20240501-0002
  lead-router redrive --from unroutable --since 30d --until 7d --format json
"""

STYLES = {
    "published": "green",
    "would-publish": "green",
    "already-redriven": "yellow",
    "not-redrivable": "red",
    "over-limit": "yellow",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "redrive",
        help="publish dead-lettered or unroutable leads to the input topic again, exactly once",
        description="Publishes the leads of the dead-letter topic or of the unroutable topic to "
        "the input topic again, after a fix, exactly once; prints what became of each.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--from",
        dest="source",
        choices=("dlq", "unroutable"),
        required=True,
        help="the dead-letter topic, or the unroutable topic",
    )
    parser.add_argument(
        "--since",
        metavar="SPAN",
        default=DEFAULT_SINCE,
        help=f"only records of this last span: {SPAN_HELP} (default: {DEFAULT_SINCE})",
    )
    parser.add_argument(
        "--until", metavar="TIME", help=f"only records before this moment: {MOMENT_HELP}"
    )
    parser.add_argument(
        "--lead",
        metavar="ID",
        nargs="+",
        action="extend",
        default=[],
        help="only these leads (--lead A B, or --lead A --lead B)",
    )
    parser.add_argument(
        "--reason",
        metavar="REASON",
        action="append",
        default=[],
        help="--from dlq: only records dead-lettered for this reason (repeatable), e.g. "
        "unknown-fingerprint, too-slow",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"publish at most N leads in this run; run again for the rest (default: "
        f"{DEFAULT_LIMIT:,})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be published; publish nothing"
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default); json: one list of objects",
    )
    add_settings_flags(parser, ("kafka", "registry", "topics"))
    parser.set_defaults(handler=_redrive)


def _redrive(args: argparse.Namespace) -> int:
    if args.reason and args.source != "dlq":
        raise InvalidInput("--reason applies to --from dlq only")
    if args.limit < 1:
        raise InvalidInput(f"--limit {args.limit}: give at least 1")
    span = Span.parse(args.since, args.until)
    quiet_kafka_client()
    settings = settings_from_args(args)
    check_access(settings.kafka)
    topics = settings.topics
    topic = topics.dlq_topic if args.source == "dlq" else topics.unroutable_topic

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    consumer = reading_consumer(settings.kafka, "redrive")
    try:
        partitions = topic_partitions(consumer, topic, settings.kafka.bootstrap_servers)
        selection = Selection(args.source, span, tuple(args.lead), tuple(args.reason))
        candidates = (
            []
            if partitions is None
            else select(settings, consumer, partitions, selection, progress)
        )
    finally:
        consumer.close()
    done = redrive(settings, candidates, dry_run=args.dry_run, limit=args.limit, progress=progress)
    if args.format == "json":
        print(json.dumps([_jsonable(each) for each in done], indent=2))
    else:
        console = Console()
        if done:
            console.print(_table(done))
        console.print(_summary(done, topic, span), highlight=False)
    return 0


def _jsonable(each: Redriven) -> dict[str, str | None]:
    candidate = each.candidate
    return {
        "lead_id": candidate.lead_id,
        "from": candidate.origin,
        "reason": candidate.reason,
        "status": each.status,
        "why": each.why,
    }


def _table(done: Sequence[Redriven]) -> Table:
    table = Table()
    for column in ("lead", "from", "reason", "result"):
        table.add_column(column, overflow="fold")
    for each in done:
        result = each.status + (f": {shown(each.why)}" if each.why else "")
        table.add_row(
            Text(shown(each.candidate.lead_id or "-")),
            Text(each.candidate.origin),
            Text(shown(each.candidate.reason)),
            Text(result, style=STYLES[each.status]),
        )
    return table


def _summary(done: Sequence[Redriven], topic: str, span: Span) -> str:
    """``2 published, 1 already redriven of 3 records of dlq ... from ... until now``."""
    where = f"{topic} {span.describe()}"
    if not done:
        return f"nothing to redrive: no record selected on {where}"
    counts = Counter(each.status for each in done)
    parts = [f"{count} {status.replace('-', ' ')}" for status, count in counts.items()]
    return f"{', '.join(parts)}, of {len(done)} records selected on {where}"
