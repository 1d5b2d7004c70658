"""What ``rules status`` shows: the version in force, and the config records that were refused.

The state comes from reading the topic as a processor does (:func:`read_config`), so each version
record is judged the same way: a version shown as in force is the one processors use.
"""

from __future__ import annotations

from typing import Any

from processor.control.records import Refused, VersionRecord
from processor.control.state import ConfigState


def _version(record: VersionRecord) -> dict[str, Any]:
    return {
        "version": record.version,
        "digest": record.digest,
        "applied_at": record.applied_at,
        "parts": record.parts,
        "offset": record.offset,
    }


def _refused(refused: Refused) -> dict[str, Any]:
    return {
        "key": refused.key,
        "offset": refused.offset,
        "version": refused.version,
        "reason": refused.reason,
        "detail": refused.detail,
        "errors": [error.as_dict() for error in refused.errors[:20]],
    }


def status_json(state: ConfigState) -> dict[str, Any]:
    """The status as a JSON-ready mapping: ``in_force`` (or null) and ``refused``, oldest first."""
    return {
        "in_force": _version(state.in_force) if state.in_force else None,
        "refused": [_refused(refused) for refused in state.refused],
    }


def status_table(state: ConfigState, topic: str) -> str:
    """The status for people: the version in force, then a table of the refused records."""
    record = state.in_force
    if record is None:
        lines = [f"{topic}: no rules version in force"]
    else:
        lines = [
            f"{topic}: version {record.version} in force",
            f"  digest      {record.digest}",
            f"  applied at  {record.applied_at or '-'}",
            f"  parts       {record.parts}",
            f"  offset      {record.offset}",
        ]
    if not state.refused:
        lines.append("\nno record refused")
        return "\n".join(lines)
    rows = [("OFFSET", "KEY", "VERSION", "REASON", "DETAIL")]
    rows.extend((str(r.offset), r.key, r.version or "-", r.reason, r.detail) for r in state.refused)
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines.append(f"\n{len(state.refused)} refused:")
    lines.extend(
        "  " + "  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )
    return "\n".join(lines)
