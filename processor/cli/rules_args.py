"""What several ``rules`` actions declare alike: the output format, version numbers, and the
parser they join."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TypeAlias

from processor.control.records import version_number

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = ("text", "json")) -> None:
    """``--format``, the first choice the default: one for people, one for programs."""
    parser.add_argument(
        "--format",
        choices=choices,
        default=choices[0],
        help=f"{choices[0]} for people (default), {choices[-1]} for programs",
    )


def version_argument(text: str) -> str:
    """A version number as ``rules apply`` writes them, for argparse (exit 2 on anything else)."""
    number = version_number(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version number")
    return str(number)
