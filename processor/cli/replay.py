"""``lead-router replay``: what a rules file would have done with the leads of a past span.

The leads the input topic still holds for the span are routed again with the file, in the order
they were first decided, from routing's state (caps, rotation, duplicate memory) as it was at the
span's start, and compared with what the audit topic says happened. Nothing is published.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from processor.cli.options import add_settings_flags, settings_from_args
from processor.cli.receipts import quiet_kafka_client
from processor.cli.rules_sources import read_document
from processor.errors import UserError
from processor.kafka.access import check_access
from processor.kafka.span import moment_arg, shown
from processor.replay.report import Report, described
from processor.replay.run import CHANGES_LISTED, replay
from processor.replay.run import Progress as Step
from processor.rules import RulesDocument
from processor.settings import Settings

SHOWN_CHANGES = 20
"""Changed leads listed in the text report by default; --format json lists them all."""

SLICES = ("kafka", "registry", "topics", "rules", "geo")

EPILOG = """\
The span is read from the audit topic (each decision names its input record and its place in the
order of decisions) and the leads from the input topic, which must still hold them (its
retention). Routing's state at the span's start comes from the state topic, exact for spans that
begin within STATE_HISTORY_DAYS (default 7) days; the report says when it is approximate. When
the span begins in the middle of a commit, replay starts at that commit's first lead.

--since and --until take a moment in ISO 8601 (2026-11-30T14:00:00Z; without an offset, UTC) or a
span back from now (90s, 15m, 2h, 7d, 1w).

Exits 0 when the replay ran (whatever it found), 1 when the rules file is invalid, 2 for a bad
flag, 4 when Kafka does not answer.

examples:
  lead-router replay --rules rules.yaml --since 24h
  lead-router replay --rules rules.yaml --since 7d --profile acme
  lead-router replay --rules rules.yaml --since 2026-11-23 --until 2026-11-30
  lead-router replay --rules rules.yaml --since 24h --format json | jq '.changes[].lead_id'
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="what-if: what a rules file would have done with the leads of a past span",
        description="Routes the leads the input topic still holds for a span again, with a rules "
        "file, in their original order and from routing's state as it was at the span's start, "
        "and compares with what happened: outcomes per profile and deliveries and revenue per "
        "partner, before and after, and each lead whose decision would change, with why. "
        "Nothing is published.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rules", required=True, metavar="FILE", help="the rules document to try; - for stdin"
    )
    parser.add_argument(
        "--since",
        required=True,
        type=moment_arg,
        metavar="T",
        help="the span's start: an ISO 8601 moment, or a span back from now (24h, 7d)",
    )
    parser.add_argument(
        "--until", type=moment_arg, metavar="T", help="the span's end (default: now), as --since"
    )
    parser.add_argument("--profile", metavar="ID", help="report only the leads of this profile")
    parser.add_argument(
        "--show",
        type=int,
        default=SHOWN_CHANGES,
        metavar="N",
        help=f"changed leads listed in the text report (default {SHOWN_CHANGES})",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default); json: the whole report, every changed lead",
    )
    add_settings_flags(parser, SLICES)
    parser.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    quiet_kafka_client()
    settings = settings_from_args(args)
    document = read_document(args.rules, settings.rules.rules_limits())
    check_access(settings.kafka)
    with progress_bar() as step:
        report = replay(
            settings, document, args.since, args.until, profile=args.profile, progress=step
        )
    if args.format == "json":
        print(json.dumps(report.as_dict(), indent=2))
    else:
        Console().print(render(report, args.rules, settings, args.show), highlight=False)
    return 0


