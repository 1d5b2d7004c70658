"""``lead-router audit show|search|tail``: the distribution log, read from the audit topic.

``show`` answers "why did this lead go where it went": every decision recorded for the lead, each
explained in words. ``search`` finds the decisions of a time span by partner, profile, outcome or
lead. ``tail`` follows decisions as the processor commits them, one line each.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeAlias

from confluent_kafka import KafkaException, Message, TopicPartition
from rich.console import Console
from rich.table import Table
from rich.text import Text

from processor.audit.inputs import input_consumer
from processor.cli.audit_explain import Explainer
from processor.cli.dryrun import add_trace_limit
from processor.cli.options import add_settings_flags, settings_from_args
from processor.cli.receipts import quiet_kafka_client
from processor.errors import InvalidInput, ServiceUnavailable, UserError
from processor.kafka.access import check_access
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import end_offsets
from processor.kafka.span import MOMENT_HELP, SPAN_HELP, Span, read_span, topic_partitions
from processor.rules.explain import explain_record
from processor.settings import Settings
from processor.wire import Codec, DecodeError
from processor.wire.lead_json import format_timestamp

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Decision = dict[str, Any]

KAFKA_TIMEOUT_S = 15.0
SEARCH_SINCE = "24h"
SEARCH_LIMIT = 100
OUTCOMES = ("routed", "fallback", "unroutable", "duplicate", "rejected")

EPILOG = """\
The audit topic (--audit-topic) holds one RoutingDecision for every lead the processor took: its
outcome, the partners and prices, and the trace of the rules that decided. Only committed
decisions are read.

examples:
  lead-router audit show web-20240501-0001 --bootstrap-servers kafka:9092
  lead-router audit show web-20240501-0001 --format json | jq '.deliveries'
  lead-router audit search --partner crm-east --outcome routed --since 2h
  lead-router audit search --profile acme --since 7d --until 2026-11-29T00:00:00Z --format json
  lead-router audit tail
  lead-router audit tail --format json | jq -c 'select(.outcome == "unroutable")'
