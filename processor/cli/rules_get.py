"""``lead-router rules get``: the rules in force, or any version, as a document to apply again."""

from __future__ import annotations

import argparse
import sys

from processor.cli.options import add_settings_flags
from processor.cli.rules_args import Subparsers, add_format, version_argument
from processor.cli.rules_sources import connected
from processor.control.documents import from_history, in_force
from processor.rules.dump import document_text


def register_get(actions: Subparsers) -> None:
    parser = actions.add_parser(
        "get",
        help="print the rules in force (or version N) as a document apply takes back unchanged",
        description="Prints the rules version in force, or version N from the history, as a "
        "rules document (YAML, or JSON with --format json) with every default written out. "
        "Applying the output again publishes nothing: it is the same version, digest and all. "
        "Exits 0; 1 when there is no version in force or the history holds no version N.",
        epilog="examples:\n  lead-router rules get > rules.yaml      # edit, then rules apply\n"
        "  lead-router rules get --version 3 --format json\n"
        "  lead-router rules get --version 3 | lead-router rules apply -   # or: rules rollback 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", metavar="N", type=version_argument, help="version N from the history"
    )
    add_format(parser, ("yaml", "json"))
    add_settings_flags(parser, ("kafka", "topics", "rules"))
    parser.set_defaults(handler=_get)


def _get(args: argparse.Namespace) -> int:
    settings = connected(args)
    if args.version is None:
        rules = in_force(settings)
    else:
        rules = from_history(settings, int(args.version))
    comment = (
        f"rules {rules.name} of {settings.topics.config_topic}, applied {rules.applied_at}\n"
        f"digest {rules.digest}"
    )
    sys.stdout.write(document_text(rules.parts, args.format, comment))
    return 0
