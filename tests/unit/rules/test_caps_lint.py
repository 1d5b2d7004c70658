"""Lint of caps: caps that never stop a delivery, and partners no profile can send a lead to."""

from __future__ import annotations

from typing import Any

import pytest

from processor.rules import lint, validate_document


def partner(id: str, *caps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "format": "json",
        "destinations": [f"https://{id}.example"],
        "caps": list(caps),
        **extra,
    }


def leads(per: str, count: int) -> dict[str, Any]:
    return {"per": per, "leads": count}


def revenue(per: str, amount: float, currency: str = "USD") -> dict[str, Any]:
    return {"per": per, "revenue": amount, "currency": currency}


def document(rules, *caps: dict[str, Any], assignment_caps=(), **profile: Any) -> dict[str, Any]:
    """Partner p1 with ``caps``, sold at 10 by assignment ``a`` with ``assignment_caps``."""
    return rules.document(
        [rules.assignment("a", "p1", price=10, caps=list(assignment_caps))],
        partners=[partner("p1", *caps), partner("bdc")],
        fallback="bdc",
        **profile,
    )


def findings(raw: dict[str, Any], code: str) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in lint(validate_document(raw)) if f.code == code]


def never_binding(raw: dict[str, Any]) -> list[str]:
    return [path for path, _ in findings(raw, "cap-never-binds")]


def test_caps_that_each_bind_give_no_warning(rules):
    raw = document(
        rules,
        leads("hour", 10),
        leads("day", 100),
        leads("week", 400),
        leads("month", 1000),
        leads("total", 5000),
        revenue("day", 900),
        assignment_caps=[leads("hour", 5), revenue("month", 100)],
    )
    assert lint(validate_document(raw)) == []


def test_a_shorter_window_with_a_larger_cap_never_binds(rules):
    raw = document(rules, leads("hour", 200), leads("day", 100))
    assert findings(raw, "cap-never-binds") == [
        (
            "partners[0].caps[0]",
            "the cap of 200 leads per hour never stops a delivery: the cap of 100 leads per day "
            "at partners[0].caps[1] stops every delivery it would",
        )
    ]


def test_an_equal_cap_over_a_longer_window_stops_every_delivery_first(rules):
    assert never_binding(document(rules, leads("day", 100), leads("hour", 100))) == [
        "partners[0].caps[1]"
    ]


@pytest.mark.parametrize(
    ("shorter", "longer"),
    [
        ("hour", "day"),
        ("hour", "week"),
        ("hour", "month"),
        ("hour", "total"),
        ("day", "week"),
        ("day", "month"),
        ("day", "total"),
        ("week", "total"),
        ("month", "total"),
    ],
)
def test_every_window_inside_another(rules, shorter, longer):
    assert never_binding(document(rules, leads(shorter, 50), leads(longer, 50))) == [
        "partners[0].caps[0]"
    ]


@pytest.mark.parametrize(("first", "second"), [("week", "month"), ("month", "week")])
def test_a_week_and_a_month_each_can_bind(rules, first, second):
    """An ISO week can straddle two months: neither window holds the other."""
    assert never_binding(document(rules, leads(first, 50), leads(second, 50))) == []


def test_revenue_caps_compare_like_leads_caps(rules):
    raw = document(rules, revenue("hour", 500), revenue("total", 300))
    assert findings(raw, "cap-never-binds") == [
        (
            "partners[0].caps[0]",
            "the cap of 500 USD of revenue per hour never stops a delivery: the cap of 300 USD "
            "of revenue in total at partners[0].caps[1] stops every delivery it would",
        )
    ]


def test_leads_and_revenue_caps_count_different_things(rules):
    assert never_binding(document(rules, revenue("hour", 500), leads("day", 3))) == []


def test_an_assignment_cap_not_below_its_partners(rules):
    raw = document(rules, leads("day", 100), assignment_caps=[leads("day", 100)])
    assert findings(raw, "cap-never-binds") == [
        (
            "profiles[0].assignments[0].caps[0]",
            "the cap of 100 leads per day never stops a delivery: the cap of 100 leads per day at "
            "partners[0].caps[0] stops every delivery it would",
        )
    ]


def test_an_assignment_cap_below_its_partners_binds(rules):
    assert (
        never_binding(document(rules, leads("day", 100), assignment_caps=[leads("day", 99)])) == []
    )


def test_an_assignment_cap_over_a_window_inside_its_partners(rules):
    raw = document(rules, leads("week", 80), assignment_caps=[leads("day", 100), leads("hour", 5)])
    assert never_binding(raw) == ["profiles[0].assignments[0].caps[0]"]


