"""Contract section 4, semantics: how each operator compares a lead's field with a rule's value.

Every check goes through ``rules.matches``, which evaluates the condition with the condition index
and with the plain reference evaluator and fails when they disagree.
"""

from __future__ import annotations

from typing import Any

import pytest

from processor.geometry.geo import Geo


def state(value: Any) -> dict[str, Any]:
    return {"address": {"state": value}}


class TestStrings:
    def test_equals_ignores_case_and_surrounding_whitespace(self, rules):
        cond = rules.condition("address.state", "equals", "CA")
        assert rules.matches(cond, rules.lead(**state("  ca ")))
        assert rules.matches(cond, rules.lead(**state("Ca")))
        assert not rules.matches(cond, rules.lead(**state("C A")))

    def test_rule_value_whitespace_and_case_are_ignored_too(self, rules):
        cond = rules.condition("address.state", "equals", " ny ")
        assert rules.matches(cond, rules.lead(**state("NY")))

    def test_in_list_ignores_case(self, rules):
        cond = rules.condition("address.state", "in_list", ["CA", "NY"])
        assert rules.matches(cond, rules.lead(**state("ny")))
        assert not rules.matches(cond, rules.lead(**state("TX")))

    def test_contains_starts_with_ends_with_ignore_case(self, rules):
        lead = rules.lead(comments="  Looking to TRADE my car  ")
        assert rules.matches(rules.condition("comments", "contains", "trade"), lead)
        assert rules.matches(rules.condition("comments", "starts_with", "looking"), lead)
        assert rules.matches(rules.condition("comments", "ends_with", "CAR"), lead)
        assert not rules.matches(rules.condition("comments", "starts_with", "trade"), lead)

    def test_not_equals_and_not_contains(self, rules):
        lead = rules.lead(**state("CA"), comments="lease deal")
        assert not rules.matches(rules.condition("address.state", "not_equals", "ca"), lead)
        assert rules.matches(rules.condition("address.state", "not_equals", "NY"), lead)
        assert not rules.matches(rules.condition("comments", "not_contains", "LEASE"), lead)
        assert rules.matches(rules.condition("comments", "not_contains", "trade"), lead)

    def test_not_in_list(self, rules):
        cond = rules.condition("address.state", "not_in_list", ["CA", "NY"])
        assert not rules.matches(cond, rules.lead(**state("ca")))
        assert rules.matches(cond, rules.lead(**state("TX")))


class TestNumbers:
    @pytest.mark.parametrize("lead_value", [10115, "10115", " 10115 ", 10115.0, "10115.0"])
    def test_numeric_string_and_number_compare_as_numbers(self, rules, lead_value):
        cond = rules.condition("address.postcode", "equals", 10115)
        assert rules.matches(cond, rules.lead(address={"postcode": lead_value}))

    def test_numeric_rule_value_as_string_equals_number(self, rules):
        cond = rules.condition("address.postcode", "equals", "10115")
        assert rules.matches(cond, rules.lead(address={"postcode": 10115}))

    def test_numbers_in_lists(self, rules):
        cond = rules.condition("vehicle.year", "in_list", ["2020", 2021])
        assert rules.matches(cond, rules.lead(vehicle={"year": 2020}))
        assert rules.matches(cond, rules.lead(vehicle={"year": "2021"}))
        assert not rules.matches(cond, rules.lead(vehicle={"year": 2022}))

    @pytest.mark.parametrize(
        ("op", "bound", "holds_for", "fails_for"),
        [
            ("gt", 100, [101, "100.5"], [100, 99]),
            ("gte", 100, [100, "100", 150], [99.99]),
            ("lt", 100, [99, "-5"], [100, 101]),
            ("lte", 100, [100, 0], [100.01]),
        ],
    )
    def test_comparisons(self, rules, op, bound, holds_for, fails_for):
        cond = rules.condition("budget", op, bound)
        for value in holds_for:
            assert rules.matches(cond, rules.lead(fields={"budget": value})), value
        for value in fails_for:
            assert not rules.matches(cond, rules.lead(fields={"budget": value})), value

    def test_between_is_inclusive(self, rules):
        cond = rules.condition("budget", "between", [10, 20])
        for value in (10, 15, "20", 20.0):
            assert rules.matches(cond, rules.lead(fields={"budget": value})), value
        for value in (9.999, 20.001):
            assert not rules.matches(cond, rules.lead(fields={"budget": value})), value

    @pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte", "between"])
    @pytest.mark.parametrize("not_a_number", ["lots", True, False, "1_000", "nan", "inf", [1]])
    def test_a_value_that_is_not_a_number_makes_ranges_false(self, rules, op, not_a_number):
        value: Any = [0, 10**9] if op == "between" else (0 if op.startswith("g") else 10**9)
        cond = rules.condition("budget", op, value)
        assert not rules.matches(cond, rules.lead(fields={"budget": not_a_number}))


