"""Rules document limits: each refused with a clear error, and every limit settable."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from processor.errors import InvalidInput
from processor.rules import RulesInvalid, RulesLimits, document_from_parts, load_rules
from processor.rules.load import parse_text, read_text
from processor.rules.validate import validate_document
from processor.settings import load_settings

CONDITION = {"field": "address.state", "op": "equals", "value": "CA"}
RULES: dict[str, Any] = {
    "partners": [{"id": "p1", "format": "json", "destinations": ["https://p1"]}],
    "profiles": [
        {
            "id": "main",
            "sources": ["site-a"],
            "fallback": "p1",
            "assignments": [{"id": "a", "partner": "p1", "filter": [[CONDITION]]}],
        }
    ],
}


def rules(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(RULES)
    document.update(changes)
    return document


def refused(raw: object, limits: RulesLimits) -> list[str]:
    """Every error (path: message) with which ``raw`` is refused under ``limits``."""
    with pytest.raises(RulesInvalid) as caught:
        validate_document(raw, limits)
    return [str(error) for error in caught.value.errors]


def assignments(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"a{n}", "partner": "p1"} for n in range(start, start + count)]


class TestDocumentSize:
    def test_a_text_over_the_byte_limit_is_refused_before_it_is_parsed(self):
        text = json.dumps(RULES)
        assert parse_text(text, RulesLimits(max_bytes=len(text))) == RULES
        with pytest.raises(RulesInvalid, match="larger than 100 bytes, the limit"):
            parse_text(text + " " * 200, RulesLimits(max_bytes=100))

    def test_a_file_is_read_no_further_than_the_limit(self, tmp_path: Path):
        path = tmp_path / "rules.yaml"
        path.write_text("partners: []\n" + "#" * 10_000_000)
        with pytest.raises(RulesInvalid, match="LEAD_ROUTER_RULES_MAX_BYTES"):
            read_text(path, RulesLimits(max_bytes=1000))

    def test_an_endless_file_is_refused(self):
        with pytest.raises(RulesInvalid, match="larger than 1,000 bytes"):
            load_rules(Path("/dev/zero"), RulesLimits(max_bytes=1000))

    def test_data_larger_than_the_limit_as_json_is_refused(self):
        raw = rules(partners=[{**RULES["partners"][0], "name": "x" * 5000}])
        assert refused(raw, RulesLimits(max_bytes=4000)) == [
            "<document>: the document, with its YAML aliases expanded, is larger than 4,000 bytes "
            "as JSON, the limit (LEAD_ROUTER_RULES_MAX_BYTES)"
        ]
        assert validate_document(raw, RulesLimits(max_bytes=len(json.dumps(raw))))

    def test_a_text_that_is_not_utf8_is_a_user_error(self, tmp_path: Path):
        path = tmp_path / "rules.yaml"
        path.write_bytes(b"partners: [\xff]\n")
        with pytest.raises(InvalidInput, match="not UTF-8 text"):
            read_text(path)


class TestCounts:
    def test_partners(self):
        partners = [{"id": f"p{n}", "format": "json"} for n in range(1, 4)]
        assert refused(rules(partners=partners), RulesLimits(max_partners=2)) == [
            "partners: 3 partners: at most 2 (LEAD_ROUTER_RULES_MAX_PARTNERS)"
        ]

    def test_profiles(self):
        profiles = [{"id": f"x{n}"} for n in range(3)]
        assert refused(rules(profiles=profiles), RulesLimits(max_profiles=2)) == [
            "profiles: 3 profiles: at most 2 (LEAD_ROUTER_RULES_MAX_PROFILES)"
        ]

    def test_assignments_of_all_profiles_together(self):
        profiles = [
            {"id": "x", "assignments": assignments(3)},
            {"id": "y", "assignments": assignments(3, start=3)},
        ]
        assert validate_document(rules(profiles=profiles), RulesLimits(max_assignments=6))
        assert refused(rules(profiles=profiles), RulesLimits(max_assignments=5)) == [
            "profiles: 6 assignments in all profiles: at most 5 (LEAD_ROUTER_RULES_MAX_ASSIGNMENTS)"
        ]


class TestListsAndStrings:
    @pytest.mark.parametrize(
        ("where", "change"),
        [
            (
                "profiles[0].assignments[0].filter[0][0].value",
                lambda raw: raw["profiles"][0]["assignments"][0]["filter"][0][0].update(
                    op="in_list", value=["CA", "NY", "TX", "WA", "OR"]
                ),
            ),
            (
                "profiles[0].sources",
                lambda raw: raw["profiles"][0].update(sources=["a", "b", "c", "d", "e"]),
            ),
            (
                "partners[0].destinations",
                lambda raw: raw["partners"][0].update(destinations=["https://a"] * 5),
            ),
            (
                "profiles[0].assignments[0].filter",
                lambda raw: raw["profiles"][0]["assignments"][0].update(filter=[[CONDITION]] * 5),
            ),
            (
                "profiles[0].assignments[0].filter[0]",
                lambda raw: raw["profiles"][0]["assignments"][0].update(filter=[[CONDITION] * 5]),
            ),
        ],
    )
    def test_a_list_longer_than_the_limit_is_refused_at_its_path(self, where, change):
        raw = rules()
        change(raw)
        assert refused(raw, RulesLimits(max_list_items=4)) == [
            f"{where}: 5 items: at most 4 (LEAD_ROUTER_RULES_MAX_LIST_ITEMS)"
        ]

    def test_a_mapping_with_more_entries_than_the_limit_is_refused(self):
        raw = rules(fields={f"f{n}": {"type": "string"} for n in range(5)})
        assert refused(raw, RulesLimits(max_list_items=4)) == [
            "fields: 5 entries: at most 4 (LEAD_ROUTER_RULES_MAX_LIST_ITEMS)"
        ]

    def test_lists_of_100000_postcodes_are_accepted_by_default(self):
        raw = rules()
        postcodes = [f"{n:05d}" for n in range(100_000)]
        raw["profiles"][0]["assignments"][0]["filter"] = [
            [{"field": "address.postcode", "op": "in_list", "value": postcodes}]
        ]
        assert validate_document(raw, RulesLimits())

    def test_a_string_longer_than_the_limit_is_refused_at_its_path(self):
        raw = rules(partners=[{**RULES["partners"][0], "name": "x" * 101}])
        assert refused(raw, RulesLimits(max_string_chars=100)) == [
            "partners[0].name: a string of 101 characters: at most 100 "
            "(LEAD_ROUTER_RULES_MAX_STRING_CHARS)"
        ]

    def test_nesting_deeper_than_any_document_is_refused_without_recursion(self):
        deep: object = "CA"
        for _ in range(100_000):
            deep = [deep]
        raw = rules()
        raw["profiles"][0]["assignments"][0]["filter"][0][0]["value"] = deep
        (error,) = refused(raw, RulesLimits())
        assert error.startswith("profiles[0].assignments[0].filter[0][0].value[0]")
        assert error.endswith("nested more than 32 deep")

    def test_deeply_nested_json_text_is_refused_as_text(self):
        text = '{"a":' * 100_000 + "1" + "}" * 100_000
        with pytest.raises(RulesInvalid, match="nesting depth"):
            parse_text(text)

    def test_only_the_first_problems_are_listed(self):
        raw = rules(
            partners=[{"id": f"p{n}", "format": "json", "name": "x" * 20} for n in range(50)]
        )
        assert len(refused(raw, RulesLimits(max_string_chars=10))) == 20


SHARED_POSTCODES = """\
partners:
  - {id: p1, format: json, destinations: ["https://p1"]}
