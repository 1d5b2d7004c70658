"""Caps, duplicate spans and duplicate checks in a rules document: each mistake at its path."""

from __future__ import annotations

from typing import Any

import pytest

from processor.rules import RulesInvalid, validate_document


def errors_of(raw: Any) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        validate_document(raw)
    return [str(error) for error in caught.value.errors]


def partner(id: str = "p1", **extra: Any) -> dict[str, Any]:
    return {"id": id, "format": "json", **extra}


def capped(rules, *caps: dict[str, Any], **profile: Any) -> dict[str, Any]:
    """One partner with ``caps``, sold by the main profile."""
    return rules.document(
        [rules.assignment("a", "p1")], partners=[partner(caps=list(caps))], **profile
    )


def test_a_document_with_every_new_field_is_valid(rules):
    raw = rules.document(
        [
            rules.assignment(
                "a", "p1", caps=[{"per": "hour", "leads": 5}, {"per": "day", "leads": 20}]
            )
        ],
        partners=[
            partner(
                caps=[
                    {"per": "week", "leads": 100},
                    {"per": "month", "revenue": 2500.5, "currency": "EUR"},
                    {"per": "total", "leads": 1000},
                ],
                reject_duplicates_within="30d",
            )
        ],
        currency="EUR",
        duplicates={"keys": ["contact.email", "contact.phone"], "within": "12h"},
    )
    document = validate_document(raw)
    caps = document.partners[0].caps
    assert [(cap.per, cap.unit, cap.limit) for cap in caps] == [
        ("week", "leads", 100.0),
        ("month", "revenue EUR", 2500.5),
        ("total", "leads", 1000.0),
    ]
    assert document.partners[0].reject_duplicates_within == "30d"
    profile = document.profiles[0]
    assert profile.duplicates is not None
    assert profile.duplicates.keys == ("contact.email", "contact.phone")
    assert profile.duplicates.within == "12h"


@pytest.mark.parametrize(
    ("cap", "error"),
    [
        (
            {"per": "day", "leads": 5, "revenue": 10, "currency": "USD"},
            "partners[0].caps[0]: a cap counts either leads or revenue: give one of them",
        ),
        (
            {"per": "day"},
            "partners[0].caps[0]: a cap counts either leads or revenue: give one of them",
        ),
        (
            {"per": "day", "revenue": 10},
            "partners[0].caps[0]: a revenue cap needs its currency, e.g. currency: USD",
        ),
        (
            {"per": "day", "leads": 5, "currency": "USD"},
            "partners[0].caps[0]: a currency goes with a revenue cap, not a leads cap",
        ),
        (
            {"per": "year", "leads": 5},
            "partners[0].caps[0].per: unknown cap window 'year': use hour, day, week, month, total",
        ),
        ({"leads": 5}, "partners[0].caps[0].per: required"),
        (
            {"per": "day", "leads": 0},
            "partners[0].caps[0].leads: Input should be greater than or equal to 1",
        ),
        (
            {"per": "day", "leads": True},
            "partners[0].caps[0].leads: should be a number, not a boolean",
        ),
        (
            {"per": "day", "leads": 2.5},
            "partners[0].caps[0].leads: Input should be a valid integer, got a number with a "
            "fractional part",
        ),
        (
            {"per": "day", "revenue": -10, "currency": "USD"},
            "partners[0].caps[0].revenue: Input should be greater than 0",
        ),
        (
            {"per": "day", "revenue": 0, "currency": "USD"},
            "partners[0].caps[0].revenue: Input should be greater than 0",
        ),
        (
            {"per": "day", "revenue": 10, "currency": "usd"},
            "partners[0].caps[0].currency: String should match pattern '^[A-Z]{3}$'",
        ),
        ({"per": "day", "leads": 5, "max": 3}, "partners[0].caps[0].max: unknown key"),
    ],
)
def test_a_bad_cap_is_refused_at_its_path(rules, cap, error):
    assert errors_of(capped(rules, cap)) == [error]