class TestBooleans:
    @pytest.mark.parametrize("rule_value", [True, "true", "TRUE"])
    def test_boolean_equals_true(self, rules, rule_value):
        cond = rules.condition("vip", "equals", rule_value)
        assert rules.matches(cond, rules.lead(fields={"vip": True}))
        assert not rules.matches(cond, rules.lead(fields={"vip": False}))

    def test_boolean_equals_false(self, rules):
        cond = rules.condition("vip", "equals", False)
        assert rules.matches(cond, rules.lead(fields={"vip": False}))
        assert rules.matches(cond, rules.lead(fields={"vip": "false"}))

    def test_booleans_are_not_numbers(self, rules):
        assert not rules.matches(
            rules.condition("vip", "equals", 1), rules.lead(fields={"vip": True})
        )
        assert not rules.matches(
            rules.condition("vip", "equals", True), rules.lead(fields={"vip": 1})
        )


EMPTY_VALUES = [None, "", "   ", [], "MISSING"]


def lead_with_empty(rules, value: Any) -> dict[str, Any]:
    if value == "MISSING":
        return rules.lead(fields={})
    return rules.lead(fields={"budget": value})


class TestEmptiness:
    @pytest.mark.parametrize("value", EMPTY_VALUES)
    def test_is_empty_for_missing_null_blank_and_empty_list(self, rules, value):
        lead = lead_with_empty(rules, value)
        assert rules.matches(rules.condition("budget", "is_empty"), lead)
        assert not rules.matches(rules.condition("budget", "is_not_empty"), lead)

    @pytest.mark.parametrize("value", [0, "0", False, "x", [0]])
    def test_not_empty_values(self, rules, value):
        lead = rules.lead(fields={"budget": value})
        assert not rules.matches(rules.condition("budget", "is_empty"), lead)
        assert rules.matches(rules.condition("budget", "is_not_empty"), lead)

    @pytest.mark.parametrize("value", EMPTY_VALUES)
    @pytest.mark.parametrize(
        ("op", "operand"),
        [("not_equals", "x"), ("not_in_list", ["x", 1]), ("not_contains", "x")],
    )
    def test_negative_operators_are_true_when_the_field_is_empty(self, rules, value, op, operand):
        assert rules.matches(rules.condition("budget", op, operand), lead_with_empty(rules, value))

    @pytest.mark.parametrize("value", EMPTY_VALUES)
    @pytest.mark.parametrize(
        ("op", "operand"),
        [
            ("equals", "x"),
            ("in_list", ["x"]),
            ("contains", "x"),
            ("starts_with", "x"),
            ("ends_with", "x"),
            ("gt", -1),
            ("gte", -1),
            ("lt", 1),
            ("lte", 1),
            ("between", [-1, 1]),
            ("matches", ".*"),
        ],
    )
    def test_every_other_operator_is_false_when_the_field_is_empty(self, rules, value, op, operand):
        cond = rules.condition("budget", op, operand)
        assert not rules.matches(cond, lead_with_empty(rules, value))

    def test_a_missing_section_reads_as_empty(self, rules):
        lead = rules.lead(address=None, vehicle=None)
        assert rules.matches(rules.condition("address.state", "is_empty"), lead)
        assert rules.matches(rules.condition("vehicle.make", "not_equals", "Ford"), lead)
        assert not rules.matches(rules.condition("vehicle.make", "equals", "Ford"), lead)


class TestMatches:
    def test_searches_case_insensitively(self, rules):
        cond = rules.condition("contact.email", "matches", r"@GMAIL\.com$")
        assert rules.matches(cond, rules.lead(contact={"email": "ann@gmail.com"}))
        assert not rules.matches(cond, rules.lead(contact={"email": "ann@gmail.com.evil"}))

    def test_searches_rather_than_anchors(self, rules):
        cond = rules.condition("comments", "matches", r"trade[- ]?in")
        assert rules.matches(cond, rules.lead(comments="I have a Trade-In"))

    def test_searches_the_text_of_a_number(self, rules):
        cond = rules.condition("address.postcode", "matches", r"^101\d\d$")
        assert rules.matches(cond, rules.lead(address={"postcode": 10115}))

    def test_a_catastrophic_backtracking_pattern_runs_in_linear_time(self, rules):
        """``(a+)+$`` on 40 ``a``s and a ``!`` took a backtracking engine about a day; RE2 reads
        the text once. No timing is asserted: a slow engine would not finish at all."""
        cond = rules.condition("comments", "matches", "(a+)+$")
        assert not rules.matches(cond, rules.lead(comments="a" * 40 + "!"))
        assert not rules.matches(cond, rules.lead(comments="a" * 100_000 + "!"))
        assert rules.matches(cond, rules.lead(comments="!" + "A" * 100_000))

    def test_text_that_is_not_unicode_is_searched_with_replacement_characters(self, rules):
        cond = rules.condition("comments", "matches", "x.y")
        assert rules.matches(cond, rules.lead(comments="x\ud800y"))
        assert not rules.matches(cond, rules.lead(comments="\ud800"))


