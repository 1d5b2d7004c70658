"""The ``lead-router`` command: parses, calls, prints; the work lives in the modules it calls.

Each sub-command lives in a module of this package with a ``register(subparsers)`` function that
adds its parser and sets ``handler``: a function of the parsed arguments returning an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from processor import __version__
from processor.cli import (
    audit,
    console,
    deliver,
    demo,
    dryrun,
    geo,
    kafka,
    receipts,
    redrive,
    replay,
    returns,
    rules,
    run,
    state,
)
from processor.errors import InvalidInput, UserError
from processor.rules import LeadWithoutId

COMMANDS = (
    demo,
    run,
    rules,
    dryrun,
    replay,
    redrive,
    deliver,
    receipts,
    returns,
    audit,
    state,
    geo,
    kafka,
    console,
)

EXIT_CODES = """\
exit codes:
  0  success
  1  invalid input (a rules document, a lead file), or a check that failed; return: refused
  2  bad command-line usage
  3  a required tool (Java, Maven) is missing
  4  a service (the Kafka broker) did not answer, failed to start, or refused the credentials
  5  the processor stopped on an error it cannot recover from
  6  the processor's loop stalled for STALL_TIMEOUT_S: restart it (it resumes exactly once)
  7  rules apply: the version in force is not --expect-version, or another apply took over;
     redrive: another redrive to the same input topic took over
  8  rules apply --what-if: not confirmed (no --yes, and no terminal to ask): nothing written
  9  return: no answer within --wait (the return stays on the returns topic, and is answered
     when the processor runs)

rules diff exits as diff(1): 0 the two are the same, 1 they differ, 2 a side cannot be read.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lead-router",
        description="Routes sales leads on Kafka: decode, enrich, route, render, emit.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lead-router {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (UserError, LeadWithoutId) as error:
        print(f"lead-router: {error}", file=sys.stderr)
        # The rules engine knows no exit codes: a lead it cannot decide is invalid input.
        return error.exit_code if isinstance(error, UserError) else InvalidInput.exit_code
    except KeyboardInterrupt:
        return 130
    return code