def test_a_bad_assignment_cap_is_refused_at_its_path(rules):
    raw = rules.document([rules.assignment("a", "p1", caps=[{"per": "day", "revenue": 5}])])
    assert errors_of(raw) == [
        "profiles[0].assignments[0].caps[0]: a revenue cap needs its currency, e.g. currency: USD"
    ]


@pytest.mark.parametrize(
    ("span", "why"),
    [
        ("30 days", "write a whole number and a unit (m, h, d or w), e.g. '30d'"),
        ("1y", "write a whole number and a unit (m, h, d or w), e.g. '30d'"),
        ("1.5h", "write a whole number and a unit (m, h, d or w), e.g. '30d'"),
        ("-1d", "write a whole number and a unit (m, h, d or w), e.g. '30d'"),
        ("0d", "a span must be longer than nothing"),
        ("367d", "at most 366 days"),
        ("53w", "at most 366 days"),
    ],
)
def test_a_bad_duration_is_refused_where_it_is_written(rules, span, why):
    raw = rules.document(
        [rules.assignment("a", "p1")],
        partners=[partner(reject_duplicates_within=span)],
        duplicates={"keys": ["contact.email"], "within": span},
    )
    assert errors_of(raw) == [
        f"partners[0].reject_duplicates_within: bad duration {span!r}: {why}",
        f"profiles[0].duplicates.within: bad duration {span!r}: {why}",
    ]


@pytest.mark.parametrize("span", ["1m", "30m", "12h", "30d", "52w", "366d", " 7d "])
def test_good_durations(rules, span):
    raw = rules.document([], partners=[partner(reject_duplicates_within=span)])
    assert validate_document(raw).partners[0].reject_duplicates_within == span


def test_a_duration_is_text(rules):
    raw = rules.document([], partners=[partner(reject_duplicates_within=30)])
    assert errors_of(raw) == [
        "partners[0].reject_duplicates_within: Input should be a valid string"
    ]


@pytest.mark.parametrize(
    ("duplicates", "fields", "error"),
    [
        (
            {"keys": [], "within": "1d"},
            None,
            "profiles[0].duplicates.keys: list at least one field, e.g. [contact.email, "
            "contact.phone]",
        ),
        (
            {"keys": "contact.email", "within": "1d"},
            None,
            "profiles[0].duplicates.keys: should be a list",
        ),
        (
            {"keys": ["contact.email", "contact.fax"], "within": "1d"},
            None,
            "profiles[0].duplicates.keys[1]: unknown field 'contact.fax': contact has "
            "first_name, last_name, email, phone",
        ),
        (
            {"keys": ["ssn"], "within": "1d"},
            {"ssn": {"encrypted": True}},
            "profiles[0].duplicates.keys[0]: field 'ssn' is encrypted: only the partner reads "
            "its value, so it cannot be a duplicate key",
        ),
        (
            {"keys": ["budgt"], "within": "1d"},
            {"budget": {"type": "number"}},
            "profiles[0].duplicates.keys[0]: unknown field 'budgt': not among the declared "
            "fields (budget)",
        ),
        (
            {"keys": ["geo"], "within": "1d"},
            None,
            "profiles[0].duplicates.keys[0]: 'geo' is no key: name one of its fields, e.g. "
            "geo.postcode",
        ),
        ({"keys": ["contact.email"]}, None, "profiles[0].duplicates.within: required"),
        (
            {"keys": ["contact.email"], "within": "1d", "span": "2d"},
            None,
            "profiles[0].duplicates.span: unknown key",
        ),
    ],
)
def test_a_bad_duplicate_check_is_refused_at_its_path(rules, duplicates, fields, error):
    assert errors_of(rules.document([], duplicates=duplicates, fields=fields)) == [error]


def test_every_bad_duplicate_key_is_reported(rules):
    duplicates = {"keys": ["emial", "contact.phone", "visitor.ip"], "within": "1d"}
    raw = rules.document([], duplicates=duplicates, fields={"budget": {}})
    assert [error.split(":")[0] for error in errors_of(raw)] == [
        "profiles[0].duplicates.keys[0]",
        "profiles[0].duplicates.keys[2]",
    ]


