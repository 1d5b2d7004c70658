"""Whatever a rules document holds, validation ends in a document or in ``RulesInvalid``.

Operators write rules by hand and anyone with write access can put parts on the config topic, so
validation meets arbitrary data: random JSON-like values, valid documents with one thing broken,
and parts that are not even JSON objects. It must never leak a pydantic, type or key error (the
CLI would print a traceback; the processor's rules follower would stop), every error must say where
it is, and a valid document must come back unchanged from the parts the config topic stores. The
config topic's follower itself, fed any records, must refuse what does not validate and go on.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.control import follower as config_follower
from processor.control.follower import Refusal, RulesFollower
from processor.control.records import VERSION_KEY, digest_of
from processor.control.state import ConfigState
from processor.rules import (
    RulesDocument,
    RulesInvalid,
    Snapshot,
    compile_rules,
    document_from_parts,
    document_to_parts,
    load_rules,
    validate_document,
)
from processor.settings import Settings

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "fields", "partners", "profiles", "id", "name", "format", "destinations", "location", "lat",
    "lon", "active", "type", "encrypted", "sources", "default", "strategy", "base_price",
    "currency", "nearest_store", "enabled", "max_km", "fallback", "partner", "price",
    "assignments", "category", "filter", "field", "op", "value", "weight", "var", "km",
]  # fmt: skip
"""The document's own keys, so that random documents get past the top level into the models."""

SCALARS = st.sampled_from(
    ["p1", "json", "ALL", "equals", "within_km", "budget", "geo", "USD", "first_match", ""]
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | SCALARS
keys = st.sampled_from(KEYS) | st.text(max_size=6) | st.integers() | st.none() | st.booleans()
"""Keys as YAML may give them: not only strings."""

json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)


def assert_refused_with_paths(invalid: RulesInvalid) -> None:
    assert invalid.errors, "RulesInvalid without an error"
    for error in invalid.errors:
        assert isinstance(error.path, str) and error.path, error
        assert isinstance(error.message, str) and error.message, error


def validates_or_refuses(raw: object) -> RulesDocument | None:
    """The document ``raw`` makes (it must compile too), or None after a well-formed refusal."""
    try:
        document = validate_document(raw)
    except RulesInvalid as invalid:
        assert_refused_with_paths(invalid)
        return None
    compile_rules(document, "1")
    return document


@SETTINGS
@given(json_like | st.dictionaries(st.sampled_from(["fields", "partners", "profiles"]), json_like))
def test_any_value_validates_or_is_refused_with_paths(raw: object) -> None:
    validates_or_refuses(raw)


yaml_nodes = json_like.map(lambda value: json.dumps(value, allow_nan=True)) | st.sampled_from(
    ["!!binary aGk=", "!!set {a, b}", "!!timestamp 2024-05-01", "&a [1]", "*a", "{<<: {id: x}}"]
)
"""Flow YAML: any JSON (NaN and infinities included), and the tags, anchors and merges of YAML."""


@SETTINGS
@given(
    st.sampled_from(["fields", "partners", "profiles", "x"]),
    st.lists(st.tuples(yaml_nodes, yaml_nodes), min_size=1, max_size=3),
)
def test_any_yaml_text_loads_or_is_refused_with_paths(
    section: str, entries: list[tuple[str, str]]
) -> None:
    # Explicit keys (`? key`) may be lists or mappings, which no Python dict can hold.
    text = f"{section}:\n" + "".join(f"  ? {key}\n  : {value}\n" for key, value in entries)
    try:
        document = load_rules(text)
    except RulesInvalid as invalid:
        assert_refused_with_paths(invalid)
    else:
        compile_rules(document, "1")


# Valid documents, and the same with one thing broken.

caps = st.lists(
    st.builds(
        lambda per, count, amount: (
            {"per": per, "leads": count}
            if amount is None
            else {"per": per, "revenue": amount, "currency": "USD"}
        ),
        st.sampled_from(["hour", "day", "week", "month", "total"]),
        st.integers(1, 10**6),
        st.none() | st.floats(0.01, 10**6),
    ),
    max_size=3,
    unique_by=lambda cap: (cap["per"], "leads" in cap),
)
"""Caps of one partner or assignment, in USD (the profiles' currency), one per window and unit."""
spans = st.sampled_from(["30m", "12h", "30d", "2w", "366d"])

