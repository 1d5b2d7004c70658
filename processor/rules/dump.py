"""A rules document written back as YAML or JSON text, as ``rules get`` prints it.

The text is made from the document's parts (:func:`processor.rules.parts.document_to_parts`): the
same values, defaults filled in, that ``rules apply`` digests, so applying the text again finds
nothing to change. YAML is read here with the YAML 1.2 core rules (:mod:`processor.rules.load`)
but PyYAML writes for YAML 1.1: a string such as ``1e5`` that YAML 1.1 takes for text but the
reader takes for a number would come back a number. The writer is told the reader's rules, so it
quotes every string the reader would not read back as a string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from processor.rules.load import BOOL, FLOAT, INT
from processor.rules.parts import FIELDS_KEY, PARTNER_PREFIX, PROFILE_PREFIX

TextFormat = Literal["yaml", "json"]

_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _CoreDumper(_SafeDumper):  # type: ignore[valid-type,misc]
    """PyYAML's safe writer, quoting what the YAML 1.2 core reader would read as a non-string."""


_CoreDumper.add_implicit_resolver("tag:yaml.org,2002:bool", BOOL, list("tTfF"))
_CoreDumper.add_implicit_resolver("tag:yaml.org,2002:int", INT, list("-+0123456789"))
_CoreDumper.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT, list("-+.0123456789"))


def document_data(parts: Mapping[str, Any]) -> dict[str, Any]:
    """The parts as a rules file holds them: ``fields`` (when any), ``partners``, ``profiles``."""
    data: dict[str, Any] = {}
    if parts.get(FIELDS_KEY):
        data["fields"] = parts[FIELDS_KEY]
    data["partners"] = [value for key, value in parts.items() if key.startswith(PARTNER_PREFIX)]
    data["profiles"] = [value for key, value in parts.items() if key.startswith(PROFILE_PREFIX)]
    return data


def document_text(parts: Mapping[str, Any], form: TextFormat, comment: str = "") -> str:
    """The document the parts make as YAML (with ``comment`` above it) or JSON text."""
    data = document_data(parts)
    if form == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    text = yaml.dump(
        data, Dumper=_CoreDumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    heading = "".join(f"# {line}\n" for line in comment.splitlines())
    return heading + text