BERLIN = {"lat": 52.52, "lon": 13.405, "km": 50}


class TestWithinKm:
    def test_true_within_the_radius(self, rules):
        cond = rules.condition("geo", "within_km", BERLIN)
        potsdam = Geo(52.39, 13.06, "coords")
        assert rules.matches(cond, rules.lead(), potsdam)

    def test_false_outside_the_radius(self, rules):
        cond = rules.condition("geo", "within_km", BERLIN)
        hamburg = Geo(53.55, 9.99, "coords")
        assert not rules.matches(cond, rules.lead(), hamburg)

    def test_false_without_geolocation(self, rules):
        cond = rules.condition("geo", "within_km", BERLIN)
        assert not rules.matches(cond, rules.lead(), None)

    def test_the_radius_is_inclusive_and_longitude_matters(self, rules):
        # Same latitude, 1 degree of longitude at the equator is about 111.2 km.
        cond = rules.condition("geo", "within_km", {"lat": 0, "lon": 0, "km": 111.3})
        assert rules.matches(cond, rules.lead(), Geo(0.0, 1.0, "ip"))
        assert not rules.matches(cond, rules.lead(), Geo(0.0, 1.01, "ip"))


class TestVariables:
    def test_equals_another_field(self, rules):
        cond = rules.condition("address.state", "equals", {"var": "geo.region"})
        geo = Geo(34.0, -118.2, "ip", region="ca")
        assert rules.matches(cond, rules.lead(**state(" CA")), geo)
        assert not rules.matches(cond, rules.lead(**state("NY")), geo)

    def test_an_empty_variable_makes_positive_operators_false(self, rules):
        lead = rules.lead(**state("CA"))
        assert not rules.matches(
            rules.condition("address.state", "equals", {"var": "offer_id"}), lead
        )
        assert rules.matches(
            rules.condition("address.state", "not_equals", {"var": "offer_id"}), lead
        )

    def test_numeric_comparison_with_a_variable(self, rules):
        cond = rules.condition("budget", "gte", {"var": "fields.minimum"})
        assert rules.matches(cond, rules.lead(fields={"budget": "500", "minimum": 400}))
        assert not rules.matches(cond, rules.lead(fields={"budget": 300, "minimum": 400}))
        assert not rules.matches(cond, rules.lead(fields={"budget": 300, "minimum": "n/a"}))

    def test_text_operator_with_a_variable(self, rules):
        cond = rules.condition("contact.email", "contains", {"var": "contact.last_name"})
        lead = rules.lead(contact={"email": "ann.lee@example.com", "last_name": "LEE"})
        assert rules.matches(cond, lead)


class TestFieldPaths:
    @pytest.mark.parametrize(
        ("path", "lead_changes"),
        [
            ("site_id", {"site_id": "site-a"}),
            ("interest_category", {"interest_category": "site-a"}),
            ("offer_id", {"offer_id": "site-a"}),
            ("comments", {"comments": "site-a"}),
            ("contact.email", {"contact": {"email": "site-a"}}),
            ("address.city", {"address": {"city": "site-a"}}),
            ("vehicle.make", {"vehicle": {"make": "site-a"}}),
            ("lead_type", {"fields": {"lead_type": "site-a"}}),
            ("fields.lead_type", {"fields": {"lead_type": "site-a"}}),
        ],
    )
    def test_each_kind_of_path_reads_its_field(self, rules, path, lead_changes):
        cond = rules.condition(path, "equals", "site-a")
        assert rules.matches(cond, rules.lead(**lead_changes))
        assert not rules.matches(cond, rules.lead(site_id="other"))

    @pytest.mark.parametrize("attribute", ["country", "region", "city", "postcode", "lat", "lon"])
    def test_geo_paths_read_the_enriched_geolocation(self, rules, attribute):
        geo = Geo(52.5, 13.4, "postcode", "DE", "BE", "Berlin", "10115", 5.0)
        value = getattr(geo, attribute)
        cond = rules.condition(f"geo.{attribute}", "equals", value)
        assert rules.matches(cond, rules.lead(), geo)
        assert not rules.matches(cond, rules.lead(), None)

    def test_bare_and_prefixed_custom_names_are_the_same_field(self, rules):
        lead = rules.lead(fields={"budget": 5})
        bare = rules.condition("budget", "equals", 5)
        prefixed = rules.condition("fields.budget", "equals", 5)
        assert rules.matches(bare, lead) and rules.matches(prefixed, lead)