profiles:
  - id: main
    fallback: p1
    assignments:
      - id: a
        partner: p1
        filter: [[{field: address.postcode, op: in_list, value: &zips ["10115", "10117"]}]]
      - id: b
        partner: p1
        filter: [[{field: address.postcode, op: in_list, value: *zips}]]
"""


class TestYamlAliases:
    def test_one_anchor_aliased_many_times_is_measured_once(self):
        """An anchor of n values aliased n times: measuring each alias anew took time n x n (15 s
        for 56 KB); measured once, the document is refused as soon as it is read."""
        n = 8_000
        text = f"a: &a [{', '.join(['0'] * n)}]\nb: [{', '.join(['*a'] * n)}]\n"
        with pytest.raises(RulesInvalid, match="expand the document's 8,005 values to 64,016,005"):
            parse_text(text)

    def test_a_document_its_aliases_multiply_a_billion_times_is_refused(self, alias_bomb):
        with pytest.raises(RulesInvalid) as caught:
            load_rules(alias_bomb)
        assert [str(error) for error in caught.value.errors] == [
            "<document>: YAML aliases expand the document's 1,030 values to 100,701,070,510, "
            "more than 100 times as many (LEAD_ROUTER_RULES_MAX_ALIAS_EXPANSION): write each part "
            "out, or use fewer aliases"
        ]

    def test_an_alias_inside_its_own_anchor_is_refused(self):
        with pytest.raises(RulesInvalid, match="refers to a value that contains it"):
            load_rules("partners: &p [{id: p1, format: json, more: *p}]\nprofiles: []\n")

    def test_aliases_that_share_a_list_a_few_times_are_read(self):
        document = load_rules(SHARED_POSTCODES)
        first, second = document.profiles[0].assignments
        assert first.filter == second.filter

    def test_the_expansion_limit_is_a_ratio_of_what_is_written(self):
        with pytest.raises(RulesInvalid, match="more than 1 times as many"):
            load_rules(SHARED_POSTCODES, RulesLimits(max_alias_expansion=1))

    def test_aliases_count_towards_the_byte_limit_as_expanded(self):
        text = SHARED_POSTCODES.replace('["10115", "10117"]', json.dumps(["x" * 900] * 10))
        load_rules(text, RulesLimits(max_bytes=20_000))
        with pytest.raises(RulesInvalid, match="with its YAML aliases expanded"):
            load_rules(text, RulesLimits(max_bytes=15_000))


class TestConditionIndex:
    @staticmethod
    def territories(categories: list[str]) -> dict[str, Any]:
        """40 assignments of 8 postcodes each, none shared, spread over ``categories``."""
        territory = [
            {
                "id": f"a{n}",
                "partner": "p1",
                "category": categories[n % len(categories)],
                "filter": [
                    [
                        {
                            "field": "address.postcode",
                            "op": "in_list",
                            "value": [f"{n:02d}{k:03d}" for k in range(8)],
                        }
                    ]
                ],
            }
            for n in range(40)
        ]
        return rules(profiles=[{"id": "main", "assignments": territory}])

    def test_a_tier_whose_index_would_outgrow_the_limit_is_refused(self):
        # 40 OR-sets times 321 bitsets (320 postcodes and the empty value): 1,605 bytes.
        (error,) = refused(self.territories(["Service"]), RulesLimits(max_index_bytes=1600))
        assert error.startswith("profiles[0]: the condition indexes would take about 0 MiB")
        assert "(LEAD_ROUTER_RULES_MAX_INDEX_BYTES)" in error
        assert "category 'Service' here: 40 OR-sets times 321 distinct values and bounds" in error
        assert validate_document(self.territories(["Service"]), RulesLimits(max_index_bytes=1605))

    def test_the_same_assignments_over_two_categories_index_in_half_the_space(self):
        # Two tiers of 20 OR-sets times 161 bitsets: 402 bytes each.
        raw = self.territories(["Service", "Parts"])
        assert validate_document(raw, RulesLimits(max_index_bytes=804))
        assert refused(raw, RulesLimits(max_index_bytes=803))


def test_parts_from_the_config_topic_are_held_to_the_limits():
    parts = {
        "partner/p1": {"format": "json"},
        "partner/p2": {"format": "json"},
        "profile/main": {"assignments": assignments(3)},
    }
    assert document_from_parts(parts, RulesLimits(max_assignments=3))
    with pytest.raises(RulesInvalid, match="2 partners: at most 1"):
        document_from_parts(parts, RulesLimits(max_partners=1))


class TestSettings:
    def test_the_defaults_are_the_limits_defaults(self):
        assert load_settings().rules.rules_limits() == RulesLimits()

    def test_each_limit_has_an_environment_variable(self, monkeypatch):
        names = [name for name in RulesLimits.__dataclass_fields__]
        for number, name in enumerate(names, start=2):
            monkeypatch.setenv(f"LEAD_ROUTER_RULES_{name.upper()}", str(number))
        limits = load_settings().rules.rules_limits()
        assert [getattr(limits, name) for name in names] == list(range(2, len(names) + 2))

    def test_a_limit_below_one_is_a_settings_error(self, monkeypatch):
        monkeypatch.setenv("LEAD_ROUTER_RULES_MAX_BYTES", "0")
        with pytest.raises(InvalidInput, match="--rules-max-bytes / LEAD_ROUTER_RULES_MAX_BYTES"):
            load_settings()