"""


class NoDecision(UserError):
    """The audit topic has no decision for the lead asked about."""


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="the distribution log: why a lead went where it went (show), decisions of a span "
        "(search), decisions live (tail)",
        description="Reads the distribution log, the audit topic: which partner got a lead, at "
        "what price, and why.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show",
        help="every routing decision for one lead, explained in words",
        description="Prints every routing decision recorded for a lead, newest last (a lead "
        "published twice has two), each with its outcome, partners and prices, when and under "
        "which rules version it was decided, and the trace that explains it. Exits 1 when the "
        "audit topic has no decision for the lead. Without --since the whole topic is scanned: "
        "expect a few seconds per million decisions.",
        epilog="examples:\n  lead-router audit show web-20240501-0001\n"
        "  lead-router audit show web-20240501-0001 --since 2d --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("lead_id", metavar="LEAD_ID", help="the lead's id, as its publisher gave it")
    show.add_argument(
        "--since",
        metavar="SPAN",
        help=f"only decisions of this last span: {SPAN_HELP} (default: the whole topic)",
    )
    add_trace_limit(show)
    _add_format(show, "the records as JSON, one per line")
    add_settings_flags(show, ("kafka", "registry", "topics"))
    show.set_defaults(handler=_show)
    search = actions.add_parser(
        "search",
        help="the decisions of a time span, by partner, profile, outcome or lead",
        description="Prints the decisions made in a time span (by the time each was made) that "
        "match every filter given, newest last, then how many matched of how many the span "
        "holds. Only the span is read, never the whole topic.",
        epilog="examples:\n  lead-router audit search --outcome unroutable\n"
        "  lead-router audit search --partner crm-east --since 7d --limit 1000\n"
        "  lead-router audit search --profile acme --since 2d --until 1d --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument(
        "--since",
        metavar="SPAN",
        default=SEARCH_SINCE,
        help=f"decisions of this last span: {SPAN_HELP} (default: {SEARCH_SINCE})",
    )
    search.add_argument("--until", metavar="TIME", help=f"decisions before {MOMENT_HELP}")
    search.add_argument("--partner", metavar="ID", help="only decisions delivering to this partner")
    search.add_argument("--profile", metavar="ID", help="only decisions of this profile")
    search.add_argument("--outcome", choices=OUTCOMES, help="only decisions with this outcome")
    search.add_argument("--lead", metavar="ID", help="only this lead's decisions")
    search.add_argument(
        "--limit",
        type=int,
        default=SEARCH_LIMIT,
        metavar="N",
        help=f"show the newest N that match (default: {SEARCH_LIMIT})",
    )
    _add_format(search, "the records as JSON, one per line; the count goes to stderr")
    add_settings_flags(search, ("kafka", "registry", "topics"))
    search.set_defaults(handler=_search)
    tail = actions.add_parser(
        "tail",
        help="follow routing decisions as they are committed, one line each",
        description="Follows the audit topic from its end and prints each new decision as it is "
        "committed: time, lead, outcome and partners (or why it was rejected). Ctrl-C stops.",
        epilog="examples:\n  lead-router audit tail\n  lead-router audit tail --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_format(tail, "each record as JSON, one per line")
    add_settings_flags(tail, ("kafka", "registry", "topics"))
    tail.set_defaults(handler=_tail)


def _add_format(parser: argparse.ArgumentParser, json_help: str) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help=f"text for people (default); json: {json_help}",
    )


def _settings(args: argparse.Namespace) -> Settings:
    quiet_kafka_client()
    settings = settings_from_args(args)
    check_access(settings.kafka)
    return settings


def _show(args: argparse.Namespace) -> int:
    span = Span.parse(args.since, None)
    settings = _settings(args)
    topic = settings.topics.audit_topic
    codec = Codec.for_registry(settings.registry)
    wanted = args.lead_id.encode()
    found: list[Decision] = []

    def take(message: Message) -> None:
        if message.key() == wanted:  # decode only the lead's records: the topic can be large
            decision = _decode(codec, topic, message)
            if decision is not None:
                found.append(decision)

    _read(settings, span, take)
    if not found:
        within = "" if args.since is None else f" {span.describe()}"
        raise NoDecision(f"no decision for lead {args.lead_id!r} on {topic}{within}")
    found.sort(key=lambda decision: decision["decided_at"])
    found = _explained(settings, codec, found, args.trace_limit)
    if args.format == "json":
        for decision in found:
            print(json.dumps(_jsonable(decision)))
        return 0
    if len(found) > 1:
        again = sum(1 for decision in found if (decision.get("attempt") or 1) > 1)
        why = "published more than once"
        if again:
            why = "re-offered" + ("" if again == len(found) - 1 else f", and {why}")
        print(f"lead {args.lead_id} was decided {len(found)} times ({why}); newest last\n")
    print("\n\n".join(explain_record(decision) for decision in found))
    return 0


def _explained(
    settings: Settings, codec: Codec, found: list[Decision], limit: int | None
) -> list[Decision]:
    """The decisions with the assignments their traces count explained (see
    :mod:`processor.cli.audit_explain`); why not, on stderr, for one that cannot be."""
    explainer = Explainer(settings, codec, limit)
    explained = []
    with input_consumer(settings) as consumer:
        for decision in found:
            filled, why_not = explainer.explained(decision, consumer)
            if why_not is not None:
                print(f"lead-router: decided {_line(decision)}: {why_not}", file=sys.stderr)
            explained.append(filled)
    return explained


def _search(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise InvalidInput(f"--limit {args.limit}: give at least 1")
    span = Span.parse(args.since, args.until)
    settings = _settings(args)
    topic = settings.topics.audit_topic
    codec = Codec.for_registry(settings.registry)
    wanted = None if args.lead is None else args.lead.encode()
    newest: list[tuple[int, int, int, Decision]] = []  # a heap: the oldest match on top
    matched = [0]

    def take(message: Message) -> None:
        if wanted is not None and message.key() != wanted:
            return  # decode only what can match: a span can hold millions of decisions
        decision = _decode(codec, topic, message)
        if decision is None or not _matches(decision, args):
            return
        matched[0] += 1
        place = (message.timestamp()[1], message.partition() or 0, message.offset() or 0)
        if len(newest) < args.limit:
            heapq.heappush(newest, (*place, decision))
        elif place > newest[0][:3]:
            heapq.heapreplace(newest, (*place, decision))

    total = _read(settings, span, take)
    shown = [decision for *_, decision in sorted(newest, key=lambda item: item[:3])]
    count = f"{matched[0]:,} of {total:,} decisions {span.describe()}"
    if matched[0] > len(shown):
        count += f"; --limit reached: the newest {len(shown):,} shown"
    if args.format == "json":
        for decision in shown:
            print(json.dumps(_jsonable(decision)))
        print(count, file=sys.stderr)
        return 0
    console = Console()
    if shown:
        console.print(_table(shown))
    console.print(count, highlight=False)
    return 0


def _matches(decision: Decision, args: argparse.Namespace) -> bool:
    partners = {delivery["partner"] for delivery in decision["deliveries"]}
    return (
        (args.partner is None or args.partner in partners)
        and (args.profile is None or decision.get("profile") == args.profile)
        and (args.outcome is None or decision["outcome"] == args.outcome)
    )


def _table(decisions: list[Decision]) -> Table:
    table = Table()
    for column in ("time (UTC)", "lead", "outcome", "profile", "partners", "rules"):
        table.add_column(column, overflow="fold")
    for decision in decisions:
        # Text cells: ids are shown as they are, never read as rich markup.
        table.add_row(
            Text(decision["decided_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")),
            Text(decision["lead_id"]),
            Text(decision["outcome"]),
            Text(decision.get("profile") or "-"),
            Text(", ".join(d["partner"] for d in decision["deliveries"]) or "-"),
            Text(decision.get("rules_version") or "-"),
        )
    return table


def _read(settings: Settings, span: Span, take: Callable[[Message], None]) -> int:
    """Feeds ``take`` the audit topic's records of ``span``; returns how many there were (none
    when there is no audit topic yet)."""
    topic = settings.topics.audit_topic
    consumer = reading_consumer(settings.kafka, "audit-reader")
    try:
        partitions = topic_partitions(consumer, topic, settings.kafka.bootstrap_servers)
        if partitions is None:
            return 0
        return read_span(consumer, topic, partitions, span, take, _progress)
    finally:
        consumer.close()


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _tail(args: argparse.Namespace) -> int:
    settings = _settings(args)
    topic = settings.topics.audit_topic
    codec = Codec.for_registry(settings.registry)
    show: Callable[[Decision], str] = (
        (lambda decision: json.dumps(_jsonable(decision))) if args.format == "json" else _line
    )
    consumer = reading_consumer(settings.kafka, "audit-reader")
    try:
        found = topic_partitions(consumer, topic, settings.kafka.bootstrap_servers)
        if not found:
            raise InvalidInput(
                f"no topic {topic} on {settings.kafka.bootstrap_servers}: has the processor run "
                "with this --audit-topic?"
            )
        partitions = [TopicPartition(topic, p) for p in found]
        # From the end as it is now, taken explicitly: every decision committed after the line
        # below is printed, none before.
        ends = end_offsets(consumer, partitions, KAFKA_TIMEOUT_S)
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in ends.items()])
        print(f"following {topic}; Ctrl-C stops", file=sys.stderr, flush=True)
        while True:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                raise KafkaException(message.error())
            decision = _decode(codec, topic, message)
            if decision is not None:
                print(show(decision), flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()


def _decode(codec: Codec, topic: str, message: Message) -> Decision | None:
    """The decision in ``message``; None (reported on stderr) for a record that is not one."""
    try:
        return codec.decode(topic, message.value() or b"", "RoutingDecision")
    except DecodeError as error:
        if error.transient:
            raise ServiceUnavailable(f"reading {topic}: {error}") from error
        where = f"{topic}[{message.partition()}]@{message.offset()}"
        print(
            f"lead-router: skipped {where}: not a RoutingDecision ({error.reason})", file=sys.stderr
        )
        return None


def _line(decision: Decision) -> str:
    """One decision on one line: time, lead, outcome, then its partners or its error."""
    deliveries = ", ".join(
        f"{d['partner']} {d['price']:.2f} {d['currency']}" for d in decision["deliveries"]
    )
    profile = decision.get("profile")
    why = deliveries or decision.get("error") or (f"profile {profile}" if profile else "no profile")
    when = format_timestamp(decision["decided_at"])
    return f"{when}  {decision['lead_id']}  {decision['outcome']:<10}  {why}".rstrip()


def _jsonable(decision: Decision) -> dict[str, Any]:
    """The record as JSON: times in ISO 8601, the trace as the JSON it is."""
    return {
        **decision,
        "decided_at": format_timestamp(decision["decided_at"]),
        "trace": json.loads(decision["trace"]),
    }
