"""``lead-router dry-run``: routes JSON-lines leads offline and prints each decision with its trace.

It runs the engine exactly as the processor does (one enrichment, one rules snapshot, one rotation
state starting fresh, leads in order), without Kafka, so a rules change can be tried on real leads
before it is applied.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from processor.cli.options import RULES_LIMITS, add_settings_flags, settings_from_args
from processor.cli.rules import read_document
from processor.errors import InvalidInput
from processor.geo.enrich import Enricher
from processor.rules import RotationState, compile_rules, decide
from processor.rules.trace import DEFAULT_MAX_FAILURES

VERSION = "dry-run"
"""The rules version decisions name: the document was never published."""

EPILOG = f"""\
Each input line is one lead as a JSON object (contract section 3); blank lines are skipped. Each
output line is one decision as a JSON object: lead_id, profile, outcome, tier, deliveries, geo,
trace. A line that is not a JSON object with a lead_id is reported on stderr with its line number;
the other leads are still routed, and the exit code is then 1.

Geolocation comes from the visitor's coordinates, else the IP address (with --geo-ip-db, or the
LEAD_ROUTER_GEO_IP_DB variable), else the postcode; the trace says which and why.

The trace explains every matching assignment and, per tier, the first {DEFAULT_MAX_FAILURES} that
did not match (--trace-limit changes that number; "all" explains every one).

examples:
  lead-router dry-run --rules rules.yaml leads.jsonl
  cat leads.jsonl | lead-router dry-run --rules rules.yaml
  lead-router dry-run --rules rules.yaml --geo-ip-db ~/.cache/lead-router/geo leads.jsonl
  lead-router dry-run --rules rules.yaml leads.jsonl | jq -c '{{lead_id, outcome, deliveries}}'
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dry-run",
        help="route JSON-lines leads offline against a rules file; print each decision",
        description="Routes leads offline against a rules document and prints one decision per "
        "lead, with the trace that explains it. Nothing is published.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rules", required=True, metavar="FILE", help="the rules document, YAML or JSON"
    )
    parser.add_argument(
        "leads",
        nargs="?",
        default="-",
        metavar="LEADS",
        help="a JSON-lines file of leads (default: stdin)",
    )
    parser.add_argument(
        "--geo-ip-db",
        type=Path,
        default=os.environ.get("LEAD_ROUTER_GEO_IP_DB") or None,
        metavar="PATH",
        help="IP geolocation database: a .mmdb file or a directory of them "
        "(default: $LEAD_ROUTER_GEO_IP_DB; without one, IP addresses are not looked up)",
    )
    parser.add_argument(
        "--postcodes",
        type=Path,
        default=None,
        metavar="PATH",
        help="GeoNames postal codes file for countries other than the US",
    )
    parser.add_argument(
        "--trace-limit",
        type=_limit,
        default=DEFAULT_MAX_FAILURES,
        metavar="N",
        help=f"non-matching assignments explained per tier (default {DEFAULT_MAX_FAILURES}; "
        "all for every one; 0 for matches only)",
    )
    add_settings_flags(parser, only=RULES_LIMITS)
    parser.set_defaults(handler=_run)


def _limit(text: str) -> int | None:
    if text == "all":
        return None
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a number or all, got {text!r}")


def _leads(stream: TextIO, name: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Each non-blank line's number with its lead, or with why it is not one."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            lead = json.loads(line)
        except ValueError as error:
            yield number, f"{name}:{number}: not valid JSON: {error}"
            continue
        if not isinstance(lead, dict):
            yield number, f"{name}:{number}: a lead is a JSON object"
        elif not isinstance(lead.get("lead_id"), str) or not lead["lead_id"]:
            yield number, f"{name}:{number}: the lead has no lead_id (a non-empty string)"
        else:
            yield number, lead


def _open(leads: str) -> TextIO:
    if leads == "-":
        return sys.stdin
    try:
        return open(leads, encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"cannot read leads file {leads}: {error.strerror}") from None


def _run(args: argparse.Namespace) -> int:
    limits = settings_from_args(args).rules_limits()
    snapshot = compile_rules(read_document(args.rules, limits), VERSION)
    enricher = Enricher(ip_db=args.geo_ip_db, postcodes=args.postcodes)
    rotation = RotationState()
    name = "<stdin>" if args.leads == "-" else args.leads
    bad = 0
    stream = _open(args.leads)
    write = sys.stdout.write
    try:
        for _, lead in _leads(stream, name):
            if isinstance(lead, str):
                bad += 1
                print(f"lead-router: {lead}", file=sys.stderr)
                continue
            located = enricher.locate(lead)
            decision = decide(snapshot, lead, located.geo, rotation, notes=located.notes)
            write(json.dumps(decision.as_dict(args.trace_limit), ensure_ascii=False) + "\n")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text") from None
    finally:
        enricher.close()
        if stream is not sys.stdin:
            stream.close()
    if bad:
        print(f"lead-router: {bad} line{'s' if bad != 1 else ''} skipped", file=sys.stderr)
    return 1 if bad else 0