def test_an_assignment_cap_under_its_own_longer_window(rules):
    raw = document(rules, assignment_caps=[leads("hour", 60), leads("day", 50)])
    assert never_binding(raw) == ["profiles[0].assignments[0].caps[0]"]


def test_a_partner_cap_is_not_judged_by_an_assignments(rules):
    """A partner counts the deliveries of all its assignments: one assignment's tighter cap
    leaves the others under the partner's."""
    raw = document(rules, leads("day", 100), assignment_caps=[leads("day", 10)])
    assert never_binding(raw) == []


def test_another_partners_caps_are_not_compared(rules):
    raw = rules.document(
        [rules.assignment("a", "p1", caps=[leads("day", 100)])],
        partners=[partner("p1"), partner("p2", leads("day", 5))],
        profiles=[{"id": "other", "default": True, "assignments": [{"id": "b", "partner": "p2"}]}],
        fallback="p2",
    )
    assert never_binding(raw) == []


def test_a_revenue_cap_on_a_partner_only_ever_sold_for_nothing(rules):
    raw = rules.document(
        [rules.assignment("a", "p1", price=0), rules.assignment("b", "p1")],
        partners=[partner("p1", revenue("day", 100), leads("day", 10))],
        fallback={"partner": "p1", "price": 0},
    )
    assert findings(raw, "cap-never-binds") == [
        (
            "partners[0].caps[0]",
            "the cap of 100 USD of revenue per day never stops a delivery: every price partner "
            "'p1' is sold at is 0 or less, so the revenue it counts never grows",
        )
    ]


@pytest.mark.parametrize(
    "profile",
    [
        {"base_price": 5},
        {"fallback": {"partner": "p1", "price": 1}},
    ],
)
def test_one_price_above_zero_makes_revenue_grow(rules, profile):
    raw = rules.document(
        [rules.assignment("a", "p1", price=0)],
        partners=[partner("p1", revenue("day", 100))],
        profiles=[
            {
                "id": "other",
                "default": True,
                **profile,
                "assignments": [{"id": "b", "partner": "p1"}],
            }
        ],
    )
    assert never_binding(raw) == []


def test_a_revenue_cap_on_an_assignment_sold_for_nothing(rules):
    raw = rules.document(
        [rules.assignment("a", "p1", caps=[revenue("month", 50)])],
        partners=[partner("p1")],
        fallback={"partner": "p1", "price": 3},
    )
    assert findings(raw, "cap-never-binds") == [
        (
            "profiles[0].assignments[0].caps[0]",
            "the cap of 50 USD of revenue per month never stops a delivery: the price of "
            "assignment 'a' is 0 or less, so the revenue it counts never grows",
        )
    ]


def test_a_revenue_cap_on_a_partner_nobody_sells_to_is_only_an_unused_partner(rules):
    raw = rules.document(
        [rules.assignment("a", "p1")],
        partners=[partner("p1"), partner("p2", revenue("day", 5.5))],
        fallback="p1",
    )
    assert [(f.code, f.path) for f in lint(validate_document(raw))] == [
        ("unused-partner", "partners[1]")
    ]


class TestPartnersNoProfileSendsTo:
    """Each way a partner can never take a lead is reported once, by the finding that names it."""

    def codes(self, raw: dict[str, Any]) -> list[tuple[str, str]]:
        return [(f.code, f.path) for f in lint(validate_document(raw))]

    def test_active_but_named_by_nothing(self, rules):
        raw = rules.document(
            [rules.assignment("a", "p1")],
            partners=[partner("p1"), partner("p2")],
            fallback="p1",
        )
        assert self.codes(raw) == [("unused-partner", "partners[1]")]

    def test_never_open(self, rules):
        raw = rules.document(
            [rules.assignment("a", "p1")],
            partners=[partner("p1", schedule={"closed_dates": ["2026-12-25"]}), partner("bdc")],
            fallback="bdc",
        )
        assert self.codes(raw) == [("never-open", "partners[0].schedule")]

    def test_inactive_while_assignments_name_it(self, rules):
        raw = rules.document(
            [rules.assignment("a", "p1"), rules.assignment("b", "p1", category="Sales")],
            partners=[partner("p1", active=False), partner("bdc")],
            fallback="bdc",
        )
        assert self.codes(raw) == [
            ("inactive-partner", "profiles[0].assignments[0].partner"),
            ("inactive-partner", "profiles[0].assignments[1].partner"),
        ]


def test_a_duplicate_span_without_a_duplicate_check_is_fine(rules):
    raw = rules.document(
        [rules.assignment("a", "p1")],
        partners=[partner("p1", reject_duplicates_within="30d"), partner("bdc")],
        fallback="bdc",
    )
    assert lint(validate_document(raw)) == []
