"""``lead-router rules validate|lint|apply|status``: check a rules document, publish it, watch it.

``history``, ``get``, ``diff`` and ``rollback`` live in the ``rules_*`` modules beside this one.

Each action registers itself on the ``rules`` parser through :data:`ACTIONS`, so more actions
(publishing a document) join the same command.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict

from processor.cli.options import add_settings_flags, settings_from_args
from processor.cli.replay import add_what_if_flags, what_if
from processor.cli.rules_args import Subparsers, add_format, version_argument
from processor.cli.rules_diff import register_diff
from processor.cli.rules_get import register_get
from processor.cli.rules_history import register_history
from processor.cli.rules_rollback import register_rollback
from processor.cli.rules_sources import connected, read_document
from processor.control.publisher import publish_rules
from processor.control.state import read_config
from processor.control.status import status_json, status_table
from processor.rules import Finding, RulesDocument, RulesInvalid, lint

EPILOG = """\
examples:
  lead-router rules validate rules.yaml
  lead-router rules validate --format json rules.json
  lead-router rules lint rules.yaml
  lead-router rules lint --strict rules.yaml     # exit 1 when there are warnings
  cat rules.yaml | lead-router rules validate -
  lead-router rules apply rules.yaml --expect-version 7   # only if version 7 is in force
  lead-router rules status                        # the version in force, what was refused
  lead-router rules history                       # every version: when, who, what changed
  lead-router rules get > rules.yaml              # the rules in force, to edit and apply
  lead-router rules diff @live rules.yaml         # what applying rules.yaml would change
  lead-router rules rollback 3                    # version 3's rules again, as a new version

