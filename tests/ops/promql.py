"""The metrics a PromQL expression reads, and the labels it matches on each.

Enough of PromQL to find the vector selectors in lead-router's dashboard and alert rules: string
literals, durations, label lists after ``by``/``without``/``on``/``ignoring``/``group_left``/
``group_right``, function names and keywords are set aside; every identifier left is a metric
name. Grafana's variables (``$job``, ``${datasource}``, ``$__rate_interval``) are placeholders in
strings or durations and are set aside too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
     "group_right", "start", "end", "inf", "nan"}
)  # fmt: skip


def selectors(expr: str) -> dict[str, set[str]]:
    """Each metric name ``expr`` reads, with the label names its selectors match on."""
    text = _VARIABLE.sub("", _STRING.sub('""', expr))
    text = _LABEL_LIST.sub(" ", _RANGE.sub(" ", text))
    found: dict[str, set[str]] = defaultdict(set)

    def take(match: re.Match[str]) -> str:
        labels = set(_MATCHER.findall(match.group(2)))
        name = match.group(1)
        if name is None:  # {__name__="..."} alone: the name is a matcher
            labels.discard("__name__")
            name = "{}"
        found[name] |= labels
        return " "

    text = _SELECTOR.sub(take, text)
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        found.setdefault(name, set())
    return dict(found)


def dashboard_expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(where, expr)`` for every query of a Grafana dashboard: panels, rows, variables."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield f"panel {panel.get('title')!r}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            yield f"variable {variable['name']!r}", _grafana_function(text)


def _grafana_function(query: str) -> str:
    """``label_values(m{...}, job)`` reads ``m{...}``; Grafana's other functions wrap PromQL."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
    if match:
        return match.group(1)
    match = re.fullmatch(r"\s*(?:query_result|metrics|label_names)\((.*)\)\s*", query)
    return match.group(1) if match else query


def rule_expressions(rules: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(where, expr)`` for every rule of a Prometheus rules file."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield f"rule {rule.get('alert') or rule.get('record')!r}", rule["expr"]