@pytest.mark.parametrize("key", ["contact.email", "address.postcode", "fields.budget", "budget"])
def test_good_duplicate_keys(rules, key):
    raw = rules.document([], duplicates={"keys": [key], "within": "1d"}, fields={"budget": {}})
    duplicates = validate_document(raw).profiles[0].duplicates
    assert duplicates is not None and duplicates.keys == (key,)


def test_two_caps_of_one_window_and_unit(rules):
    raw = capped(
        rules,
        {"per": "day", "leads": 100},
        {"per": "hour", "leads": 10},
        {"per": "day", "leads": 80},
        {"per": "day", "revenue": 500, "currency": "USD"},
        {"per": "total", "revenue": 9000, "currency": "USD"},
        {"per": "day", "revenue": 400, "currency": "USD"},
    )
    assert errors_of(raw) == [
        "partners[0].caps[2]: a second cap of leads per day (first at partners[0].caps[0]): which "
        "holds would be a guess; keep one",
        "partners[0].caps[5]: a second cap of revenue in USD per day (first at "
        "partners[0].caps[3]): which holds would be a guess; keep one",
    ]


def test_two_caps_of_one_window_on_an_assignment(rules):
    caps = [{"per": "total", "leads": 5}, {"per": "total", "leads": 5}]
    raw = rules.document([rules.assignment("a", "p1", caps=caps)])
    assert errors_of(raw) == [
        "profiles[0].assignments[0].caps[1]: a second cap of leads in total (first at "
        "profiles[0].assignments[0].caps[0]): which holds would be a guess; keep one"
    ]


def test_a_partner_cap_and_an_assignment_cap_of_one_window_are_two_things(rules):
    raw = rules.document(
        [rules.assignment("a", "p1", caps=[{"per": "day", "leads": 5}])],
        partners=[partner(caps=[{"per": "day", "leads": 50}])],
    )
    validate_document(raw)


def test_a_malformed_cap_is_reported_once_by_its_own_check(rules):
    raw = capped(rules, {"per": "day", "leads": 5}, {"per": "day", "leads": 0})
    assert errors_of(raw) == [
        "partners[0].caps[1].leads: Input should be greater than or equal to 1"
    ]


def test_a_partner_revenue_cap_in_another_currency_than_an_assignment_sells_it_in(rules):
    raw = capped(rules, {"per": "month", "revenue": 500, "currency": "EUR"})
    assert errors_of(raw) == [
        "partners[0].caps[0]: a revenue cap in EUR counts prices in EUR, but partner 'p1' is "
        "priced by profile 'main' in USD: price the partner in one currency, or cap its leads"
    ]
    assert validate_document(capped(rules, *raw["partners"][0]["caps"], currency="EUR"))


@pytest.mark.parametrize("fallback", ["p1", {"partner": "p1", "price": 3}])
def test_a_partner_revenue_cap_in_another_currency_than_a_fallback_sells_it_in(rules, fallback):
    raw = rules.document(
        [],
        partners=[partner(caps=[{"per": "day", "revenue": 50, "currency": "USD"}])],
        currency="CAD",
        fallback=fallback,
    )
    assert errors_of(raw) == [
        "partners[0].caps[0]: a revenue cap in USD counts prices in USD, but partner 'p1' is "
        "priced by profile 'main' in CAD: price the partner in one currency, or cap its leads"
    ]


def test_every_profile_pricing_a_capped_partner_otherwise_is_counted(rules):
    others = [
        {"id": f"o{n}", "currency": currency, "fallback": "p1"}
        for n, currency in enumerate(["GBP", "EUR", "USD", "CAD", "JPY"])
    ]
    raw = rules.document(
        [rules.assignment("a", "p1"), rules.assignment("b", "p1")],
        partners=[partner(caps=[{"per": "day", "revenue": 50, "currency": "USD"}])],
        currency="CHF",
        profiles=others,
    )
    assert errors_of(raw) == [
        "partners[0].caps[0]: a revenue cap in USD counts prices in USD, but partner 'p1' is "
        "priced by profiles 'main' in CHF, 'o0' in GBP, 'o1' in EUR and 2 more: price the "
        "partner in one currency, or cap its leads"
    ]


