"""The document in config-topic parts: ``partner/<id>``, ``profile/<id>`` and ``fields``."""

from __future__ import annotations

import pytest

from processor.rules import (
    RulesInvalid,
    document_from_parts,
    document_to_parts,
    validate_document,
)


@pytest.fixture
def document(rules):
    raw = rules.document(
        [
            rules.assignment(
                "a",
                "p2",
                category="Service",
                price=4,
                filter=[[{"field": "budget", "op": "between", "value": [1, 2]}]],
            ),
            rules.assignment("b", "p1"),
        ],
        fields={"budget": {"type": "number"}, "ssn": {"encrypted": True}},
        fallback={"partner": "bdc", "price": 1},
        profiles=[{"id": "second", "default": True}],
    )
    return validate_document(raw)


def test_round_trip(document):
    parts = document_to_parts(document)
    assert list(parts) == [
        "fields",
        "partner/p1",
        "partner/p2",
        "partner/p3",
        "partner/bdc",
        "profile/main",
        "profile/second",
    ]
    assert parts["profile/main"]["assignments"][0]["filter"][0][0]["value"] == [1, 2]
    assert document_from_parts(parts) == document


def test_parts_are_json_ready(document):
    import json

    parts = document_to_parts(document)
    assert json.loads(json.dumps(parts)) == parts


def test_the_order_of_the_mapping_is_kept(document):
    parts = document_to_parts(document)
    reordered = {key: parts[key] for key in reversed(list(parts))}
    rebuilt = document_from_parts(reordered)
    assert [p.id for p in rebuilt.profiles] == ["second", "main"]
    assert [p.id for p in rebuilt.partners] == ["bdc", "p3", "p2", "p1"]


def test_a_part_without_id_takes_its_key(document):
    parts = document_to_parts(document)
    del parts["partner/p3"]["id"]
    assert document_from_parts(parts) == document


def test_meta_keys_are_not_parts(document):
    parts = {**document_to_parts(document), "meta/version": {"version": "7"}}
    assert document_from_parts(parts) == document


def test_reassembled_documents_get_the_same_errors_as_files(document):
    parts = document_to_parts(document)
    del parts["partner/p2"]  # a tombstone while an assignment still names it
    with pytest.raises(RulesInvalid) as from_parts:
        document_from_parts(parts)
    raw = {
        "fields": parts["fields"],
        "partners": [v for k, v in parts.items() if k.startswith("partner/")],
        "profiles": [v for k, v in parts.items() if k.startswith("profile/")],
    }
    with pytest.raises(RulesInvalid) as from_file:
        validate_document(raw)
    assert from_parts.value.errors == from_file.value.errors
    assert [str(e) for e in from_parts.value.errors] == [
        "profiles[0].assignments[0].partner: unknown partner 'p2'"
    ]


def test_a_part_whose_id_contradicts_its_key(document):
    parts = document_to_parts(document)
    parts["partner/p1"]["id"] = "other"
    parts["bogus"] = {}
    with pytest.raises(RulesInvalid) as caught:
        document_from_parts(parts)
    messages = [str(e) for e in caught.value.errors]
    assert "partners[0].id: 'other' differs from its key 'partner/p1'" in messages
    assert "bogus: not a rules part: use fields, partner/<id>, profile/<id>" in messages


def test_caps_duplicate_spans_and_checks_round_trip_unchanged(rules):
    """What the config topic holds is what ``rules apply`` is later given back: every cap,
    span and duplicate check survives the parts as JSON, and the parts of the document they
    make are the very same parts."""
    import json

    raw = rules.document(
        [
            rules.assignment(
                "a",
                "p1",
                price=12.5,
                caps=[
                    {"per": "hour", "leads": 5},
                    {"per": "day", "revenue": 100, "currency": "EUR"},
                ],
            )
        ],
        partners=[
            {
                "id": "p1",
                "format": "json",
                "timezone": "Europe/Berlin",
                "caps": [
                    {"per": "week", "leads": 100},
                    {"per": "month", "revenue": 2500.5, "currency": "EUR"},
                    {"per": "total", "leads": 10000},
                ],
                "reject_duplicates_within": "30d",
            }
        ],
        fields={"budget": {"type": "number"}},
        currency="EUR",
        duplicates={"keys": ["contact.email", "contact.phone", "budget"], "within": "12h"},
    )
    document = validate_document(raw)
    parts = json.loads(json.dumps(document_to_parts(document)))
    rebuilt = document_from_parts(parts)
    assert rebuilt == document
    assert document_to_parts(rebuilt) == parts
    partner = parts["partner/p1"]
    assert partner["caps"][1] == {"per": "month", "revenue": 2500.5, "currency": "EUR"}
    assert partner["reject_duplicates_within"] == "30d"
    profile = parts["profile/main"]
    assert profile["duplicates"] == {
        "keys": ["contact.email", "contact.phone", "budget"],
        "within": "12h",
    }
    assert profile["assignments"][0]["caps"][0] == {"per": "hour", "leads": 5}


def test_parts_without_caps_spans_or_checks_are_written_as_before_they_existed(document):
    """So that applying an unchanged document finds the config topic's parts unchanged."""
    parts = document_to_parts(document)
    assert "caps" not in parts["partner/p1"]
    assert "reject_duplicates_within" not in parts["partner/p1"]
    assert "duplicates" not in parts["profile/main"]
    assert all("caps" not in item for item in parts["profile/main"]["assignments"])
    assert document_from_parts(parts) == document


def test_only_the_assignments_with_caps_are_written_with_them(rules):
    raw = rules.document(
        [
            rules.assignment("a", "p1"),
            rules.assignment("b", "p2", caps=[{"per": "day", "leads": 3}]),
            rules.assignment("c", "p3"),
        ]
    )
    assignments = document_to_parts(validate_document(raw))["profile/main"]["assignments"]
    assert [item.get("caps") for item in assignments] == [None, [{"per": "day", "leads": 3}], None]