The document format is described in docs/rules.md.
"""


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="check a routing rules document (validate, lint), publish it (apply), see the "
        "version in force (status) and every version (history, get, diff), and go back (rollback)",
        description="Check a routing rules document (YAML or JSON) before it goes live.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="rules_action", metavar="ACTION", required=True)
    for register_action in ACTIONS:
        register_action(actions)


def _add_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", help="the rules document, YAML or JSON; - for stdin"
    )
    add_format(parser)


def _register_validate(actions: Subparsers) -> None:
    parser = actions.add_parser(
        "validate",
        help="check a document; list every error with its path",
        description="Checks a rules document and lists every error with where it is, for example "
        "profiles[0].assignments[2].filter[1][0].op: unknown operator 'sounds_like'. "
        "Exits 0 when the document is valid, 1 when it is not.",
        epilog="examples:\n  lead-router rules validate rules.yaml\n"
        "  lead-router rules validate --format json rules.json | jq '.errors[].path'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_file(parser)
    add_settings_flags(parser, ("rules",))
    parser.set_defaults(handler=_validate)


def _register_lint(actions: Subparsers) -> None:
    parser = actions.add_parser(
        "lint",
        help="warn about valid rules that probably do not do what was meant",
        description="Validates a rules document, then warns about rules that are valid but "
        "probably wrong: assignments that are never chosen (shadowed under first_match, inactive "
        "partner, contradictory conditions), categories and profiles whose leads can end "
        "unroutable, unused partners, negative prices, conditions on a bare name that is most "
        "likely a lead field (email for contact.email). Exits 0 unless the document is invalid "
        "(1), or --strict is given and there are warnings (1). The warnings are listed in "
        "docs/rules.md.",
        epilog="examples:\n  lead-router rules lint rules.yaml\n"
        "  lead-router rules lint --strict rules.yaml   # for CI: exit 1 on any warning",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_file(parser)
    parser.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    add_settings_flags(parser, ("rules",))
    parser.set_defaults(handler=_lint)


def _register_apply(actions: Subparsers) -> None:
    parser = actions.add_parser(
        "apply",
        help="validate a document, then publish its changes to the config topic atomically",
        description="Validates a rules document and, when it is valid, writes the parts that "
        "changed (and tombstones for parts removed) plus a closing meta/version record to the "
        "compacted config topic, in one Kafka transaction. Running processors switch to the new "
        "version at that record. Nothing is written when the document equals the version in "
        "force. Exits 1 (writing nothing) when the document is invalid or a part is too large "
        "for the broker, 7 when --expect-version is not the version in force or another apply "
        "took over meanwhile, 4 when Kafka failed (the transaction is aborted). With --what-if, "
        "the leads of that span are first replayed with the document (see lead-router replay) and "
        "the report shown; the document is published when you confirm, or with --yes (exit 8 "
        "when not confirmed).",
        epilog="examples:\n  lead-router rules apply rules.yaml --bootstrap-servers kafka:9092\n"
        "  lead-router rules apply rules.yaml --expect-version 7\n"
        "  lead-router rules apply rules.yaml --what-if 24h   # replay the last day, then ask\n"
        "  LEAD_ROUTER_BOOTSTRAP_SERVERS=kafka:9092 lead-router rules apply rules.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_file(parser)
    parser.add_argument(
        "--expect-version",
        metavar="N",
        type=version_argument,
        help="compare-and-set: publish only when version N is the one in force (0: none yet); "
        "otherwise write nothing and exit 7",
    )
    add_what_if_flags(parser)
    add_settings_flags(parser, ("kafka", "registry", "topics", "rules", "geo"))
    parser.set_defaults(handler=_apply)


def _register_status(actions: Subparsers) -> None:
    parser = actions.add_parser(
        "status",
        help="show the rules version in force and the config records that were refused",
        description="Reads the config topic as a processor does and judges each version record "
        "the same way: shows the version in force (number, digest, when it was applied, parts) "
        "and every record refused (the last 1000) with why: versions whose parts do not match "
        "their digest or do not validate, and records that are not the topic's. Exits 0.",
        epilog="examples:\n  lead-router rules status --bootstrap-servers kafka:9092\n"
        "  lead-router rules status --format json | jq .in_force.version",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_format(parser)
    add_settings_flags(parser, ("kafka", "topics", "rules"))
    parser.set_defaults(handler=_status)


ACTIONS: tuple[Callable[[Subparsers], None], ...] = (
    _register_validate,
    _register_lint,
    _register_apply,
    _register_status,
    register_history,
    register_get,
    register_diff,
    register_rollback,
)


def _summary(document: RulesDocument) -> dict[str, int]:
    return {
        "partners": len(document.partners),
        "profiles": len(document.profiles),
        "assignments": sum(len(profile.assignments) for profile in document.profiles),
    }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _check(args: argparse.Namespace) -> RulesDocument | None:
    """The document, within the limits the settings give, or None after printing why it is
    invalid."""
    file, output = args.file, args.format
    try:
        return read_document(file, settings_from_args(args).rules.rules_limits())
    except RulesInvalid as invalid:
        if output == "json":
            errors = [error.as_dict() for error in invalid.errors]
            print(json.dumps({"file": file, "valid": False, "errors": errors}, indent=2))
        else:
            print(f"{file}: invalid, {_plural(len(invalid.errors), 'error')}:")
            for error in invalid.errors:
                print(f"  {error}")
        return None


def _validate(args: argparse.Namespace) -> int:
    document = _check(args)
    if document is None:
        return 1
    summary = _summary(document)
    if args.format == "json":
        print(json.dumps({"file": args.file, "valid": True, "errors": [], **summary}, indent=2))
    else:
        counts = ", ".join(_plural(count, noun[:-1]) for noun, count in summary.items())
        print(f"{args.file}: valid ({counts})")
    return 0


def _lint(args: argparse.Namespace) -> int:
    document = _check(args)
    if document is None:
        return 1
    findings = lint(document)
    if args.format == "json":
        warnings = [finding.as_dict() for finding in findings]
        print(json.dumps({"file": args.file, "valid": True, "warnings": warnings}, indent=2))
    elif findings:
        print(table(findings))
        print(f"\n{args.file}: {_plural(len(findings), 'warning')}")
    else:
        print(f"{args.file}: no warnings")
    return 1 if findings and args.strict else 0


def _apply(args: argparse.Namespace) -> int:
    document = _check(args)
    if document is None:
        return 1
    settings = connected(args)
    if args.what_if is not None:
        what_if(args, settings, document)
    result = publish_rules(settings, document, expect_version=args.expect_version)
    if args.format == "json":
        print(json.dumps({"file": args.file, **asdict(result), "unchanged": result.unchanged}))
    elif result.unchanged:
        print(f"{args.file}: no changes; version {result.version} stays in force")
    else:
        print(
            f"{args.file}: published as version {result.version} to {settings.topics.config_topic} "
            f"({_plural(len(result.changed), 'part')} written, "
            f"{len(result.deleted)} deleted)"
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = connected(args)
    state = read_config(settings)
    if args.format == "json":
        print(json.dumps(status_json(state), indent=2))
    else:
        print(status_table(state, settings.topics.config_topic))
    return 0


def table(findings: Sequence[Finding]) -> str:
    """Findings as aligned columns: where, what kind, and what it means."""
    rows = [("WHERE", "WARNING", "MEANING")]
    rows.extend((finding.path, finding.code, finding.message) for finding in findings)
    widths = [max(len(row[column]) for row in rows) for column in (0, 1)]
    return "\n".join(
        f"{path:<{widths[0]}}  {code:<{widths[1]}}  {message}" for path, code, message in rows
    )
