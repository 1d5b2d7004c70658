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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from processor.cli.options import add_settings_flags, settings_from_args
from processor.cli.rules_sources import read_document
from processor.errors import InvalidInput
from processor.geo.enrich import Enricher
from processor.geo.fetch import ip_database
from processor.routing import SURROGATE, Router, fresh_ledger, is_unicode
from processor.rules import Decision, Ledger, Snapshot, compile_rules
from processor.rules.trace import DEFAULT_MAX_FAILURES
from processor.wire import InvalidLead

VERSION = "dry-run"
"""The rules version decisions name: the document was never published."""

MAX_LINE_BYTES = 1_048_576
"""The longest line read as a lead: larger than any lead the broker takes (1 MB by default)."""

EPILOG = f"""\
Each input line is one lead as a JSON object (contract section 3); blank lines are skipped. Each
output line is one decision as a JSON object: lead_id, profile, outcome, tier, deliveries, geo,
trace, error. A lead is checked as the processor checks a decoded one: a lead it would reject (a
blank site_id, a submitted_at that is not an ISO-8601 timestamp, a field of the wrong type) comes
out with outcome "rejected" and the processor's reason in error. A line that is not UTF-8, not
JSON, longer than {MAX_LINE_BYTES} bytes, or a lead without a lead_id is reported on stderr with
its line number; the other leads are still routed, and the exit code is then 1.

Geolocation comes from the visitor's coordinates, else the IP address (with --geo-ip-db, or the
LEAD_ROUTER_GEO_IP_DB variable, else the database `lead-router geo fetch` installed in the cache,
which stderr then names), else the postcode; the trace says which and why.

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
        "(default: $LEAD_ROUTER_GEO_IP_DB, else the one `lead-router geo fetch` installed; "
        "without one, IP addresses are not looked up)",
    )
    parser.add_argument(
        "--postcodes",
        type=Path,
        default=None,
        metavar="PATH",
        help="GeoNames postal codes file for countries other than the US",
    )
    add_trace_limit(parser)
    add_settings_flags(parser, ("rules",))
    parser.set_defaults(handler=_run)


def add_trace_limit(parser: argparse.ArgumentParser) -> None:
    """``--trace-limit N``: how many non-matching assignments a trace explains per tier."""
    parser.add_argument(
        "--trace-limit",
        type=_limit,
        default=DEFAULT_MAX_FAILURES,
        metavar="N",
        help=f"non-matching assignments explained per tier (default {DEFAULT_MAX_FAILURES}; "
        "all for every one; 0 for matches only)",
    )


def _limit(text: str) -> int | None:
    if text == "all":
        return None
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a number or all, got {text!r}")


def _leads(stream: BinaryIO, name: str) -> Iterator[tuple[str, object]]:
    """Each non-blank line's place (``file:number``) with its JSON value, or with why it has none.

    Lines are read as bytes and decoded one by one, so that a line that is not UTF-8, too long
    or too deeply nested to parse is reported while the lines around it are still routed.
    """
    number = 0
    while line := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        where = f"{name}:{number}"
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield where, _Bad(f"longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            yield where, _Bad(f"not UTF-8 text (byte {error.start + 1})")
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as error:
            yield where, _Bad(f"not valid JSON: {error}")
        except RecursionError:
            yield where, _Bad("not valid JSON: nested too deeply")
        else:
            yield where, value if is_unicode(value) else _Bad(SURROGATE)


@dataclass(frozen=True, slots=True)
class _Bad:
    """Why a line holds no JSON value."""

    why: str


def _decide(router: Router, snapshot: Snapshot, lead: object, ledger: Ledger) -> Decision | _Bad:
    """The lead's decision, or why it has none: without a lead id, the processor dead-letters a
    lead with no decision to audit it under."""
    try:
        return router.route_json(snapshot, lead, ledger)
    except InvalidLead as error:
        return _Bad(str(error))


def _open(leads: str) -> BinaryIO:
    if leads == "-":
        return sys.stdin.buffer
    try:
        return open(leads, "rb")
    except OSError as error:
        raise InvalidInput(f"cannot read leads file {leads}: {error.strerror}") from None


def _run(args: argparse.Namespace) -> int:
    rules = settings_from_args(args).rules
    limits = rules.rules_limits()
    snapshot = compile_rules(read_document(args.rules, limits), VERSION)
    ip_db = ip_database(args.geo_ip_db)
    if ip_db != args.geo_ip_db:
        print(f"lead-router: IP database: {ip_db}, from `lead-router geo fetch`", file=sys.stderr)
    enricher = Enricher(ip_db=ip_db, postcodes=args.postcodes)
    router = Router(enricher)
    ledger = fresh_ledger(rules.lead_id_memory_days)
    name = "<stdin>" if args.leads == "-" else args.leads
    bad = 0
    stream = _open(args.leads)
    write = sys.stdout.write
    try:
        for where, lead in _leads(stream, name):
            decided = lead if isinstance(lead, _Bad) else _decide(router, snapshot, lead, ledger)
            if isinstance(decided, _Bad):
                bad += 1
                print(f"lead-router: {where}: {decided.why}", file=sys.stderr)
            else:
                write(json.dumps(decided.as_dict(args.trace_limit), ensure_ascii=False) + "\n")
    finally:
        enricher.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    if bad:
        print(f"lead-router: {bad} line{'s' if bad != 1 else ''} skipped", file=sys.stderr)
    return 1 if bad else 0
