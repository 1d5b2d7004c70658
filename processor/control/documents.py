"""A rules version as a document: the version in force, or one from the history topic.

A version from the history is judged as a processor judges it: its parts must make a document
that validates within the limits set, so a record written there by hand is refused with its errors,
not shown, compared or explained as if it were rules. The commands (``rules get``, ``rules diff``,
``rules rollback``, ``audit show``) and the console's history pages read versions through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processor.control.state import read_config
from processor.control.versions import UnknownVersion, find_version
from processor.errors import InvalidInput
from processor.rules import RulesDocument, RulesInvalid, document_from_parts, document_to_parts
from processor.settings import Settings


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
