"""Lint: valid rules that probably do not do what was meant."""

from __future__ import annotations

from processor.rules import lint, validate_document

NY = [[{"field": "address.state", "op": "equals", "value": "NY"}]]


def findings(rules, raw) -> list[tuple[str, str]]:
    return [(f.code, f.path) for f in lint(validate_document(raw))]


def codes(rules, raw) -> set[str]:
    return {code for code, _ in findings(rules, raw)}


def test_a_tidy_document_has_no_warnings(rules):
    raw = rules.document(
        [rules.assignment("a", "p1", filter=NY), rules.assignment("b", "p2")],
        partners=[
            {"id": "p1", "format": "json", "destinations": ["https://p1"]},
            {"id": "p2", "format": "json", "destinations": ["https://p2"]},
            {"id": "bdc", "format": "json", "destinations": ["https://bdc"]},
        ],
        fallback="bdc",
    )
    assert lint(validate_document(raw)) == []


def test_shadowed_by_an_earlier_catch_all_under_first_match(rules):
    raw = rules.document(
        [rules.assignment("all"), rules.assignment("later", filter=NY)], fallback="bdc"
    )
    assert ("shadowed", "profiles[0].assignments[1]") in findings(rules, raw)


def test_shadowed_by_an_earlier_identical_filter(rules):
    raw = rules.document(
        [rules.assignment("a", filter=NY), rules.assignment("b", "p2", filter=NY)], fallback="bdc"
    )
    assert ("shadowed", "profiles[0].assignments[1]") in findings(rules, raw)


def test_no_shadowing_across_tiers_or_under_rotating_strategies(rules):
    across = rules.document(
        [rules.assignment("all"), rules.assignment("svc", category="Service")], fallback="bdc"
    )
    assert "shadowed" not in codes(rules, across)
    rotating = rules.document(
        [rules.assignment("all"), rules.assignment("b")], fallback="bdc", strategy="round_robin"
    )
    assert "shadowed" not in codes(rules, rotating)


def test_an_inactive_partner_is_never_chosen(rules):
    raw = rules.document(
        [rules.assignment("a", "p1", filter=NY)],
        partners=[{"id": "p1", "format": "json", "active": False}, {"id": "bdc", "format": "json"}],
        fallback="bdc",
    )
    assert ("inactive-partner", "profiles[0].assignments[0].partner") in findings(rules, raw)


def test_an_inactive_fallback_partner(rules):
    raw = rules.document(
        [rules.assignment("a")],
        partners=[{"id": "p1", "format": "json"}, {"id": "bdc", "format": "json", "active": False}],
        fallback="bdc",
    )
    assert ("inactive-partner", "profiles[0].fallback") in findings(rules, raw)


def test_a_category_without_all_or_fallback_behind_it(rules):
    raw = rules.document([rules.assignment("svc", filter=NY, category="Service")])
    assert ("no-fallback-for-category", "profiles[0].assignments[0].category") in findings(
        rules, raw
    )
    covered = rules.document(
        [rules.assignment("svc", filter=NY, category="Service"), rules.assignment("all", filter=NY)]
    )
    assert "no-fallback-for-category" not in codes(rules, covered)


def test_a_profile_without_fallback_can_leave_leads_unroutable(rules):
    raw = rules.document([rules.assignment("a", filter=NY)])
    assert ("no-fallback", "profiles[0]") in findings(rules, raw)
    catch_all = rules.document([rules.assignment("a")])
    assert "no-fallback" not in codes(rules, catch_all)


def test_partners_never_referenced(rules):
    raw = rules.document([rules.assignment("a", "p1")], fallback="bdc")
    assert {path for code, path in findings(rules, raw) if code == "unused-partner"} == {
        "partners[1]",
        "partners[2]",
    }


def test_prices_below_zero(rules):
    raw = rules.document(
        [rules.assignment("a", price=-1)],
        base_price=-2,
        fallback={"partner": "bdc", "price": -3},
    )
    negative = {path for code, path in findings(rules, raw) if code == "negative-price"}
    assert negative == {
        "profiles[0].base_price",
        "profiles[0].fallback",
        "profiles[0].assignments[0].price",
    }


def test_a_fallback_inheriting_a_negative_base_price(rules):
    raw = rules.document(base_price=-2, fallback="bdc")
    negative = {path for code, path in findings(rules, raw) if code == "negative-price"}
    assert negative == {"profiles[0].base_price", "profiles[0].fallback"}


