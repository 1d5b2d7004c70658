"""Where a rules document comes from: a file (or stdin), a version in the history, or the version
in force; each made into its parts, the form ``rules diff`` compares and ``rules get`` prints.

A version from the history is judged as a processor judges it: its parts must make a document
that validates within the limits set, so a record written there by hand is refused with its errors,
not printed or compared as if it were rules.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processor.cli.options import settings_from_args
from processor.control.records import version_number
from processor.control.state import read_config
from processor.control.topics import ensure_config_topics
from processor.control.versions import UnknownVersion, find_version
from processor.errors import InvalidInput
from processor.kafka.access import check_access
from processor.rules import (
    RulesDocument,
    RulesInvalid,
    RulesLimits,
    document_from_parts,
    document_to_parts,
    load_rules,
)
from processor.rules.load import decode, parse_text
from processor.rules.validate import validate_document
from processor.settings import Settings

LIVE = "@live"


def read_document(file: str, limits: RulesLimits) -> RulesDocument:
    """The valid document in ``file`` (``-`` reads stdin); raises :class:`RulesInvalid`, also
    when the document exceeds ``limits``."""
    if file == "-":
        try:
            text = decode(sys.stdin.buffer.read(limits.max_bytes + 1), limits)
        except UnicodeDecodeError:
            raise InvalidInput("cannot read the rules from stdin: not UTF-8 text") from None
        return validate_document(parse_text(text, limits), limits)
    return load_rules(Path(file), limits)


def connected(args: argparse.Namespace) -> Settings:
    """The command's settings, once the broker has let us in and the config topics exist."""
    settings = settings_from_args(args)
    check_access(settings.kafka)
    ensure_config_topics(settings)
    return settings


@dataclass(frozen=True)
class Rules:
    """A document as parts, and what it is, in words: ``version 3`` or a file's name."""

    name: str
    document: RulesDocument
    parts: dict[str, Any]
    version: int | None = None
    """Its version number, when it is one."""
    digest: str | None = None
    applied_at: str | None = None


def in_force(settings: Settings) -> Rules:
    """The version in force; :class:`UnknownVersion` when there is none."""
    state = read_config(settings)
    if state.in_force is None or state.document is None:
        raise UnknownVersion(f"no rules version is in force on {settings.topics.config_topic}")
    record = state.in_force
    return Rules(
        f"version {record.version}",
        state.document,
        document_to_parts(state.document),
        record.number,
        record.digest,
        record.applied_at,
    )


def from_history(settings: Settings, number: int) -> Rules:
    """Version ``number`` from the history, once its parts make a valid document."""
    version, parts = find_version(settings, number)
    try:
        document = document_from_parts(parts, settings.rules.rules_limits())
    except RulesInvalid as invalid:
        first = invalid.errors[0] if invalid.errors else "no detail"
        raise InvalidInput(
            f"version {number} in {settings.topics.config_history_topic} does not validate "
            f"({len(invalid.errors)} errors; the first: {first})"
        ) from None
    applied_at = version.applied_at.isoformat(timespec="milliseconds")
    name = f"version {number}"
    return Rules(name, document, document_to_parts(document), number, version.digest, applied_at)


def from_source(source: str, args: argparse.Namespace) -> Rules:
    """The rules ``source`` names: ``@live``, ``@N`` or a file (``-`` for stdin). The broker is
    only asked when a version is named."""
    if not source.startswith("@"):
        try:
            document = read_document(source, settings_from_args(args).rules.rules_limits())
        except RulesInvalid as invalid:
            errors = "; ".join(str(error) for error in invalid.errors[:3])
            raise InvalidInput(
                f"{source}: invalid, {len(invalid.errors)} error(s): {errors}"
            ) from None
        return Rules(source, document, document_to_parts(document))
    if source == LIVE:
        return in_force(connected(args))
    number = version_number(source[1:])
    if number is None:
        raise InvalidInput(f"{source!r}: name a version as @N (a number) or @live, or give a file")
    return from_history(connected(args), number)
