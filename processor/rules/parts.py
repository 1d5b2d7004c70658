"""The rules document split into the parts the config topic stores, and put back together.

The compacted config topic keeps one record per part: ``partner/<id>``, ``profile/<id>`` and
``fields``, so a change rewrites only the parts it touches and a tombstone deletes one. The
reassembled document goes through exactly the same validation as a file does; a part whose content
names another id than its key is an error at that part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.rules.document import RulesDocument
from processor.rules.errors import RuleError, RulesInvalid
from processor.rules.limits import DEFAULT_LIMITS, RulesLimits
from processor.rules.validate import validate_document

FIELDS_KEY = "fields"
PARTNER_PREFIX = "partner/"
PROFILE_PREFIX = "profile/"
META_PREFIX = "meta/"
"""Keys the config topic uses for its own bookkeeping (``meta/version``); not document parts."""


def document_to_parts(document: RulesDocument) -> dict[str, dict[str, Any]]:
    """Every part of ``document`` by key, as JSON-ready mappings, partners then profiles.

    A partner or assignment without caps is written without ``caps``, as parts were before caps
    existed: applying a document that uses none again finds its parts unchanged.
    """
    parts: dict[str, dict[str, Any]] = {
        FIELDS_KEY: {
            name: definition.model_dump(mode="json") for name, definition in document.fields.items()
        }
    }
    for partner in document.partners:
        parts[PARTNER_PREFIX + partner.id] = partner.model_dump(
            mode="json", exclude_none=True, exclude=None if partner.caps else {"caps"}
        )
    for profile in document.profiles:
        uncapped = {j: {"caps"} for j, item in enumerate(profile.assignments) if not item.caps}
        parts[PROFILE_PREFIX + profile.id] = profile.model_dump(
            mode="json", exclude_none=True, exclude={"assignments": uncapped}
        )
    return parts


def document_from_parts(
    parts: Mapping[str, Any], limits: RulesLimits = DEFAULT_LIMITS
) -> RulesDocument:
    """The document the parts make, in the order the mapping gives them.

    Raises :class:`RulesInvalid` with the same errors a file with this content would give (its
    limits included), plus
    an error for each key that is not a part's, each part that is not a mapping, and each part
    whose id contradicts its key.
    """
    errors: list[RuleError] = []
    raw: dict[str, Any] = {"partners": [], "profiles": []}
    for key, content in parts.items():
        if key.startswith(META_PREFIX):
            continue
        if not isinstance(content, Mapping):
            # Anyone who can write to the topic can write a part that is not a JSON object (the
            # follower keeps text that is not JSON as it is): an error at the part, not a crash.
            errors.append(RuleError(_where(key), "not a JSON object"))
            continue
        if key == FIELDS_KEY:
            raw["fields"] = dict(content)
            continue
        for prefix, section in ((PARTNER_PREFIX, "partners"), (PROFILE_PREFIX, "profiles")):
            if key.startswith(prefix):
                item = dict(content)
                part_id = key[len(prefix) :]
                if item.setdefault("id", part_id) != part_id:
                    where = f"{section}[{len(raw[section])}].id"
                    errors.append(RuleError(where, f"{item['id']!r} differs from its key {key!r}"))
                raw[section].append(item)
                break
        else:
            errors.append(
                RuleError(_where(key), "not a rules part: use fields, partner/<id>, profile/<id>")
            )
    try:
        document = validate_document(raw, limits)
    except RulesInvalid as invalid:
        raise RulesInvalid(errors + invalid.errors) from None
    if errors:
        raise RulesInvalid(errors)
    return document


def _where(key: str) -> str:
    """A part's key as the path of its errors; an empty key would make an empty path."""
    return key or '""'
