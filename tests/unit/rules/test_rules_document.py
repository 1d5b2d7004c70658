"""Contract section 4, the document: what is valid, and every error reported with its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from processor.errors import InvalidInput
from processor.rules import RulesDocument, RulesInvalid, load_rules, validate_document

CONTRACT_EXAMPLE = """\
fields:
  budget:    {type: number}
  lead_type: {type: string}
  ssn:       {type: string, encrypted: true}
partners:
  - id: crm-east
    name: East CRM
    format: adf_xml
    destinations: ["mailto:leads@east.example", "https://crm.example/hook"]
    location: {lat: 40.71, lon: -74.00}
    active: true
  - id: crm-bdc
    format: json
    destinations: ["https://bdc.example/hook"]
profiles:
  - id: acme
    sources: [acme-site]
    default: false
    strategy: first_match
    base_price: 25.0
    currency: USD
    nearest_store: {enabled: false, max_km: null, sources: [coords, postcode, ip]}
    max_partners: null
    fallback: crm-bdc
    assignments:
      - id: svc-ca
        partner: crm-east
        category: Service
        filter:
          - - {field: address.state, op: equals, value: CA}
            - {field: budget, op: gte, value: 100000}
          - - {field: address.state, op: equals, value: NY}
            - {field: budget, op: gte, value: 75000}
        price: 40.0
        weight: 1
