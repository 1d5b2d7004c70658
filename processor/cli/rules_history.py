"""``lead-router rules history``: every version applied, when, by whom, and what it changed."""

from __future__ import annotations

import argparse
import json
from typing import Any

from processor.cli.options import add_settings_flags
from processor.cli.rules_args import Subparsers, add_format
from processor.cli.rules_sources import connected
from processor.control.state import read_config
from processor.control.versions import Changes, Version, is_in_force, read_versions


def register_history(actions: Subparsers) -> None:
    parser = actions.add_parser(
        "history",
        help="list the rules versions applied: when, by whom, what each changed",
        description="Lists every rules version the history topic holds for this config topic, "
        "oldest first: its number, when it was applied (UTC), who applied it (user@host), its "
        "digest, and what it changed against the version before it (+ added, ~ changed, "
        "- removed). The version in force is marked with *. Exits 0.",
        epilog="examples:\n  lead-router rules history --bootstrap-servers kafka:9092\n"
        "  lead-router rules history --limit 5\n"
        "  lead-router rules history --format json | jq '.[-1].digest'\n\n"
        "See a version whole with rules get, and what it changed field by field with rules "
        "diff (@3 @4: versions 3 and 4).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--limit",
        metavar="N",
        type=_positive,
        help="only the N newest versions (all are read: each is compared with the one before)",
    )
    add_format(parser)
    add_settings_flags(parser, ("kafka", "topics", "rules"))
    parser.set_defaults(handler=_history)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _history(args: argparse.Namespace) -> int:
    settings = connected(args)
    changes = Changes(settings.rules.rules_limits())
    versions = read_versions(settings, changes.take)
    record = read_config(settings).in_force
    rows = [
        (version, change, record is not None and is_in_force(record, version))
        for version, change in zip(versions, changes.by_version, strict=True)
    ][-(args.limit or len(versions)) :]
    if args.format == "json":
        print(json.dumps([_json(*row) for row in rows], indent=2))
    elif not rows:
        print(
            f"no rules versions in {settings.topics.config_history_topic} for "
            f"{settings.topics.config_topic}"
        )
    else:
        print(_table(rows))
        if any(current for _, _, current in rows):
            print("\n* in force now")
    return 0


def _json(version: Version, changes: str, current: bool) -> dict[str, Any]:
    return {**version.as_dict(), "changes": changes, "in_force": current}


def _table(rows: list[tuple[Version, str, bool]]) -> str:
    """Aligned columns, newest last, as a person reads a log."""
    lines = [("VERSION", "APPLIED (UTC)", "BY", "DIGEST", "CHANGES")]
    lines.extend(
        (
            f"{version.number}{' *' if current else ''}",
            version.applied_at.strftime("%Y-%m-%d %H:%M:%S"),
            version.applied_by,
            version.digest[:12],
            changes,
        )
        for version, changes, current in rows
    )
    widths = [max(len(line[column]) for line in lines) for column in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True))
        + "  "
        + line[4]
        for line in lines
    )
