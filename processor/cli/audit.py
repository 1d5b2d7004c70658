"""``lead-router audit show|tail``: the distribution log, read from the audit topic.

``show`` answers "why did this lead go where it went": every decision recorded for the lead, each
explained in words. ``tail`` follows decisions as the processor commits them, one line each.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeAlias

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from processor.cli.options import add_settings_flags, settings_from_args
from processor.cli.receipts import quiet_kafka_client
from processor.errors import InvalidInput, ServiceUnavailable, UserError
from processor.kafka.access import check_access
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import end_offsets, read_to_end
from processor.rules.explain import explain_record
from processor.settings import Settings
from processor.wire import Codec, DecodeError
from processor.wire.lead_json import format_timestamp

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Decision = dict[str, Any]

KAFKA_TIMEOUT_S = 15.0

EPILOG = """\
The audit topic (--audit-topic) holds one RoutingDecision for every lead the processor took: its
outcome, the partners and prices, and the trace of the rules that decided. Only committed
decisions are read.

examples:
  lead-router audit show web-20240501-0001 --bootstrap-servers kafka:9092
  lead-router audit show web-20240501-0001 --format json | jq '.deliveries'
  lead-router audit tail
  lead-router audit tail --format json | jq -c 'select(.outcome == "unroutable")'
"""


class NoDecision(UserError):
    """The audit topic has no decision for the lead asked about."""


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="the distribution log: why a lead went where it went (show), decisions live (tail)",
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
        "audit topic has no decision for the lead. The whole topic is scanned: expect a few "
        "seconds per million decisions.",
        epilog="examples:\n  lead-router audit show web-20240501-0001\n"
        "  lead-router audit show web-20240501-0001 --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("lead_id", metavar="LEAD_ID", help="the lead's id, as its publisher gave it")
    _add_format(show, "the records as JSON, one per line")
    add_settings_flags(show, ("kafka", "registry", "topics"))
    show.set_defaults(handler=_show)
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


def _partitions(consumer: Consumer, settings: Settings) -> list[int] | None:
    """The audit topic's partitions; None when there is no such topic."""
    try:
        topics = consumer.list_topics(timeout=KAFKA_TIMEOUT_S).topics
    except KafkaException as error:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka.bootstrap_servers} did not answer: {error.args[0].str()}"
        ) from None
    found = topics.get(settings.topics.audit_topic)
    return None if found is None else sorted(found.partitions)


def _settings(args: argparse.Namespace) -> Settings:
    quiet_kafka_client()
    settings = settings_from_args(args)
    check_access(settings.kafka)
    return settings


def _show(args: argparse.Namespace) -> int:
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

    consumer = reading_consumer(settings.kafka, "audit-reader")
    try:
        if _partitions(consumer, settings) is not None:
            read_to_end(consumer, topic, take)
    finally:
        consumer.close()
    if not found:
        raise NoDecision(f"no decision for lead {args.lead_id!r} on {topic}")
    found.sort(key=lambda decision: decision["decided_at"])
    if args.format == "json":
        for decision in found:
            print(json.dumps(_jsonable(decision)))
        return 0
    if len(found) > 1:
        print(
            f"lead {args.lead_id} was decided {len(found)} times (published more than once); "
            "newest last\n"
        )
    print("\n\n".join(explain_record(decision) for decision in found))
    return 0


def _tail(args: argparse.Namespace) -> int:
    settings = _settings(args)
    topic = settings.topics.audit_topic
    codec = Codec.for_registry(settings.registry)
    show: Callable[[Decision], str] = (
        (lambda decision: json.dumps(_jsonable(decision))) if args.format == "json" else _line
    )
    consumer = reading_consumer(settings.kafka, "audit-reader")
    try:
        found = _partitions(consumer, settings)
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