@contextmanager
def progress_bar() -> Iterator[Callable[[Step], None]]:
    """A progress bar on stderr, one task per step; quiet when stderr is not a terminal."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def step(progress: Step) -> None:
            task = tasks.get(progress.step)
            if task is None:
                task = tasks[progress.step] = bar.add_task(progress.step, total=progress.total)
            bar.update(task, completed=progress.done, total=progress.total)

        yield step


def render(report: Report, rules: str, settings: Settings, listed: int) -> RenderableType:
    """The report for people: what was replayed, two tables, and the changed leads."""
    until = shown(report.until) if report.until else "now"
    lines = [f"replay of {rules} over {shown(report.since)} to {until}: {report.leads:,} leads"]
    if report.profile:
        lines[0] += f" of profile {report.profile}"
    if report.started_at and report.started_at < report.since:
        lines.append(
            f"  from {shown(report.started_at)}: the span began during a commit, replayed "
            "from that commit's first lead"
        )
    if report.missing:
        lines.append(
            f"  {report.missing:,} leads of the span are no longer on "
            f"{settings.topics.input_topic}: not replayed"
        )
    if report.reoffers:
        lines.append(f"  {report.reoffers:,} re-offers of the span: not replayed")
    lines.append(
        "  state at the start: exact"
        if report.exact
        else f"  state at the start: approximate: {report.inexact_why}"
    )
    parts: list[RenderableType] = [Text("\n".join(lines))]
    if report.leads == 0:
        return Group(*parts, Text("no leads to replay in this span"))
    parts += [_outcomes(report), _partners(report), _changes(report, listed)]
    return Group(*parts)


def _outcomes(report: Report) -> Table:
    table = Table(title="Outcomes per profile")
    for column in ("profile", "outcome", "before", "after", "change"):
        table.add_column(
            column, justify="right" if column in ("before", "after", "change") else "left"
        )
    for (profile, outcome), (before, after) in report.outcome_pairs():
        table.add_row(Text(profile), outcome, f"{before:,}", f"{after:,}", _delta(after - before))
    return table


def _partners(report: Report) -> Table:
    table = Table(title="Deliveries and revenue per partner")
    for column in ("partner", "leads before", "leads after", "revenue before", "revenue after"):
        table.add_column(column, justify="left" if column == "partner" else "right")
    partners = sorted(set(report.before.deliveries) | set(report.after.deliveries))
    for partner in partners:
        table.add_row(
            Text(partner),
            f"{report.before.deliveries[partner]:,}",
            f"{report.after.deliveries[partner]:,}",
            _money(report, "before", partner),
            _money(report, "after", partner),
        )
    return table


def _money(report: Report, side: str, partner: str) -> str:
    tally = report.before if side == "before" else report.after
    amounts = [f"{v:,.2f} {c}" for (p, c), v in sorted(tally.revenue.items()) if p == partner]
    return ", ".join(amounts) or "-"


def _changes(report: Report, limit: int) -> RenderableType:
    if not report.changed:
        return Text("no decision would change")
    lines = [f"{report.changed:,} leads would be decided differently:"]
    for change in report.changes[:limit]:
        lines.append(f"  {change.lead_id}")
        lines.append(f"    was: {described(change.before)}")
        lines.append(f"    now: {described(change.after)}")
        lines += [f"      {line}" for line in change.why]
    listed = min(limit, len(report.changes))
    if report.changed > listed:
        lines.append(
            f"  and {report.changed - listed:,} more (--show N, or --format json for the first "
            f"{CHANGES_LISTED:,})"
        )
    return Text("\n".join(lines))


def _delta(change: int) -> str:
    return f"{change:+,}" if change else ""


class NotConfirmed(UserError):
    """``rules apply --what-if`` was not confirmed: nothing was written."""

    exit_code = 8


def add_what_if_flags(parser: argparse.ArgumentParser) -> None:
    """``--what-if SPAN`` and ``--yes``, for ``rules apply``."""
    parser.add_argument(
        "--what-if",
        type=moment_arg,
        metavar="SPAN",
        help="first replay the leads of this span (24h, 7d, or an ISO 8601 moment) with the "
        "document and show what would change, then publish only when confirmed",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="with --what-if: publish without asking (for scripts; the report is still printed)",
    )


def what_if(args: argparse.Namespace, settings: Settings, document: RulesDocument) -> None:
    """Shows what ``document`` would have done with the leads since ``args.what_if``, then asks
    to go on; raises :class:`NotConfirmed` when the answer is not yes, or cannot be asked (no
    terminal) and ``--yes`` was not given."""
    with progress_bar() as step:
        report = replay(settings, document, args.what_if, progress=step)
    if args.format == "json":
        print(json.dumps({"what_if": report.as_dict()}), file=sys.stderr)
    else:
        Console(stderr=True).print(render(report, args.file, settings, SHOWN_CHANGES))
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmed(
            "not confirmed: --what-if asks before publishing, and there is no terminal to ask; "
            "give --yes to publish: nothing was written"
        )
    answer = input(f"publish {args.file}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise NotConfirmed("not confirmed: nothing was written")
