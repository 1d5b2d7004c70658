"""Reads a rules document from YAML or JSON text or a file.

YAML is read with the YAML 1.2 core rules for plain scalars rather than PyYAML's YAML 1.1 ones,
because routing rules are full of values that YAML 1.1 mangles: ``NO`` (Norway) and ``ON``
(Ontario) would become booleans, the postcode ``01234`` an octal number, ``2024-05-01`` a date.
Here only ``true``/``false`` are booleans, numbers are written as in JSON (so ``01234`` stays
text), and everything else is text. A key given twice in one mapping is an error rather than a
silent overwrite. JSON is YAML, so one reader serves both.

Every read is held to :class:`RulesLimits` (see :mod:`processor.rules.limits`): a file is read only
up to its byte limit, and YAML aliases are measured on the node graph before any value is built.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from processor.errors import InvalidInput
from processor.rules.document import RulesDocument
from processor.rules.errors import RuleError, RulesInvalid
from processor.rules.limits import DEFAULT_LIMITS, RulesLimits, byte_problem, expansion_problem
from processor.rules.validate import validate_document

BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
FLOAT = re.compile(r"^[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")
_REPLACED = {f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float", "timestamp")}


_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it: an order of magnitude faster on large documents."""


class _CoreLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """PyYAML's safe loader with YAML 1.2 core scalars and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # a list or mapping as a key: PyYAML's own reader refuses it next
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_CoreLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CoreLoader.add_implicit_resolver("tag:yaml.org,2002:bool", BOOL, list("tTfF"))
_CoreLoader.add_implicit_resolver("tag:yaml.org,2002:int", INT, list("-+0123456789"))
_CoreLoader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT, list("-+.0123456789"))


def _int(loader: _CoreLoader, node: yaml.ScalarNode) -> int:
    return int(loader.construct_scalar(node))


def _float(loader: _CoreLoader, node: yaml.ScalarNode) -> float:
    return float(loader.construct_scalar(node))


_CoreLoader.add_constructor("tag:yaml.org,2002:int", _int)
_CoreLoader.add_constructor("tag:yaml.org,2002:float", _float)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise ValueError("duplicate key")
    return mapping


def refuse_constant(name: str) -> None:
    """For ``json.loads``: NaN and Infinity are not JSON, though Python writes them."""
    raise ValueError(f"{name} is not a JSON number")


def parse_text(text: str, limits: RulesLimits = DEFAULT_LIMITS) -> object:
    """The data in YAML or JSON ``text``; a syntax error or overrun becomes :class:`RulesInvalid`.

    Text that looks like a JSON object is read as JSON first, which is a hundred times faster than
    a YAML reader on documents of megabytes; when it is not plain JSON (a YAML flow mapping, a
    duplicate key, a syntax error, nesting deeper than Python recurses) the YAML reader reads it,
    or says where it goes wrong.
    """
    too_large = byte_problem(len(text), limits)  # characters: a file's bytes were counted already
    if too_large is not None:
        raise RulesInvalid([too_large])
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=refuse_constant)
        except (ValueError, RecursionError):
            pass
    loader = _CoreLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        written, expanded = _expansion(node)
        problem = expansion_problem(written, expanded, limits)
        if problem is not None:
            raise RulesInvalid([problem])
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise RulesInvalid([RuleError("<document>", _syntax_message(text, error))]) from None
    finally:
        loader.dispose()


def _syntax_message(text: str, error: yaml.YAMLError) -> str:
    """What is wrong, and where; indentation with tabs is named, as PyYAML's words do not."""
    mark = getattr(error, "problem_mark", None)
    if mark is not None:
        for number, line in enumerate(text.splitlines()[: mark.line + 1], start=1):
            if "\t" in line[: len(line) - len(line.lstrip(" \t"))]:
                return (
                    f"not valid YAML: indented with a tab at line {number}; "
                    "YAML indents with spaces"
                )
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error)
    return f"not valid YAML or JSON: {where}{problem}"


def _expansion(root: yaml.Node) -> tuple[int, int]:
    """How many values the node graph holds as written, and with every alias expanded.

    An alias is the very node its anchor names, so the graph is measured once per node, bottom
    up, with each node's expanded size remembered: linear in what is written, however much the
    aliases multiply it. A node that contains an alias to itself would expand forever, and is
    refused.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack[-1]
        if id(node) in sizes:  # an alias met again: measured once, however often it is used
            stack.pop()
            continue
        children = _children(node)
        pending = [child for child in children if id(child) not in sizes]
        if id(node) in open_nodes or not pending:
            if any(id(child) in open_nodes and id(child) not in sizes for child in pending):
                raise RulesInvalid(
                    [RuleError("<document>", "a YAML alias refers to a value that contains it")]
                )
            stack.pop()
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            continue
        open_nodes.add(id(node))
        stack.extend(pending)
    return len(sizes), sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_text(path: Path, limits: RulesLimits = DEFAULT_LIMITS) -> str:
    """A rules file's text, or :class:`InvalidInput` saying why it cannot be read.

    At most one byte more than the limit is read, so a huge file (or ``/dev/zero``) is refused
    without reading it whole."""
    try:
        with path.open("rb") as file:
            return decode(file.read(limits.max_bytes + 1), limits)
    except OSError as error:
        raise InvalidInput(f"cannot read rules file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"cannot read rules file {path}: not UTF-8 text") from None


def decode(data: bytes, limits: RulesLimits = DEFAULT_LIMITS) -> str:
    """A document's bytes as text; :class:`RulesInvalid` when there are more than the limit."""
    too_large = byte_problem(len(data), limits)
    if too_large is not None:
        raise RulesInvalid([too_large])
    return data.decode("utf-8")


def load_rules(source: str | Path, limits: RulesLimits = DEFAULT_LIMITS) -> RulesDocument:
    """The valid rules document in ``source``: a file's path, or YAML or JSON text.

    A ``Path`` is always a file. A ``str`` is document text when it spans several lines or starts
    with ``{`` (a JSON object or a YAML flow mapping), and a file's path otherwise.
    """
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        text = source
    else:
        text = read_text(Path(source), limits)
    return validate_document(parse_text(text, limits), limits)
