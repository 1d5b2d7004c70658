"""A decision's trace in sentences a person can read: "why did this lead go there".

The trace (see :mod:`processor.rules.trace`) is structured for programs; operators reading the
audit log or the demo want prose. This turns each entry into one line, in decision order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC
from typing import Any

Entry = Mapping[str, Any]


def explain_text(outcome: str, trace: Sequence[Entry], decision: Mapping[str, Any]) -> str:
    """The decision's outcome and deliveries, then one line per trace entry."""
    return "\n".join([_headline(outcome, decision), *_trace_lines(trace)])


def explain_record(record: Mapping[str, Any]) -> str:
    """A ``RoutingDecision`` record from the audit topic in words: what was decided, when, under
    which rules and from which input record, then why, one line per trace entry."""
    trace = json.loads(record["trace"]) if record.get("trace") else []
    return "\n".join(
        [
            _headline(record["outcome"], record),
            *_attempt(record),
            f"  {_context(record)}",
            *_trace_lines(trace),
        ]
    )


def _attempt(record: Mapping[str, Any]) -> list[str]:
    """For a lead decided again in place of a delivery: which one, and the how-manieth time."""
    attempt = record.get("attempt") or 1
    if attempt <= 1:
        return []
    return [f"  attempt {attempt}, re-offer of delivery {record.get('reoffer_of')}"]


def _trace_lines(trace: Sequence[Entry]) -> Iterator[str]:
    for entry in trace:
        line = _LINES.get(str(entry.get("step")), _other)(entry)
        if line:
            yield f"  - {line}"


def _context(record: Mapping[str, Any]) -> str:
    when = record["decided_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    version = record.get("rules_version")
    rules = f"by rules version {version}" if version else "before routing"
    source = record["source"]
    site = f", site {record['site_id']}" if record.get("site_id") else ""
    return (
        f"decided {when} {rules}; input {source['topic']}[{source['partition']}]"
        f"@{source['offset']}{site}"
    )


def _headline(outcome: str, decision: Mapping[str, Any]) -> str:
    lead = decision.get("lead_id")
    deliveries = decision.get("deliveries") or []
    if not deliveries:
        error = decision.get("error")
        return f"lead {lead}: {outcome}" + (f" ({error})" if error else "")
    parts = []
    for d in deliveries:
        text = f"{d['partner']} at {d['price']:.2f} {d['currency']}"
        if d.get("assignment"):
            text += f" (assignment {d['assignment']})"
        if d.get("distance_km") is not None:
            text += f", {d['distance_km']:.1f} km away"
        parts.append(text)
    return f"lead {lead}: {outcome} to " + "; ".join(parts)


def _geo(entry: Entry) -> str:
    return "geolocation: " + "; ".join(str(note) for note in entry.get("notes", []))


def _profile(entry: Entry) -> str:
    profile = entry.get("profile")
    head = f"profile {profile}" if profile else "no profile"
    return f"{head}: {entry.get('why')}"


def _tier(entry: Entry) -> str:
    if entry.get("tier") == "category":
        if entry.get("category") is None:
            return "category tier: the lead has no interest category"
        label = f"category tier ({entry['category']!r})"
    else:
        label = "ALL tier"
    if not entry.get("assignments"):
        return f"{label}: no assignments"
    candidates = entry.get("candidates") or []
    found = ", ".join(candidates) if candidates else "no candidate"
    closed = entry.get("closed")
    found += f" (closed: {', '.join(closed)})" if closed else ""
    excluded = entry.get("excluded")
    found += f" (passed over: {', '.join(excluded)})" if excluded else ""
    return f"{label}: {entry['assignments']} assignments, {found}"


def _condition(failed: Entry) -> str:
    value = _value(failed.get("value"))
    actual = failed.get("actual")
    return (
        f"OR-set {failed.get('or_set')}: {failed.get('field')} {failed.get('op')} {value} "
        f"failed (the lead has {actual!r})"
    )


def _value(value: object) -> str:
    """A condition's value; a long list comes summarised as its first items and its count."""
    if isinstance(value, Mapping) and set(value) == {"first", "count"}:
        first = ", ".join(repr(item) for item in value["first"])
        return f"[{first}, …] ({value['count']} items)"
    return repr(value)


def _assignment(entry: Entry) -> str:
    head = f"assignment {entry.get('assignment')} -> {entry.get('partner')}"
    if entry.get("matched"):
        or_set = entry.get("or_set")
        text = head + (" matched" if or_set is None else f" matched by OR-set {or_set}")
        return text + (
            f" but is no candidate: {entry['excluded']}" if entry.get("excluded") else ""
        )
    if entry.get("why"):
        return f"{head} skipped: {entry['why']}"
    return f"{head} did not match: " + "; ".join(_condition(f) for f in entry.get("failed", []))


def _not_shown(entry: Entry) -> str:
    return f"{entry.get('assignments')} more assignments {entry.get('why')}"


def _cut(entry: Entry) -> str:
    return f"{entry.get('entries')} more entries left out: {entry.get('why')}"


def _nearest(entry: Entry) -> str:
    if entry.get("partner") is None:
        return f"nearest store: {entry.get('why', 'no store within reach')}"
    distance = entry.get("distance_km")
    far = f" at {distance:.1f} km" if distance is not None else ""
    return f"nearest store: {entry['partner']}{far}, keeping {', '.join(entry.get('kept', []))}"


def _strategy(entry: Entry) -> str:
    chosen = ", ".join(entry.get("chosen") or []) or "nothing"
    one = f" ({entry['one_delivery']})" if entry.get("one_delivery") else ""
    return f"strategy {entry.get('strategy')}: chose {chosen}{one}"


def _reoffer(entry: Entry) -> str:
    offered = ", ".join(entry.get("offered") or [])
    return f"re-offer: {entry.get('why')}; left out, offered before: {offered}"


def _ending(entry: Entry) -> str:
    step = entry.get("step")
    partner = f" {entry['partner']}" if entry.get("partner") else ""
    of = f" of {entry['duplicate_of']}" if entry.get("duplicate_of") else ""
    return f"{step}{partner}{of}: {entry.get('why', '')}".rstrip(": ")


def _other(entry: Entry) -> str:
    return ", ".join(f"{k}={v}" for k, v in entry.items())


_LINES: dict[str, Callable[[Entry], str]] = {
    "geo": _geo,
    "profile": _profile,
    "tier": _tier,
    "assignment": _assignment,
    "not_shown": _not_shown,
    "nearest_store": _nearest,
    "strategy": _strategy,
    "fallback": _ending,
    "unroutable": _ending,
    "duplicate": _ending,
    "redrive": _ending,
    "reoffer": _reoffer,
    "cut": _cut,
}
