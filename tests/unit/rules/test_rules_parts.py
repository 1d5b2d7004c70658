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
