"""Where a rules document comes from: a file (or stdin), a version in the history, or the version
in force; each made into its parts, the form ``rules diff`` compares and ``rules get`` prints.

Versions are read by :mod:`processor.control.documents`; this names them as the commands do
(``@live``, ``@N``, a file) and reads files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from processor.cli.options import settings_from_args
from processor.control.documents import Rules, from_history, in_force
from processor.control.records import version_number
from processor.control.topics import ensure_config_topics
from processor.errors import InvalidInput
from processor.kafka.access import check_access
from processor.rules import (
    RulesDocument,
    RulesInvalid,
    RulesLimits,
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
