"""``lead-router rules rollback N``: version N's rules in force again, as a new version.

A rollback is an apply of version N's document: the history keeps growing (nothing is rewritten),
the new version's digest equals N's, and it is compare-and-set like any apply.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from processor.cli.options import add_settings_flags
from processor.cli.rules_args import Subparsers, add_format, version_argument
from processor.cli.rules_sources import connected
from processor.control.documents import from_history
from processor.control.publisher import publish_rules


def register_rollback(actions: Subparsers) -> None:
    parser = actions.add_parser(
        "rollback",
        help="apply version N again, as a new version",
        description="Publishes version N's document from the history again, as a new version "
        "(its digest equal to N's), in one transaction like rules apply. When the version in "
        "force already has N's rules, nothing is written. Exits 0; 1 when the history holds no "
        "version N; 7 when --expect-version is not the version in force or another apply took "
        "over; 4 when Kafka failed.",
        epilog="examples:\n  lead-router rules history     # find the version to go back to\n"
        "  lead-router rules rollback 2\n"
        "  lead-router rules rollback 2 --expect-version 5   # only if version 5 is in force",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("number", metavar="N", type=version_argument, help="the version to restore")
    parser.add_argument(
        "--expect-version",
        metavar="M",
        type=version_argument,
        help="compare-and-set: publish only when version M is the one in force; otherwise write "
        "nothing and exit 7",
    )
    add_format(parser)
    add_settings_flags(parser, ("kafka", "topics", "rules"))
    parser.set_defaults(handler=_rollback)


def _rollback(args: argparse.Namespace) -> int:
    settings = connected(args)
    wanted = from_history(settings, int(args.number))
    result = publish_rules(settings, wanted.document, expect_version=args.expect_version)
    same = "" if result.version == args.number else f" (equal to version {args.number})"
    if args.format == "json":
        shown = {"rollback_to": args.number, **asdict(result), "unchanged": result.unchanged}
        print(json.dumps(shown))
    elif result.unchanged:
        print(f"version {result.version}{same} is in force already: nothing was written")
    else:
        print(f"version {result.version}{same} is in force now")
    return 0
