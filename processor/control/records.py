"""One record of the config topic, read as hostile input: checked, bounded, and classified.

Anyone with write access to the config topic (another tool, a mistyped command, an attacker) can
put any bytes under any key there. Reading such a record must never raise: a value is bounded in
size before it is parsed and in nesting depth after (the JSON parser recurses, and 100,000 ``[``
would end the process with a RecursionError), its text must be valid UTF-8 without lone surrogate
escapes, numbers must be finite, and its key must be one the config topic uses. Whatever fails is a
:class:`Refused` with a reason from :data:`REASONS`, and a detail that never quotes the content.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from processor.rules.errors import RuleError
from processor.rules.load import refuse_constant
from processor.rules.parts import FIELDS_KEY, PARTNER_PREFIX, PROFILE_PREFIX

VERSION_KEY = "meta/version"

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects a config value may have. A rules part nests about ten
levels deep (profile, assignments, filter, OR-set, condition, value)."""

REASONS = (
    "too-large",
    "not-json",
    "too-deep",
    "not-object",
    "foreign-key",
    "not-a-version",
    "too-many-parts",
    "mismatch",
    "invalid",
)
"""Why a record was refused: the first six judge one record alone, ``too-many-parts`` the parts
held with it (more, or more bytes, than two documents the rules limits accept); ``mismatch`` (the
parts do not match the version record's digest and count) and ``invalid`` (the document they
make does not validate) judge a version record against the parts before it."""

_DIGEST_LENGTH = 64


def canonical(value: Any) -> bytes:
    """The canonical encoding of a JSON value: what a digest is taken of, and what is written."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def digest_of(parts: Mapping[str, Any]) -> str:
    """The digest a version record names: sha256 of the canonical encoding of its parts by key."""
    return hashlib.sha256(canonical(dict(parts))).hexdigest()


@dataclass(frozen=True)
class Part:
    """A rules part's new content (None: a tombstone deleting it)."""

    key: str
    content: dict[str, Any] | None


@dataclass(frozen=True)
class VersionRecord:
    """A ``meta/version`` record as ``rules apply`` writes it, and where it was read."""

    version: str
    digest: str
    parts: int
    applied_at: str
    offset: int = -1
    timestamp_ms: int = 0

    @property
    def number(self) -> int | None:
        return version_number(self.version)


_VERSION_NUMBER = re.compile(r"[0-9]{1,18}")
"""A version as ``rules apply`` numbers them: ASCII digits (``isdigit`` also takes ``²``, which
``int`` refuses), few enough for a 64-bit integer."""


def version_number(text: str) -> int | None:
    """The number of a version named ``text``; None when it is not one ``rules apply`` writes."""
    return int(text) if _VERSION_NUMBER.fullmatch(text) else None


@dataclass(frozen=True)
class Refused:
    """A record that was not taken: where it was, why, and the version it named (if any)."""

    key: str
    offset: int
    reason: str
    detail: str
    version: str | None = None
    errors: tuple[RuleError, ...] = ()

    def __str__(self) -> str:
        named = f" (version {self.version})" if self.version is not None else ""
        return f"{self.key} at offset {self.offset}{named}: {self.reason}: {self.detail}"


def shown_key(key: bytes | None) -> str:
    """A key as it may appear in logs and tables: printable ASCII, at most 80 characters."""
    text = ascii((key or b"").decode("utf-8", "replace"))[1:-1]
    return text if len(text) <= 80 else text[:77] + "..."


def read_record(
    key: bytes | None, value: bytes | None, offset: int, max_bytes: int, timestamp_ms: int = 0
) -> Part | VersionRecord | Refused:
    """What one config record is; never raises, whatever the bytes."""
    name = _our_key(key)
    if name is None:
        return Refused(shown_key(key), offset, "foreign-key", "not a key the config topic uses")
    if value is None:
        if name == VERSION_KEY:
            return Refused(name, offset, "not-a-version", "a tombstone; versions are never deleted")
        return Part(name, None)
    content = parse_json(value, max_bytes)
    if isinstance(content, Refused):
        return Refused(name, offset, content.reason, content.detail)
    if not isinstance(content, dict):
        return Refused(name, offset, "not-object", f"a JSON {_json_type(content)}, not an object")
    if name != VERSION_KEY:
        return Part(name, content)
    return _version(content, offset, timestamp_ms)


def parse_json(value: bytes, max_bytes: int) -> Any:
    """The JSON value in ``value``, or a :class:`Refused` (key and offset left blank) saying why."""
    if len(value) > max_bytes:
        return Refused("", -1, "too-large", f"{len(value):,} bytes, over the {max_bytes:,} limit")
    try:
        content = json.loads(value.decode("utf-8"), parse_constant=refuse_constant)
    except RecursionError:
        return Refused("", -1, "too-deep", f"nested deeper than {MAX_DEPTH} levels")
    except UnicodeDecodeError as error:
        return Refused("", -1, "not-json", f"not UTF-8 (byte {error.start})")
    except ValueError as error:
        # The message says where (line, column), never what: nothing of the content is quoted.
        return Refused("", -1, "not-json", _where(error))
    problem = _check_tree(content)
    if problem is not None:
        return problem
    return content


def _our_key(key: bytes | None) -> str | None:
    """The key as text when it is one the config topic uses, else None."""
    try:
        name = (key or b"").decode("utf-8")
    except UnicodeDecodeError:
        return None
    if name in (FIELDS_KEY, VERSION_KEY):
        return name
    for prefix in (PARTNER_PREFIX, PROFILE_PREFIX):
        # The id itself is the validator's to judge; a printable one of sane length is ours.
        part_id = name.removeprefix(prefix)
        if part_id != name and 0 < len(part_id) <= 200 and part_id.isprintable():
            return name
    return None


def _where(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON at line {error.lineno} column {error.colno}"
    return "not JSON: a number out of range"


def _check_tree(content: Any) -> Refused | None:
    """Walks the parsed value without recursion: depth within bounds, numbers finite, text
    encodable as UTF-8."""
    stack: list[tuple[Any, int]] = [(content, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: list[Any] = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        elif isinstance(node, float):
            if not math.isfinite(node):  # 1e999: no JSON writer takes it back
                return Refused("", -1, "not-json", "a number out of range")
            continue
        elif isinstance(node, str):
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    return Refused("", -1, "not-json", "a string with a lone surrogate escape")
            continue
        else:
            continue
        if depth > MAX_DEPTH:
            return Refused("", -1, "too-deep", f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return None


def _version(content: dict[str, Any], offset: int, timestamp_ms: int) -> VersionRecord | Refused:
    version, digest, parts = content.get("version"), content.get("digest"), content.get("parts")
    applied_at = content.get("applied_at", "")
    printable = isinstance(version, str) and len(version) <= 40 and version.isprintable()
    named = version if printable else None
    problems = []
    if named is None or not version:
        problems.append("no version string")
    if not (
        isinstance(digest, str)
        and len(digest) == _DIGEST_LENGTH
        and all(c in "0123456789abcdef" for c in digest)
    ):
        problems.append("no sha256 digest")
    if not isinstance(parts, int) or isinstance(parts, bool) or parts < 0:
        problems.append("no part count")
    if not isinstance(applied_at, str) or len(applied_at) > 40 or not applied_at.isprintable():
        problems.append("applied_at is not a time")
    if problems:
        return Refused(VERSION_KEY, offset, "not-a-version", ", ".join(problems), named)
    assert isinstance(version, str) and isinstance(digest, str) and isinstance(parts, int)
    assert isinstance(applied_at, str)
    return VersionRecord(version, digest, parts, applied_at, offset, timestamp_ms)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
