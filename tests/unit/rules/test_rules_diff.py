"""What ``rules diff`` reports between two documents: entities by id, fields by path, moves."""

from __future__ import annotations

import copy
from typing import Any

from processor.rules import document_to_parts, validate_document
from processor.rules.diff import MAX_SHOWN, Change, diff_parts, shown, summary

BASE: dict[str, Any] = {
    "fields": {"budget": {"type": "number"}},
    "partners": [
        {"id": "crm-east", "format": "json", "destinations": ["https://east.example"]},
        {"id": "crm-west", "format": "json", "destinations": ["https://west.example"]},
        {"id": "bdc", "format": "text", "destinations": ["mailto:bdc@example.com"]},
    ],
    "profiles": [
        {
            "id": "acme",
            "sources": ["acme-site"],
            "base_price": 25,
            "fallback": "bdc",
            "assignments": [
                {
                    "id": "svc-ca",
                    "partner": "crm-east",
                    "price": 40,
                    "filter": [
                        [
                            {"field": "address.state", "op": "equals", "value": "CA"},
                            {"field": "budget", "op": "gte", "value": 100000},
                        ],
                        [{"field": "address.state", "op": "equals", "value": "NY"}],
                    ],
                },
                {"id": "svc-ny", "partner": "crm-west"},
                {"id": "any", "partner": "bdc"},
            ],
        }
    ],
}


def parts(document: dict[str, Any]) -> dict[str, Any]:
    return document_to_parts(validate_document(document))


def changed(**edits: Any) -> dict[str, Any]:
    """BASE with edits applied by a function of the copy, for each edit given."""
    document = copy.deepcopy(BASE)
    for edit in edits.values():
        edit(document)
    return document


def assignments(document: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = document["profiles"][0]["assignments"]
    return result


def diff(new: dict[str, Any], old: dict[str, Any] = BASE) -> list[Change]:
    return diff_parts(parts(old), parts(new))


def test_the_same_document_has_no_changes() -> None:
    assert diff(copy.deepcopy(BASE)) == []
    assert summary([]) == "no changes"


def test_a_changed_price_names_the_assignment_and_the_field() -> None:
    new = changed(price=lambda d: assignments(d)[0].update(price=45))
    changes = diff(new)
    assert changes == [
        Change("changed", "assignment", "profile acme / assignment svc-ca", "price", 40.0, 45.0)
    ]
    assert str(changes[0]) == "~ profile acme / assignment svc-ca: price 40 -> 45"
    assert summary(changes) == "~1 assignment"


def test_a_condition_changed_inside_a_filter_is_named_by_its_place() -> None:
    new = changed(budget=lambda d: assignments(d)[0]["filter"][0][1].update(value=75000))
    [change] = diff(new)
    assert change.path == "filter[0][1].value"
    assert str(change).endswith("filter[0][1].value 100000 -> 75000")


def test_an_or_set_added_shows_the_whole_filter_old_and_new() -> None:
    extra = [{"field": "address.state", "op": "equals", "value": "TX"}]
    new = changed(tx=lambda d: assignments(d)[0]["filter"].append(extra))
    [change] = diff(new)
    assert change.path == "filter"
    assert len(change.old) == 2 and len(change.new) == 3


def test_added_and_removed_entities() -> None:
    partner = {"id": "crm-north", "format": "json", "destinations": ["https://n.example"]}
    new = changed(
        add=lambda d: d["partners"].append(partner),
        remove=lambda d: assignments(d).pop(1),
        field=lambda d: d["fields"].update(lead_type={"type": "string"}),
    )
    changes = diff(new)
    assert [(c.kind, c.entity) for c in changes] == [
        ("added", "field lead_type"),
        ("added", "partner crm-north"),
        ("removed", "profile acme / assignment svc-ny"),
    ]
    assert changes[1].new["destinations"] == ["https://n.example"]
    assert [str(c) for c in changes][1:] == [
        "+ partner crm-north",
        "- profile acme / assignment svc-ny",
    ]
    assert summary(changes) == "+1 field, +1 partner, -1 assignment"


def test_a_removed_partner_and_a_changed_profile() -> None:
    new = changed(
        # the assignment that names crm-west goes with it, else the document is invalid
        gone=lambda d: (d["partners"].pop(1), assignments(d).pop(1)),
        price=lambda d: d["profiles"][0].update(base_price=30, strategy="round_robin"),
    )
    changes = diff(new)
    assert [str(c) for c in changes] == [
        "- partner crm-west",
        '~ profile acme: strategy "first_match" -> "round_robin"',
        "~ profile acme: base_price 25 -> 30",
        "- profile acme / assignment svc-ny",
    ]
    assert summary(changes) == "-1 partner, ~1 profile, -1 assignment"


def test_a_field_given_where_there_was_none_is_absent_before() -> None:
    new = changed(price=lambda d: assignments(d)[1].update(price=12.5))
    [change] = diff(new)
    assert str(change) == "~ profile acme / assignment svc-ny: price (absent) -> 12.5"
    assert change.as_dict() == {
        "kind": "changed",
        "category": "assignment",
        "entity": "profile acme / assignment svc-ny",
        "path": "price",
        "old": None,
        "new": 12.5,
    }


def test_one_assignment_moved_to_the_top_is_one_move() -> None:
    new = changed(move=lambda d: assignments(d).insert(0, assignments(d).pop(2)))
    changes = diff(new)
    assert [str(c) for c in changes] == [
        "~ profile acme / assignment any: moved from position 3 to 1"
    ]
    assert summary(changes) == "~1 assignment"


def test_two_neighbours_swapped_is_one_move() -> None:
    new = changed(swap=lambda d: assignments(d).insert(1, assignments(d).pop(2)))
    [change] = diff(new)
    assert change.kind == "moved"
    moves = {
        "profile acme / assignment any": (3, 2),
        "profile acme / assignment svc-ny": (2, 3),
    }
    assert moves[change.entity] == (change.old, change.new)


def test_an_assignment_added_in_front_moves_no_other() -> None:
    new = changed(add=lambda d: assignments(d).insert(0, {"id": "first", "partner": "bdc"}))
    assert [(c.kind, c.entity) for c in diff(new)] == [("added", "profile acme / assignment first")]


def test_a_boolean_is_not_the_number_one() -> None:
    old = changed(one=lambda d: assignments(d)[0]["filter"][1][0].update(value=1))
    new = changed(true=lambda d: assignments(d)[0]["filter"][1][0].update(value=True))
    [change] = diff(new, old)
    assert (change.old, change.new) == (1, True)


def test_long_values_are_cut_in_the_text_and_whole_in_json() -> None:
    many = [f"site-{n}" for n in range(500)]
    new = changed(sources=lambda d: d["profiles"][0].update(sources=many))
    [change] = diff(new)
    line = str(change)
    assert len(line) < 2 * MAX_SHOWN + 60
    assert "characters)" in line
    assert change.as_dict()["new"] == many


def test_shown_values() -> None:
    assert shown(40.0) == "40"
    assert shown(12.5) == "12.5"
    assert shown("CA") == '"CA"'
    assert shown(None) == "null"
    assert shown([1, 2]) == "[1, 2]"


def test_profiles_and_partners_in_another_order_are_the_same() -> None:
    new = changed(order=lambda d: d["partners"].reverse())
    assert diff(new) == []


def test_reversed_assignments_move_all_but_one() -> None:
    new = changed(reverse=lambda d: assignments(d).reverse())
    changes = diff(new)
    assert [c.kind for c in changes] == ["moved", "moved"]
    assert summary(changes) == "~2 assignments"