"""


def errors_of(raw: Any) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        validate_document(raw)
    return [str(error) for error in caught.value.errors]


def one_condition(rules, cond: dict[str, Any], **document: Any) -> dict[str, Any]:
    return rules.document([rules.assignment("a", filter=[[cond]])], **document)


WHERE = "profiles[0].assignments[0].filter[0][0]"


class TestValidDocuments:
    def test_the_contract_example_is_valid(self):
        document = load_rules(CONTRACT_EXAMPLE)
        assert isinstance(document, RulesDocument)
        profile = document.profiles[0]
        assert profile.fallback is not None and profile.fallback.partner == "crm-bdc"
        assert profile.fallback_price == 25.0
        assert profile.assignments[0].filter[1][1].value == 75000
        assert document.fields["ssn"].encrypted

    def test_json_and_yaml_give_the_same_document(self, tmp_path: Path):
        from_yaml = load_rules(CONTRACT_EXAMPLE)
        as_json = json.dumps(from_yaml.model_dump(mode="json"))
        assert load_rules(as_json) == from_yaml
        file = tmp_path / "rules.json"
        file.write_text(as_json)
        assert load_rules(file) == from_yaml
        assert load_rules(str(file)) == from_yaml

    def test_defaults(self, rules):
        document = validate_document(rules.document([rules.assignment("a")]))
        profile, partner = document.profiles[0], document.partners[0]
        assert (profile.strategy, profile.base_price, profile.currency) == (
            "first_match",
            0.0,
            "USD",
        )
        assert profile.default is False and profile.fallback is None
        assert profile.nearest_store.enabled is False
        assert profile.nearest_store.sources == ("coords", "postcode", "ip")
        assert profile.max_partners is None
        item = profile.assignments[0]
        assert (item.category, item.filter, item.price, item.weight) == ("ALL", (), None, 1)
        assert partner.active is True

    def test_fallback_with_a_price(self, rules):
        raw = rules.document(fallback={"partner": "bdc", "price": 5.0}, base_price=20)
        assert validate_document(raw).profiles[0].fallback_price == 5.0

    def test_yaml_keeps_codes_that_yaml_1_1_would_mangle(self, rules):
        text = (
            "partners: [{id: p1, format: json}]\n"
            "profiles:\n"
            "  - id: main\n"
            "    assignments:\n"
            "      - id: a\n"
            "        partner: p1\n"
            "        filter: [[{field: address.country, op: in_list, value: [NO, ON, Y]},\n"
            "                  {field: address.postcode, op: equals, value: 01234},\n"
            "                  {field: comments, op: equals, value: 2024-05-01}]]\n"
        )
        conditions = load_rules(text).profiles[0].assignments[0].filter[0]
        assert [c.value for c in conditions] == [["NO", "ON", "Y"], "01234", "2024-05-01"]


class TestInvalidDocuments:
    def test_unknown_operator_with_its_full_path(self, rules):
        raw = rules.document(
            [
                rules.assignment("a"),
                rules.assignment("b"),
                rules.assignment(
                    "c",
                    filter=[
                        [rules.condition("comments", "is_empty")],
                        [rules.condition("address.state", "sounds_like", "CA")],
                    ],
                ),
            ]
        )
        assert errors_of(raw) == [
            "profiles[0].assignments[2].filter[1][0].op: unknown operator 'sounds_like'"
        ]

    def test_unknown_strategy(self, rules):
        assert errors_of(rules.document(strategy="random")) == [
            "profiles[0].strategy: unknown strategy 'random'"
        ]

    @pytest.mark.parametrize(
        ("sources", "error"),
        [
            (["ip", "coords", "ip"], ".sources: 'ip' listed more than once"),
            ([], ".sources: list at least one of 'coords', 'postcode', 'ip'"),
            (["gps"], ".sources[0]: Input should be 'coords', 'ip' or 'postcode'"),
            ("ip", ".sources: should be a list"),
        ],
    )
    def test_nearest_store_sources(self, rules, sources, error):
        raw = rules.document(nearest_store={"enabled": True, "sources": sources})
        assert errors_of(raw) == [f"profiles[0].nearest_store{error}"]

    @pytest.mark.parametrize(
        ("value", "error"),
        [
            (0, "Input should be greater than or equal to 1"),
            (True, "should be a number, not a boolean"),
            (1.5, "Input should be a valid integer, got a number with a fractional part"),
        ],
    )
    def test_max_partners_is_a_positive_whole_number(self, rules, value, error):
        raw = rules.document(strategy="all", max_partners=value)
        assert errors_of(raw) == [f"profiles[0].max_partners: {error}"]

    def test_conditions_on_encrypted_fields(self, rules):
        fields = {"ssn": {"type": "string", "encrypted": True}}
        for path in ("ssn", "fields.ssn"):
            raw = one_condition(rules, rules.condition(path, "is_empty"), fields=fields)
            assert errors_of(raw) == [
                f"{WHERE}.field: field '{path}' is encrypted: conditions on encrypted fields are "
                "not allowed"
            ]

    def test_a_variable_naming_an_encrypted_field(self, rules):
        fields = {"ssn": {"type": "string", "encrypted": True}}
        cond = rules.condition("comments", "equals", {"var": "ssn"})
        [error] = errors_of(one_condition(rules, cond, fields=fields))
        assert error.startswith(f"{WHERE}.value: field 'ssn' is encrypted")

    def test_undeclared_custom_field_when_fields_are_declared(self, rules):
        raw = one_condition(rules, rules.condition("budgt", "gt", 1), fields={"budget": {}})
        assert errors_of(raw) == [
            f"{WHERE}.field: unknown field 'budgt': not among the declared fields (budget)"
        ]

    def test_any_custom_field_when_none_are_declared(self, rules):
        validate_document(one_condition(rules, rules.condition("budgt", "gt", 1)))

    @pytest.mark.parametrize("path", ["address.zip", "visitor.ip", "geo.street", "lead.id", " x"])
    def test_unknown_field_paths(self, rules, path):
        [error] = errors_of(one_condition(rules, rules.condition(path, "is_empty")))
        assert error.startswith(f"{WHERE}.field: unknown field")

    def test_dangling_partner_references(self, rules):
        raw = rules.document([rules.assignment("a", partner="ghost")], fallback="nobody")
        assert errors_of(raw) == [
            "profiles[0].fallback.partner: unknown partner 'nobody'",
            "profiles[0].assignments[0].partner: unknown partner 'ghost'",
        ]

    def test_duplicate_ids(self, rules):
        partners = [{"id": "p1", "format": "json"}, {"id": "p1", "format": "text"}]
        raw = rules.document(
            [rules.assignment("a"), rules.assignment("a")],
            partners=partners,
            profiles=[{"id": "main", "sources": ["site-b"]}],
        )
        assert errors_of(raw) == [
            "partners[1].id: duplicate partner id 'p1' (first at partners[0].id)",
            "profiles[0].assignments[1].id: duplicate assignment id 'a' (first at "
            "profiles[0].assignments[0].id)",
            "profiles[1].id: duplicate profile id 'main' (first at profiles[0].id)",
        ]

    def test_the_same_assignment_id_in_two_profiles_is_fine(self, rules):
        other = {"id": "other", "sources": ["site-b"], "assignments": [rules.assignment("a")]}
        validate_document(rules.document([rules.assignment("a")], profiles=[other]))

    def test_more_than_one_default_profile(self, rules):
        raw = rules.document(default=True, profiles=[{"id": "second", "default": True}])
        assert errors_of(raw) == [
            "profiles[1].default: more than one default profile (profiles[0] is one already)"
        ]

    def test_a_site_in_two_profiles(self, rules):
        raw = rules.document(profiles=[{"id": "second", "sources": [" SITE-A"]}])
        assert errors_of(raw) == [
            "profiles[1].sources[0]: duplicate source ' SITE-A' (first at profiles[0].sources[0])"
        ]

    @pytest.mark.parametrize("bad_id", ["Crm", "-crm", "crm east", "c" * 65, "crm/east", ""])
    def test_bad_partner_ids(self, rules, bad_id):
        [error] = errors_of(rules.document(partners=[{"id": bad_id, "format": "json"}]))
        assert error.startswith("partners[0].id: ")

    @pytest.mark.parametrize(
        "uri", ["file://../../etc", "file://deliveries/../../x", "file:///srv/%2E%2E/etc"]
    )
    def test_a_file_destination_climbing_out_with_dot_dot(self, rules, uri):
        partner = {"id": "p1", "format": "json", "destinations": ["https://ok.example", uri]}
        [error] = errors_of(rules.document(partners=[partner]))
        assert error == (
            "partners[0].destinations[1]: a file: destination may not contain '..': "
            "it could lead out of DELIVERIES_DIR"
        )

    @pytest.mark.parametrize("uri", ["file://deliveries/p1", "file:///srv/leads/p1..old"])
    def test_file_destinations_without_dot_dot_are_fine(self, rules, uri):
        partner = {"id": "p1", "format": "json", "destinations": [uri]}
        assert validate_document(rules.document(partners=[partner])).partners[0].destinations == (
            uri,
        )

    @pytest.mark.parametrize(
        ("cond", "message"),
        [
            (("budget", "between", [1]), "between needs two numbers: [low, high]"),
            (("budget", "between", [1, "x"]), "between needs two numbers: [low, high]"),
            (("budget", "between", 5), "between needs two numbers: [low, high]"),
            (("budget", "between", [5, 1]), "between needs low <= high, got [5, 1]"),
            (("budget", "gt", "many"), "gt needs a number"),
            (("budget", "gte", True), "gte needs a number"),
            (("geo", "within_km", {"lat": 1, "lon": 2}), "within_km needs {lat, lon, km}"),
            (("geo", "within_km", [1, 2, 3]), "within_km needs {lat, lon, km}"),
            (("geo", "within_km", {"lat": 1, "lon": 2, "km": -1}), "within_km needs km >= 0"),
            (("comments", "in_list", []), "in_list needs a non-empty list of values"),
            (("comments", "not_in_list", "x"), "not_in_list needs a non-empty list of values"),
            (("comments", "is_empty", "x"), "is_empty takes no value"),
            (("comments", "equals", None), "equals needs a string, number or boolean"),
            (("comments", "equals", [1]), "equals needs a string, number or boolean"),
            (("comments", "contains", " "), "contains needs a non-empty value; use is_empty"),
            (("comments", "in_list", {"var": "x"}), "in_list cannot compare with a variable"),
            (("comments", "in_list", [{"var": "x"}]), "each item of in_list needs a string"),
            (("comments", "equals", {"var": "nowhere.x"}), "unknown field 'nowhere.x'"),
            (("comments", "equals", {"var": 3}), "a variable is written {var: <field path>}"),
        ],
    )  # fmt: skip
    def test_malformed_values(self, rules, cond, message):
        [error] = errors_of(one_condition(rules, rules.condition(*cond)))
        assert error.startswith(f"{WHERE}.value: {message}")

    def test_matches_needs_a_valid_regular_expression(self, rules):
        [error] = errors_of(one_condition(rules, rules.condition("comments", "matches", "([a-z")))
        assert error.startswith(f"{WHERE}.value: matches needs a valid regular expression: ")

    @pytest.mark.parametrize(
        ("pattern", "reason"),
        [
            (r"(a+)\1", "invalid escape sequence: \\1"),
            (r"^(?=.*@)", "invalid perl operator: (?="),
            (r"(?<!x)y", "invalid perl operator: (?<!"),
        ],
    )
    def test_matches_refuses_what_re2_cannot_run_in_linear_time(self, rules, pattern, reason):
        """Backreferences and lookaround need backtracking, which has no bound on its time."""
        [error] = errors_of(one_condition(rules, rules.condition("comments", "matches", pattern)))
        assert error == (
            f"{WHERE}.value: matches needs a valid regular expression: {reason} "
            "(RE2 syntax, which has no backreferences or lookaround)"
        )

    def test_within_km_takes_only_the_geo_field(self, rules):
        point = {"lat": 1, "lon": 2, "km": 3}
        raw = one_condition(rules, rules.condition("address.city", "within_km", point))
        assert errors_of(raw) == [f"{WHERE}.op: within_km needs field 'geo', not 'address.city'"]
        raw = one_condition(rules, rules.condition("geo", "equals", "x"))
        assert errors_of(raw) == [f"{WHERE}.op: field 'geo' takes only the within_km operator"]

    def test_an_empty_or_set(self, rules):
        raw = rules.document([rules.assignment("a", filter=[[]])])
        assert errors_of(raw) == [
            "profiles[0].assignments[0].filter[0]: an OR-set needs at least one condition "
            "(write filter: [] to match every lead)"
        ]

    def test_structure_errors(self, rules):
        raw = rules.document([{"id": "a", "partner": "p1", "filtr": [], "weight": 0}])
        raw["partners"][0]["format"] = "pdf"
        del raw["partners"][1]["format"]
        raw["profiles"][0]["currency"] = "usd"
        assert errors_of(raw) == [
            "partners[0].format: Input should be 'adf_xml', 'json' or 'text'",
            "partners[1].format: required",
            "profiles[0].assignments[0].filtr: unknown key",
            "profiles[0].assignments[0].weight: Input should be greater than or equal to 1",
            "profiles[0].currency: String should match pattern '^[A-Z]{3}$'",
        ]

    def test_booleans_are_not_prices(self, rules):
        assert errors_of(rules.document(base_price=True)) == [
            "profiles[0].base_price: should be a number, not a boolean"
        ]

    def test_every_error_is_reported_at_once_in_document_order(self, rules):
        raw = rules.document(
            [
                rules.assignment("a", partner="ghost"),
                rules.assignment("a", filter=[[rules.condition("x", "nope")]]),
            ],
            strategy="random",
        )
        assert errors_of(raw) == [
            "profiles[0].strategy: unknown strategy 'random'",
            "profiles[0].assignments[0].partner: unknown partner 'ghost'",
            "profiles[0].assignments[1].id: duplicate assignment id 'a' (first at "
            "profiles[0].assignments[0].id)",
            "profiles[0].assignments[1].filter[0][0].op: unknown operator 'nope'",
        ]

    def test_not_a_mapping(self):
        assert errors_of([1, 2]) == [
            "<document>: a rules document is a mapping of fields, partners, profiles"
        ]


class TestLoading:
    def test_rules_invalid_is_invalid_input_and_lists_every_error(self, rules):
        raw = rules.document(
            [rules.assignment("a", partner="x"), rules.assignment("b", partner="y")]
        )
        with pytest.raises(InvalidInput) as caught:
            validate_document(raw)
        text = str(caught.value)
        assert "2 errors" in text
        assert "profiles[0].assignments[0].partner: unknown partner 'x'" in text
        assert "profiles[0].assignments[1].partner: unknown partner 'y'" in text
        assert caught.value.exit_code == 1

    def test_syntax_errors_say_where(self):
        with pytest.raises(RulesInvalid) as caught:
            load_rules("partners:\n  - id: [1,\n")
        [error] = caught.value.errors
        assert error.path == "<document>"
        assert error.message.startswith("not valid YAML or JSON: line 3")

    def test_a_key_given_twice_is_an_error(self):
        with pytest.raises(RulesInvalid, match="duplicate key 'partners'"):
            load_rules("partners: []\npartners: []\n")
        with pytest.raises(RulesInvalid, match="duplicate key 'partners'"):
            load_rules('{"partners": [], "partners": []}')

    def test_a_missing_file(self, tmp_path: Path):
        with pytest.raises(InvalidInput, match="cannot read rules file"):
            load_rules(tmp_path / "nope.yaml")


def test_a_filter_written_as_one_list_of_conditions_is_told_to_nest_it():
    raw = {
        "partners": [{"id": "p1", "format": "json"}],
        "profiles": [
            {
                "id": "main",
                "assignments": [
                    {
                        "id": "a",
                        "partner": "p1",
                        "filter": [{"field": "address.state", "op": "equals", "value": "CA"}],
                    }
                ],
            }
        ],
    }
    with pytest.raises(RulesInvalid) as caught:
        validate_document(raw)
    assert [str(error) for error in caught.value.errors] == [
        "profiles[0].assignments[0].filter[0]: should be a list of conditions, not one: a filter "
        "is a list of OR-sets, each a list of conditions, so write filter: [[{...}]]"
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("partners:\n\t- id: p1\n", 2),
        ("partners:\n  - id: p1\n\t  format: json\n", 3),
        ("profiles:\n  - id: a\n    sources:\n \t  - x\n", 4),
    ],
)
def test_tab_indentation_is_named(text, line):
    with pytest.raises(RulesInvalid) as caught:
        load_rules(text)
    assert [str(error) for error in caught.value.errors] == [
        f"<document>: not valid YAML: indented with a tab at line {line}; YAML indents with spaces"
    ]
