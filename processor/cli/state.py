"""``lead-router state show``: caps used and left, when each window resets, and rotation order.

It reads the rules in force from the config topic, as a processor does, and routing's state from
the state topic to its end, and shows what routing would see for a lead at ``--at``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from processor.cli.options import add_settings_flags, settings_from_args
from processor.cli.receipts import quiet_kafka_client
from processor.control.state import read_config
from processor.errors import InvalidInput, UserError
from processor.kafka.access import check_access
from processor.kafka.clients import reading_consumer
from processor.kafka.span import moment_arg
from processor.rules import Ledger, Snapshot, compile_rules
from processor.settings import Settings
from processor.state.reader import READ_TIMEOUT_S, read_state, topic_exists
from processor.state.report import CapUse, StateReport, UnknownId, state_report

EPILOG = """\
Each cap is shown in the window --at falls in (default: now), in its partner's time zone: how much
is used, the limit, what is left, and when the window resets (a total cap never does). Revenue is
in the cap's currency. A partner's caps count every delivery to it, an assignment's only that
assignment's. For a round_robin profile, the rotation lists its partners next in line first
(never chosen first, in document order); for a weighted profile, each assignment's score.

--at takes a moment in ISO 8601 (2026-11-30T14:00:00Z, 2026-11-30T09:00-05:00; without an offset,
UTC) or a span back from now (90s, 15m, 2h, 7d, 1w).

Exits 0; 1 when no rules version is in force or --partner/--profile names none of its ids; 2 for
a bad flag; 4 when Kafka does not answer.

examples:
  lead-router state show --bootstrap-servers kafka:9092
  lead-router state show --partner crm-east
  lead-router state show --profile acme --at 2026-11-30T23:59:00Z
  lead-router state show --format json | jq '.partners[].caps[] | select(.left == 0)'
"""


class NoRules(UserError):
    """No rules version is in force: there are no caps to show."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "state",
        help="what routing remembers: caps used and left, window resets, rotation order (show)",
        description="Shows routing's state, read from the state topic, against the rules in force.",
        epilog="examples:\n  lead-router state show\n  lead-router state show --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="state_action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show",
        help="caps used and left per window, when each window resets, rotation order",
        description="Reads the rules in force and the state topic to its end, then shows per "
        "partner and per assignment each cap's use, limit, what is left and when its window "
        "resets, and per profile the round robin order or the weighted scores.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("--partner", metavar="ID", help="only this partner's caps and assignments")
    show.add_argument("--profile", metavar="ID", help="only this profile and its partners")
    show.add_argument(
        "--at",
        type=moment_arg,
        metavar="TIME",
        help="the moment whose windows are shown (default: now)",
    )
    show.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table for people (default), json for programs (one object, stable keys)",
    )
    add_settings_flags(show, ("kafka", "topics", "rules"))
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    quiet_kafka_client()
    settings = settings_from_args(args)
    check_access(settings.kafka)
    snapshot = _rules_in_force(settings)
    stores = read_state(settings)
    ledgers = [Ledger(stores[partition]) for partition in sorted(stores)]
    at = args.at or datetime.now(UTC)
    try:
        report = state_report(snapshot, ledgers, at, partner=args.partner, profile=args.profile)
    except UnknownId as unknown:
        raise InvalidInput(str(unknown)) from None
    if args.format == "json":
        print(json.dumps(report.as_dict(), indent=2))
    else:
        Console().print(render(report), highlight=False)
    return 0


def _rules_in_force(settings: Settings) -> Snapshot:
    topic = settings.topics.config_topic
    consumer = reading_consumer(settings.kafka, "state-reader")
    try:
        exists = topic_exists(consumer, settings.kafka, topic, READ_TIMEOUT_S)
    finally:
        consumer.close()
    if not exists:
        raise NoRules(f"no topic {topic}: no rules were ever applied (lead-router rules apply)")
    config = read_config(settings)
    if config.in_force is None or config.document is None:
        raise NoRules(f"no rules version in force on {topic} (lead-router rules status says why)")
    return compile_rules(config.document, config.in_force.version)


def render(report: StateReport) -> RenderableType:
    """The report for people: a heading, the caps table and the rotation table."""
    heading = Text(
        f"rules version {report.rules_version}, windows at "
        f"{report.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    )
    parts: list[RenderableType] = [heading]
    rows = [(f"partner {p.partner}", cap) for p in report.partners for cap in p.caps]
    rows += [
        (f"assignment {a.profile}/{a.assignment} ({a.partner})", cap)
        for a in report.assignments
        for cap in a.caps
    ]
    parts.append(_caps_table(rows) if rows else Text("no caps"))
    if any(p.rotation is not None or p.scores is not None for p in report.profiles):
        parts.append(_rotation_table(report))
    return Group(*parts)


def _caps_table(rows: Sequence[tuple[str, CapUse]]) -> Table:
    table = Table(title="Caps")
    for column in ("scope", "per", "window", "used", "limit", "left", "resets"):
        right = column in ("used", "limit", "left")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for owner, cap in rows:
        left = _amount(cap, cap.left)
        # Text cells: ids come from the rules document and are shown as they are, never markup.
        table.add_row(
            Text(owner),
            Text(cap.per),
            Text(cap.window),
            Text(_amount(cap, cap.used)),
            Text(_amount(cap, cap.limit)),
            Text(left, style="red" if cap.left <= 0 else ""),
            Text(_resets(cap)),
        )
    return table


def _amount(cap: CapUse, value: float) -> str:
    if cap.currency is None:
        return f"{value:,.0f}"
    return f"{value:,.2f} {cap.currency}"


def _resets(cap: CapUse) -> str:
    if cap.resets is None:
        return "never"
    zone = cap.resets.tzinfo
    name = getattr(zone, "key", None) or cap.resets.strftime("%z")
    return f"{cap.resets:%Y-%m-%d %H:%M} {name}"


def _rotation_table(report: StateReport) -> Table:
    table = Table(title="Rotation")
    for column in ("profile", "strategy", "order"):
        table.add_column(column, overflow="fold")
    for profile in report.profiles:
        if profile.rotation is not None:
            order = ", ".join(
                turn.partner
                + (" (never chosen)" if turn.choices_ago is None else "")
                + (" (chosen last)" if turn.choices_ago == 0 else "")
                for turn in profile.rotation
            )
        elif profile.scores is not None:
            order = ", ".join(f"{assignment} {score}" for assignment, score in profile.scores)
        else:
            continue
        table.add_row(Text(profile.profile), Text(profile.strategy), Text(order))
    return table