def test_contradictory_conditions_never_match(rules):
    contradiction = [
        {"field": "address.state", "op": "equals", "value": "NY"},
        {"field": "address.state", "op": "in_list", "value": ["CA", "TX"]},
    ]
    empty_range = [
        {"field": "budget", "op": "gt", "value": 5},
        {"field": "budget", "op": "lt", "value": 5},
    ]
    raw = rules.document(
        [
            rules.assignment("never", filter=[contradiction, empty_range]),
            rules.assignment("partly", filter=[NY[0], contradiction]),
        ],
        fallback="bdc",
    )
    found = findings(rules, raw)
    assert ("never-matches", "profiles[0].assignments[0].filter") in found
    assert ("never-matches", "profiles[0].assignments[1].filter[1]") in found
    assert ("never-matches", "profiles[0].assignments[1].filter[0]") not in found


def test_a_condition_on_interest_category_against_its_own_category_never_matches(rules):
    other = {"field": "interest_category", "op": "equals", "value": "New Models"}
    same = {"field": "interest_category", "op": "in_list", "value": ["service", "Parts"]}
    raw = rules.document(
        [
            rules.assignment("wrong", category="Service", filter=[[other]]),
            rules.assignment("right", category="Service", filter=[[same], [other]]),
            rules.assignment("anywhere", category="ALL", filter=[[other]]),
        ],
        fallback="bdc",
    )
    found = findings(rules, raw)
    assert ("never-matches", "profiles[0].assignments[0].filter") in found
    assert ("never-matches", "profiles[0].assignments[1].filter[1]") in found
    assert ("never-matches", "profiles[0].assignments[1].filter[0]") not in found  # case folds
    assert not any(path.startswith("profiles[0].assignments[2]") for _, path in found)


def test_a_profile_no_lead_reaches(rules):
    raw = rules.document(profiles=[{"id": "orphan"}])
    assert ("unreachable-profile", "profiles[1]") in findings(rules, raw)


def test_nearest_store_without_any_location(rules):
    raw = rules.document([rules.assignment("a")], nearest_store={"enabled": True})
    assert ("nearest-without-locations", "profiles[0].nearest_store") in findings(rules, raw)


def test_max_partners_under_a_strategy_it_cannot_limit(rules):
    for strategy in ("first_match", "highest_price"):
        raw = rules.document([rules.assignment("a")], strategy=strategy, max_partners=2)
        assert ("max-partners-unused", "profiles[0].max_partners") in findings(rules, raw)
    raw = rules.document([rules.assignment("a")], strategy="all", max_partners=2)
    assert "max-partners-unused" not in codes(rules, raw)


def test_partner_without_destinations(rules):
    raw = rules.document([rules.assignment("a")], partners=[{"id": "p1", "format": "json"}])
    assert ("no-destinations", "partners[0].destinations") in findings(rules, raw)


def test_a_bare_name_a_lead_carries_elsewhere_names_the_likely_field(rules):
    raw = rules.document(
        [
            rules.assignment(
                "a",
                filter=[
                    [
                        rules.condition("email", "ends_with", "@example.com"),
                        rules.condition("Site", "equals", "site-a"),
                        rules.condition("zip", "equals", {"var": "state"}),
                    ]
                ],
            )
        ]
    )
    messages = {
        f.path: f.message for f in lint(validate_document(raw)) if f.code == "not-a-lead-field"
    }
    where = "profiles[0].assignments[0].filter[0]"
    assert messages == {
        f"{where}[0].field": "'email' is read from the lead's custom fields (fields.email), "
        "which leads seldom carry: did you mean 'contact.email'?",
        f"{where}[1].field": "'Site' is read from the lead's custom fields (fields.Site), "
        "which leads seldom carry: did you mean 'site_id'?",
        f"{where}[2].field": "'zip' is read from the lead's custom fields (fields.zip), "
        "which leads seldom carry: did you mean 'address.postcode'?",
        f"{where}[2].value": "'state' is read from the lead's custom fields (fields.state), "
        "which leads seldom carry: did you mean 'address.state'?",
    }


def test_a_lead_field_no_condition_tests_is_named_as_such(rules):
    raw = rules.document(
        [rules.assignment("a", filter=[[rules.condition("submitted_at", "is_not_empty")]])]
    )
    (finding,) = [f for f in lint(validate_document(raw)) if f.code == "not-a-lead-field"]
    assert finding.message == (
        "'submitted_at' is read from the lead's custom fields (fields.submitted_at): the lead's "
        "own submitted_at is not a field conditions can test"
    )


def test_declared_custom_fields_are_not_second_guessed(rules):
    raw = rules.document(
        [rules.assignment("a", filter=[[rules.condition("email", "is_not_empty")]])],
        fields={"email": {"type": "string"}},
    )
    assert "not-a-lead-field" not in codes(rules, raw)


def test_custom_fields_no_lead_field_resembles_pass(rules):
    raw = rules.document(
        [rules.assignment("a", filter=[[rules.condition("budget", "gt", 5)]])],
    )
    assert "not-a-lead-field" not in codes(rules, raw)