partners = st.builds(
    lambda n, fmt, name, location, active, destinations, capped, span: {
        "id": f"p{n}",
        "format": fmt,
        **({"name": name} if name is not None else {}),
        **({"location": location} if location is not None else {}),
        "active": active,
        "destinations": destinations,
        **({"caps": capped} if capped else {}),
        **({"reject_duplicates_within": span} if span is not None else {}),
    },
    st.integers(0, 3),
    st.sampled_from(["adf_xml", "json", "text"]),
    st.none() | st.text(max_size=8),
    st.none() | st.fixed_dictionaries({"lat": st.floats(-90, 90), "lon": st.floats(-180, 180)}),
    st.booleans(),
    st.lists(st.sampled_from(["mailto:a@example.com", "https://x.example"]), max_size=2),
    caps,
    st.none() | spans,
)
conditions = st.sampled_from(
    [
        {"field": "address.state", "op": "equals", "value": "CA"},
        {"field": "budget", "op": "between", "value": [1, 5]},
        {"field": "comments", "op": "matches", "value": "^a|b$"},
        {"field": "geo", "op": "within_km", "value": {"lat": 1, "lon": 2, "km": 50}},
        {"field": "fields.budget", "op": "gte", "value": {"var": "vehicle.year"}},
        {"field": "contact.email", "op": "is_empty"},
        {"field": "interest_category", "op": "in_list", "value": ["Service", 3, True]},
    ]
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid document over a few partners, fields and profiles, as raw data."""
    found = draw(st.lists(partners, min_size=1, max_size=4, unique_by=lambda p: p["id"]))
    ids = [p["id"] for p in found]
    profiles = []
    for n in range(draw(st.integers(1, 3))):
        items = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "partner": st.sampled_from(ids),
                        "category": st.sampled_from(["ALL", "Service", "New Models"]),
                        "filter": st.lists(
                            st.lists(conditions, min_size=1, max_size=3), max_size=2
                        ),
                    },
                    optional={
                        "price": st.floats(0, 100),
                        "weight": st.integers(1, 5),
                        "caps": caps,
                    },
                ),
                max_size=4,
            )
        )
        for m, item in enumerate(items):
            item["id"] = f"a{m}"
        profile: dict[str, Any] = {
            "id": f"profile-{n}",
            "sources": [f"site-{n}"],
            "default": n == 0 and draw(st.booleans()),
            "strategy": draw(
                st.sampled_from(["first_match", "round_robin", "weighted", "highest_price", "all"])
            ),
            "base_price": draw(st.floats(0, 50)),
            "nearest_store": {
                "enabled": draw(st.booleans()),
                "max_km": draw(st.none() | st.just(80)),
            },
            "assignments": items,
        }
        keys = draw(
            st.lists(st.sampled_from(["contact.email", "contact.phone", "vehicle.vin"]), max_size=2)
        )
        if keys:
            profile["duplicates"] = {"keys": keys, "within": draw(spans)}
        fallback = draw(st.none() | st.sampled_from(ids))
        if fallback is not None:
            price = draw(st.none() | st.floats(0, 9))
            profile["fallback"] = (
                fallback if price is None else {"partner": fallback, "price": price}
            )
        profiles.append(profile)
    raw: dict[str, Any] = {"partners": found, "profiles": profiles}
    if draw(st.booleans()):
        raw["fields"] = {"budget": {"type": "number"}, "ssn": {"encrypted": True}}
    return copy.deepcopy(raw)  # the conditions are shared: tests that break documents change them


def places(value: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and list position in ``value``, as paths from the root."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*where, key)
        yield from places(child, (*where, key))


def parent_of(raw: Any, path: tuple[Any, ...]) -> Any:
    node = raw
    for part in path[:-1]:
        node = node[part]
    return node


@SETTINGS
@given(documents())
def test_valid_documents_come_back_from_their_config_topic_parts(raw: dict[str, Any]) -> None:
    document = validate_document(raw)
    compile_rules(document, "1")
    parts = document_to_parts(document)
    on_the_topic = {key: json.loads(json.dumps(value)) for key, value in parts.items()}
    assert document_from_parts(on_the_topic) == document
    assert validate_document(document.model_dump(mode="json")) == document


@SETTINGS
@given(documents(), st.data())
def test_a_document_with_a_key_dropped_or_a_value_replaced(
    raw: dict[str, Any], data: st.DataObject
) -> None:
    where = data.draw(st.sampled_from(list(places(raw))))
    parent = parent_of(raw, where)
    if data.draw(st.booleans()):
        del parent[where[-1]]
    else:
        parent[where[-1]] = data.draw(json_like)
    validates_or_refuses(raw)


Break = Callable[[dict[str, Any]], str]
"""Breaks a valid document in place; returns the path of the error it must cause."""


def dangling_assignment_partner(raw: dict[str, Any]) -> str:
    for i, profile in enumerate(raw["profiles"]):
        if profile["assignments"]:
            profile["assignments"][0]["partner"] = "nobody"
            return f"profiles[{i}].assignments[0].partner"
    raw["profiles"][0]["fallback"] = "nobody"
    return "profiles[0].fallback.partner"


def duplicate_partner(raw: dict[str, Any]) -> str:
    raw["partners"].append(copy.deepcopy(raw["partners"][0]))
    return f"partners[{len(raw['partners']) - 1}].id"


def duplicate_profile(raw: dict[str, Any]) -> str:
    twin = copy.deepcopy(raw["profiles"][0])
    twin["sources"], twin["default"] = [], False
    raw["profiles"].append(twin)
    return f"profiles[{len(raw['profiles']) - 1}].id"


def second_default(raw: dict[str, Any]) -> str:
    raw["profiles"][0]["default"] = True
    raw["profiles"].append({"id": "another", "default": True})
    return f"profiles[{len(raw['profiles']) - 1}].default"


def condition_on_an_encrypted_field(raw: dict[str, Any]) -> str:
    raw["fields"] = {"ssn": {"encrypted": True}}
    raw["profiles"][0]["assignments"].append(
        {
            "id": "x",
            "partner": raw["partners"][0]["id"],
            "filter": [[{"field": "ssn", "op": "is_empty"}]],
        }
    )
    return (
        f"profiles[0].assignments[{len(raw['profiles'][0]['assignments']) - 1}].filter[0][0].field"
    )


def wrong_type(raw: dict[str, Any]) -> str:
    raw["partners"][0]["active"] = "maybe"
    return "partners[0].active"


@SETTINGS
@given(
    documents(),
    st.sampled_from(
        [
            dangling_assignment_partner,
            duplicate_partner,
            duplicate_profile,
            second_default,
            condition_on_an_encrypted_field,
            wrong_type,
        ]
    ),
)
def test_each_broken_rule_is_reported_where_it_is(raw: dict[str, Any], breaks: Break) -> None:
    path = breaks(raw)
    with pytest.raises(RulesInvalid) as caught:
        validate_document(raw)
    assert_refused_with_paths(caught.value)
    assert path in [error.path for error in caught.value.errors]


# The config topic: parts are whatever someone wrote there.

part_keys = st.sampled_from(
    ["fields", "partner/p0", "partner/p1", "profile/profile-0", "meta/x"]
) | st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["partner/", "profile/", ""]),
    st.text(max_size=5),
)
part_values = json_like | st.text(max_size=10)
"""A part as the follower keeps it: parsed JSON of any shape, or the text of what was not JSON."""


@SETTINGS
@given(documents(), st.dictionaries(part_keys, part_values, max_size=4))
def test_any_parts_validate_or_are_refused_with_paths(
    raw: dict[str, Any], changes: dict[str, Any]
) -> None:
    parts: dict[str, Any] = dict(document_to_parts(validate_document(raw)))
    parts.update(changes)
    try:
        document = document_from_parts(parts)
    except RulesInvalid as invalid:
        assert_refused_with_paths(invalid)
    else:
        compile_rules(document, "1")


class _Message:
    def __init__(self, key: bytes | None, value: bytes | None) -> None:
        self._key, self._value = key, value

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def offset(self) -> int:
        return 0

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)

    def error(self) -> None:
        return None


class _Consumer:
    """Hands out the records given to it, then nothing."""

    def __init__(self) -> None:
        self.pending: list[_Message] = []

    def poll(self, timeout: float = 0) -> _Message | None:
        return self.pending.pop(0) if self.pending else None

    def close(self) -> None:
        pass


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


records = st.tuples(
    part_keys.map(str.encode) | st.just(VERSION_KEY.encode()) | st.binary(max_size=6),
    st.none()
    | json_like.map(_json)
    | st.binary(max_size=12)
    | st.builds(lambda v: _json({"version": v}), st.integers(1, 9) | st.text(max_size=3))
    | st.builds(
        lambda digest, count: _json({"version": "2", "digest": digest, "parts": count}),
        st.text("0123456789abcdef", min_size=64, max_size=64),
        st.integers(0, 9),
    ),
)


@SETTINGS
@given(documents(), st.lists(records, max_size=8))
def test_the_follower_refuses_what_does_not_validate_and_goes_on(
    raw: dict[str, Any], written: list[tuple[bytes, bytes | None]]
) -> None:
    consumer = _Consumer()
    switched: list[Snapshot] = []
    refused: list[Refusal] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config_follower, "reading_consumer", lambda settings, purpose: consumer)
        # No history topic to find a version in: a version that does not match is refused.
        patch.setattr(config_follower, "config_state", lambda settings: ConfigState(10**6))
        follower = RulesFollower(Settings(), switched.append, refused.append)
    parts = document_to_parts(validate_document(raw))
    version = {"version": "1", "digest": digest_of(parts), "parts": len(parts)}
    consumer.pending = [
        *(_Message(k.encode(), _json(v)) for k, v in parts.items()),
        _Message(VERSION_KEY.encode(), _json(version)),
        *(_Message(key, value) for key, value in written),
    ]
    follower.poll()
    # Every version record is a switch point: it switches to a snapshot, or it is refused.
    version_records = [v for k, v in written if k == VERSION_KEY.encode()]
    assert len(switched) + len(refused) == 1 + len(version_records)
    assert switched[0].version == "1"
    assert follower.snapshot is switched[-1]
    for refusal in refused:
        assert_refused_with_paths(refusal.errors)