def test_a_leads_cap_counts_in_any_currency(rules):
    raw = capped(rules, {"per": "day", "leads": 5}, currency="JPY")
    assert validate_document(raw).partners[0].caps[0].leads == 5


def test_a_revenue_cap_on_a_partner_nobody_sells_to_is_no_currency_error(rules):
    raw = rules.document(
        [rules.assignment("a", "p1")],
        partners=[
            partner(),
            partner("p2", caps=[{"per": "day", "revenue": 5, "currency": "EUR"}]),
        ],
    )
    validate_document(raw)


def test_an_assignment_revenue_cap_in_another_currency_than_its_profile(rules):
    raw = rules.document(
        [rules.assignment("a", "p1", caps=[{"per": "week", "revenue": 90, "currency": "EUR"}])],
        currency="GBP",
    )
    assert errors_of(raw) == [
        "profiles[0].assignments[0].caps[0]: a revenue cap in EUR counts prices in EUR, but "
        "profile 'main' prices in GBP: write the cap in GBP"
    ]


def test_the_profile_currency_defaults_to_usd(rules):
    raw = rules.document(
        [rules.assignment("a", "p1", caps=[{"per": "week", "revenue": 90, "currency": "USD"}])],
        partners=[partner(caps=[{"per": "week", "revenue": 900, "currency": "USD"}])],
    )
    validate_document(raw)


def test_cap_errors_come_with_every_other_in_document_order(rules):
    raw = rules.document(
        [
            rules.assignment(
                "a",
                "p1",
                filter=[[rules.condition("x", "nope")]],
                caps=[{"per": "day", "revenue": 1, "currency": "EUR"}],
            ),
            rules.assignment("a", "ghost"),
        ],
        partners=[
            partner(
                caps=[{"per": "hour", "leads": 1}, {"per": "hour", "leads": 2}],
                reject_duplicates_within="forever",
            ),
            partner("P2"),
        ],
        strategy="random",
    )
    assert errors_of(raw) == [
        "partners[0].caps[1]: a second cap of leads per hour (first at partners[0].caps[0]): "
        "which holds would be a guess; keep one",
        "partners[0].reject_duplicates_within: bad duration 'forever': write a whole number and "
        "a unit (m, h, d or w), e.g. '30d'",
        "partners[1].id: bad id 'P2': use lowercase letters, digits, '.', '_' and '-', starting "
        "with a letter or digit, at most 64 characters",
        "profiles[0].strategy: unknown strategy 'random'",
        "profiles[0].assignments[0].filter[0][0].op: unknown operator 'nope'",
        "profiles[0].assignments[0].caps[0]: a revenue cap in EUR counts prices in EUR, but "
        "profile 'main' prices in USD: write the cap in USD",
        "profiles[0].assignments[1].id: duplicate assignment id 'a' (first at "
        "profiles[0].assignments[0].id)",
        "profiles[0].assignments[1].partner: unknown partner 'ghost'",
    ]


@pytest.mark.parametrize(
    "raw",
    [
        {"partners": [{"id": ["p1"], "caps": [{"per": "day", "revenue": 1, "currency": "EUR"}]}]},
        {"partners": [{"id": "p1", "caps": "many"}], "profiles": [{"id": "x", "currency": 3}]},
        {"partners": [{"id": "p1", "caps": [7]}], "profiles": [{"fallback": ["p1"]}]},
        {"profiles": [{"id": "x", "assignments": [{"id": "a", "caps": {"per": "day"}}]}]},
    ],
)
def test_malformed_caps_and_owners_are_reported_not_crashed_on(raw):
    assert errors_of(raw)
