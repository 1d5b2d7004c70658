"""``lead-router rules diff A B``: what differs between two documents or versions, field by field.

Exits like diff(1): 0 when the two are the same, 1 when they differ, 2 when a side cannot be read
(an invalid file, a version the history does not hold) or the command line is wrong, so that a
script tells "they differ" from "there was nothing to compare".
"""

from __future__ import annotations

import argparse
import json

from processor.cli.options import add_settings_flags
from processor.cli.rules_args import Subparsers, add_format
from processor.cli.rules_sources import from_source
from processor.errors import UserError
from processor.rules.diff import diff_parts, summary


class Unreadable(UserError):
    """A side of ``rules diff`` that is not rules: an invalid file, an unknown version."""

    exit_code = 2


def register_diff(actions: Subparsers) -> None:
    parser = actions.add_parser(
        "diff",
        help="show what differs between two documents or versions (FILE, @N, @live)",
        description="Compares two rules documents, each a FILE (- for stdin), @N (version N from "
        "the history) or @live (the version in force): custom fields by name, partners and "
        "profiles by id, assignments by profile and id. Each entity added (+), removed (-) or "
        "changed (~) is listed with every field that changed, old -> new; an assignment that moved "
        "is listed too, as the order of a profile's assignments decides first_match and ties. "
        "Exits 0 when the two are the same, 1 when they differ, 2 when a side cannot be read, "
        "4 when Kafka does not answer.",
        epilog="examples:\n  lead-router rules diff @live rules.yaml   # what apply would change\n"
        "  lead-router rules diff @3 @4\n"
        "  lead-router rules diff old.yaml new.yaml --format json | jq '.changes[].entity'\n\n"
        "output:\n"
        "  ~ profile acme / assignment svc-ca: price 40 -> 45\n"
        "  + partner crm-west\n"
        "  ~ profile acme / assignment any-ny: moved from position 3 to 1\n"
        "  +1 partner, ~2 assignments",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("old", metavar="A", help="FILE, @N or @live: the rules before")
    parser.add_argument("new", metavar="B", help="FILE, @N or @live: the rules after")
    add_format(parser)
    add_settings_flags(parser, ("kafka", "topics", "rules"))
    parser.set_defaults(handler=_diff)


def _diff(args: argparse.Namespace) -> int:
    sides = []
    for source in (args.old, args.new):
        try:
            sides.append(from_source(source, args))
        except UserError as error:
            if error.exit_code != 1:  # Kafka, say: its own code, whatever the command
                raise
            raise Unreadable(str(error)) from None
    old, new = sides
    changes = diff_parts(old.parts, new.parts)
    if args.format == "json":
        shown = {
            "old": old.name,
            "new": new.name,
            "same": not changes,
            "summary": summary(changes),
            "changes": [change.as_dict() for change in changes],
        }
        print(json.dumps(shown, indent=2))
    elif not changes:
        print(f"{old.name} and {new.name} are the same")
    else:
        print(f"--- {old.name}\n+++ {new.name}")
        for change in changes:
            print(change)
        print(summary(changes))
    return 1 if changes else 0
