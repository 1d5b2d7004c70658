"""Partners' timezone and schedule: how they are written, when a partner is open, and what routing
does with a closed one (contract sections 4 and 5)."""

from __future__ import annotations

from typing import Any

import pytest

from processor.rules import RulesInvalid, lint, load_rules, validate_document
from processor.rules.explain import explain_text
from processor.rules.parts import document_from_parts, document_to_parts
from processor.rules.schedule import OpeningHours, compile_hours, lead_time, parse_days

NEW_YORK = "America/New_York"
WEEKDAYS = {"mon-fri": ["08:00-18:00"], "sat": ["09:00-12:00", "13:00-16:00"]}


def partners(**first: Any) -> list[dict[str, Any]]:
    """p1 with ``first``'s keys, then p2 and bdc always open."""
    return [
        {"id": "p1", "format": "json", "destinations": ["https://p1"], **first},
        {"id": "p2", "format": "json", "destinations": ["https://p2"]},
        {"id": "bdc", "format": "json", "destinations": ["https://bdc"]},
    ]


def errors_of(raw: Any) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        validate_document(raw)
    return [str(error) for error in caught.value.errors]


def hours(
    days: dict[str, list[str]], closed: tuple[str, ...] = (), zone: str = NEW_YORK
) -> OpeningHours:
    return compile_hours(zone, days, closed)


def at(text: str) -> Any:
    when = lead_time({"submitted_at": text})
    assert when is not None
    return when


def steps(trace, name):
    return [entry for entry in trace if entry["step"] == name]


class TestDocument:
    def test_the_contract_example_is_valid(self, rules):
        raw = rules.document(
            partners=partners(
                timezone=NEW_YORK, schedule={**WEEKDAYS, "closed_dates": ["2026-12-25"]}
            )
        )
        partner = validate_document(raw).partners[0]
        assert (partner.zone, dict(partner.schedule.days)) == (
            NEW_YORK,
            {"mon-fri": ("08:00-18:00",), "sat": ("09:00-12:00", "13:00-16:00")},
        )
        assert partner.schedule.closed_dates == ("2026-12-25",)

    def test_yaml_keeps_hours_and_dates_as_written_without_quotes(self):
        text = (
            "partners:\n"
            "  - {id: p, format: json, schedule: {mon-fri: [08:00-18:00], "
            "closed_dates: [2026-12-25]}}\n"
        )
        schedule = load_rules(text).partners[0].schedule
        assert schedule is not None
        assert (dict(schedule.days), schedule.closed_dates) == (
            {"mon-fri": ("08:00-18:00",)},
            ("2026-12-25",),
        )

    def test_defaults_utc_and_always_open(self, rules):
        partner = validate_document(rules.document()).partners[0]
        assert (partner.zone, partner.timezone, partner.schedule) == ("UTC", None, None)

    def test_an_unknown_timezone_with_its_path(self, rules):
        for zone in ("Mars/Olympus_Mons", "../etc/passwd", ""):
            raw = rules.document(partners=partners(timezone=zone))
            assert errors_of(raw) == [
                f"partners[0].timezone: unknown timezone {zone!r}: use an IANA name such as "
                "'America/New_York' or 'UTC'"
            ]

    def test_every_syntax_error_at_once_each_with_its_path(self, rules):
        schedule = {
            "mon": ["8:00-18:00"],
            "tue": ["18:00-08:00", "09:00-24:00", "10:00-24:30"],
            "Wed": ["09:00-17:00"],
            "thu": "09:00-17:00",
            "sat-sat": [],
            "fri": ["24:00-24:00", "09:60-10:00"],
            "closed_dates": ["2026-02-30", "25.12.2026"],
        }
        raw = rules.document(partners=partners(timezone=NEW_YORK, schedule=schedule))
        assert errors_of(raw) == [
            "partners[0].schedule.mon[0]: bad hours '8:00-18:00': write HH:MM-HH:MM, "
            "e.g. '08:00-18:00'",
            "partners[0].schedule.tue[0]: bad hours '18:00-08:00': the end must be after the "
            "start; a range past midnight is two, one ending at 24:00 and one the next day from "
            "00:00",
            "partners[0].schedule.tue[2]: bad hours '10:00-24:30': times run from 00:00 to "
            "23:59, and 24:00 may end a range",
            "partners[0].schedule.Wed: unknown day 'Wed': use mon, tue, wed, thu, fri, sat, sun, "
            "a range such as 'mon-fri', or closed_dates",
            "partners[0].schedule.thu: should be a list",
            "partners[0].schedule.sat-sat: day range 'sat-sat' starts and ends on the same day: "
            "write 'sat'",
            "partners[0].schedule.fri[0]: bad hours '24:00-24:00': times run from 00:00 to "
            "23:59, and 24:00 may end a range",
            "partners[0].schedule.fri[1]: bad hours '09:60-10:00': times run from 00:00 to "
            "23:59, and 24:00 may end a range",
            "partners[0].schedule.closed_dates[0]: bad date '2026-02-30': write YYYY-MM-DD, "
            "e.g. '2026-12-25'",
            "partners[0].schedule.closed_dates[1]: bad date '25.12.2026': write YYYY-MM-DD, "
            "e.g. '2026-12-25'",
        ]

    def test_day_keys_covering_the_same_day_are_refused(self, rules):
        schedule = {"mon-fri": ["08:00-18:00"], "fri": ["08:00-12:00"], "sun-tue": []}
        raw = rules.document(partners=partners(schedule=schedule))
        assert errors_of(raw) == [
            "partners[0].schedule.fri: 'fri' covers fri, which 'mon-fri' covers already: give "
            "each day its hours once",
            "partners[0].schedule.sun-tue: 'sun-tue' covers mon, which 'mon-fri' covers "
            "already: give each day its hours once",
        ]

    @pytest.mark.parametrize(
        ("key", "days"),
        [
            ("mon", ("mon",)),
            ("mon-fri", ("mon", "tue", "wed", "thu", "fri")),
            ("fri-mon", ("fri", "sat", "sun", "mon")),
            ("tue-mon", ("tue", "wed", "thu", "fri", "sat", "sun", "mon")),
        ],
    )
    def test_day_ranges_include_both_ends_and_may_wrap_past_sunday(self, key, days):
        covered = parse_days(key)
        assert not isinstance(covered, str)
        assert tuple(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in covered) == days

    def test_a_schedule_reads_back_as_written(self, rules):
        schedule = {**WEEKDAYS, "closed_dates": ["2026-12-25"]}
        raw = rules.document(partners=partners(timezone=NEW_YORK, schedule=schedule))
        document = validate_document(raw)
        parts = document_to_parts(document)
        assert parts["partner/p1"]["schedule"] == schedule
        assert parts["partner/p1"]["timezone"] == NEW_YORK
        assert "timezone" not in parts["partner/p2"] and "schedule" not in parts["partner/p2"]
        assert document_from_parts(parts) == document


class TestOpen:
    def test_the_start_minute_is_open_the_end_minute_closed(self):
        week = hours({"mon": ["08:00-18:00"]})  # 2026-11-30 is a Monday; New York is UTC-5
        assert not week.is_open(at("2026-11-30T12:59:59.999Z"))
        assert week.is_open(at("2026-11-30T13:00:00Z"))
        assert week.is_open(at("2026-11-30T22:59:59.999Z"))
        assert not week.is_open(at("2026-11-30T23:00:00Z"))

    def test_24_00_ends_the_day_and_the_next_day_is_its_own(self):
        week = hours({"mon": ["20:00-24:00"]})
        assert week.is_open(at("2026-12-01T04:59:59Z"))  # Mon 23:59:59 local
        assert not week.is_open(at("2026-12-01T05:00:00Z"))  # Tue 00:00 local

    def test_days_not_listed_are_closed(self):
        week = hours(WEEKDAYS)
        assert week.is_open(at("2026-11-28T14:00:00Z"))  # Sat 09:00
        assert not week.is_open(at("2026-11-28T17:30:00Z"))  # Sat 12:30, between the ranges
        assert not week.is_open(at("2026-11-29T15:00:00Z"))  # Sun 10:00

    def test_closed_dates_are_local_dates(self):
        week = hours(WEEKDAYS, ("2026-12-25",))
        assert not week.is_open(at("2026-12-25T15:00:00Z"))  # Fri 10:00 on Christmas Day
        assert not week.is_open(at("2026-12-25T04:59:00Z"))  # Thu 23:59: after hours
        assert week.is_open(at("2026-12-24T22:00:00Z"))  # Thu 17:00
        assert week.is_open(at("2026-12-26T14:30:00Z"))  # Sat 09:30

    def test_the_date_is_judged_in_the_partners_zone_across_a_month_end(self):
        week = hours({"mon-sun": ["00:00-24:00"]}, ("2026-12-01",))
        assert week.is_open(at("2026-12-01T04:30:00Z"))  # Nov 30, 23:30 in New York
        assert not week.is_open(at("2026-12-01T05:30:00Z"))  # Dec 1, 00:30
        utc = hours({"mon-sun": ["00:00-24:00"]}, ("2026-12-01",), zone="UTC")
        assert not utc.is_open(at("2026-12-01T04:30:00Z"))

    def test_spring_forward_the_skipped_hour_is_nobodys_local_time(self):
        # 2026-03-08, New York: 02:00 EST becomes 03:00 EDT.
        night = hours({"sun": ["02:00-03:00"]})
        for instant in ("2026-03-08T06:59:59Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"):
            assert not night.is_open(at(instant))
        early = hours({"sun": ["01:00-02:30"]})
        assert early.is_open(at("2026-03-08T06:59:00Z"))  # 01:59 EST
        assert not early.is_open(at("2026-03-08T07:00:00Z"))  # 03:00 EDT
        # A lead written "02:30" in New York's winter offset is 03:30 EDT.
        assert not early.is_open(at("2026-03-08T02:30:00-05:00"))
        assert hours({"sun": ["03:00-04:00"]}).is_open(at("2026-03-08T02:30:00-05:00"))

    def test_fall_back_01_30_happens_twice_and_is_open_both_times(self):
        # 2026-11-01, New York: 02:00 EDT becomes 01:00 EST.
        week = hours({"sun": ["01:00-02:00"]})
        assert week.is_open(at("2026-11-01T05:30:00Z"))  # 01:30 EDT
        assert week.is_open(at("2026-11-01T06:30:00Z"))  # 01:30 EST
        assert not week.is_open(at("2026-11-01T07:00:00Z"))  # 02:00 EST

    def test_a_naive_time_is_utc_and_no_time_is_closed(self):
        week = hours({"mon": ["00:00-24:00"]}, zone="UTC")
        assert week.is_open(lead_time({"submitted_at": "2026-11-30T10:00:00"}))
        assert not week.is_open(lead_time({"submitted_at": None}))
        assert lead_time({"submitted_at": "not a time"}) is None

    def test_why_closed_names_the_local_time_and_the_days_hours(self):
        week = hours(WEEKDAYS, ("2026-12-25",))
        assert (
            week.why_closed(at("2026-11-29T00:42:00Z"))
            == "closed: Sat 19:42 America/New_York; open sat 09:00-12:00, 13:00-16:00"
        )
        assert (
            week.why_closed(at("2026-11-29T15:00:00Z"))
            == "closed: Sun 10:00 America/New_York; never open on sun"
        )
        assert (
            week.why_closed(at("2026-12-25T15:00:00Z"))
            == "closed: Fri 10:00 America/New_York; 2026-12-25 is a closed date"
        )


SATURDAY_EVENING = "2026-11-29T00:42:00Z"
"""Sat 19:42 in New York, after the partner's hours."""
SATURDAY_MORNING = "2026-11-28T15:00:00Z"
"""Sat 10:00 in New York, in the partner's hours."""


class TestRouting:
    def scheduled(self, rules, **profile: Any) -> dict[str, Any]:
        return rules.document(
            [rules.assignment("a", "p1"), rules.assignment("b", "p2")],
            partners=partners(timezone=NEW_YORK, schedule=WEEKDAYS),
            **profile,
        )

    def test_an_open_partner_is_chosen(self, rules):
        decision = rules.decide(self.scheduled(rules), rules.lead(submitted_at=SATURDAY_MORNING))
        assert [d.assignment for d in decision.deliveries] == ["a"]

    @pytest.mark.parametrize("trace", [True, False])
    def test_a_closed_first_candidate_gives_way_to_the_next(self, rules, trace):
        lead = rules.lead(submitted_at=SATURDAY_EVENING)
        decision = rules.decide(self.scheduled(rules), lead, trace=trace)
        assert (decision.outcome, [d.assignment for d in decision.deliveries]) == ("routed", ["b"])

    def test_a_decoded_lead_is_judged_by_its_datetime(self, rules):
        lead = rules.lead(submitted_at=at(SATURDAY_EVENING))
        decision = rules.decide(self.scheduled(rules), lead)
        assert [d.assignment for d in decision.deliveries] == ["b"]

    def test_a_closed_fallback_makes_the_lead_unroutable_saying_why(self, rules):
        raw = rules.document(
            [
                rules.assignment(
                    "a", "p2", filter=[[{"field": "site_id", "op": "equals", "value": "x"}]]
                )
            ],
            partners=partners(timezone=NEW_YORK, schedule=WEEKDAYS),
            fallback="p1",
        )
        closed = rules.decide(raw, rules.lead(submitted_at=SATURDAY_EVENING))
        assert (closed.outcome, closed.deliveries) == ("unroutable", ())
        assert steps(closed.trace, "unroutable") == [
            {
                "step": "unroutable",
                "why": "no tier has a candidate and fallback partner 'p1' is closed: Sat 19:42 "
                "America/New_York; open sat 09:00-12:00, 13:00-16:00",
            }
        ]
        opened = rules.decide(raw, rules.lead(submitted_at=SATURDAY_MORNING))
        assert (opened.outcome, [d.partner for d in opened.deliveries]) == ("fallback", ["p1"])

    def test_the_trace_says_why_a_matching_candidate_was_excluded(self, rules):
        decision = rules.decide(self.scheduled(rules), rules.lead(submitted_at=SATURDAY_EVENING))
        category, everything = steps(decision.trace, "tier")
        assert "closed" not in category
        assert (everything["candidates"], everything["closed"]) == (["b"], ["a"])
        first = steps(decision.trace, "assignment")[0]
        assert first == {
            "step": "assignment",
            "assignment": "a",
            "partner": "p1",
            "matched": True,
            "or_set": None,
            "excluded": "closed: Sat 19:42 America/New_York; open sat 09:00-12:00, 13:00-16:00",
        }
        text = explain_text(decision.outcome, decision.trace, decision.as_dict())
        assert (
            "assignment a -> p1 matched but is no candidate: closed: Sat 19:42 America/New_York; "
            "open sat 09:00-12:00, 13:00-16:00" in text
        )
        assert "ALL tier: 2 assignments, b (closed: a)" in text

    def test_a_closed_candidate_is_listed_even_past_the_trace_limit(self, rules):
        never = [[{"field": "site_id", "op": "equals", "value": "elsewhere"}]]
        raw = rules.document(
            [
                rules.assignment("a", "p1"),
                rules.assignment("c", "p2", filter=never),
                rules.assignment("b", "p2"),
            ],
            partners=partners(timezone=NEW_YORK, schedule=WEEKDAYS),
        )
        decision = rules.decide(raw, rules.lead(submitted_at=SATURDAY_EVENING))
        trace = decision.explain(max_failures=0)
        assert [e["assignment"] for e in steps(trace, "assignment")] == ["a", "b"]
        assert [e.get("excluded", "")[:7] for e in steps(trace, "assignment")] == ["closed:", ""]
        assert steps(trace, "not_shown")[0]["assignments"] == 1


class TestLint:
    def findings(self, raw) -> list[tuple[str, str]]:
        return [(f.code, f.path) for f in lint(validate_document(raw))]

    def test_a_schedule_never_open(self, rules):
        for schedule in ({}, {"closed_dates": ["2026-12-25"]}, {"mon": [], "sat-sun": []}):
            raw = rules.document(
                [rules.assignment("a", "p1")], partners=partners(schedule=schedule)
            )
            assert ("never-open", "partners[0].schedule") in self.findings(raw)

    def test_overlapping_hours_of_one_day(self, rules):
        schedule = {
            "mon-fri": ["08:00-12:00", "11:00-18:00"],
            "sat": ["09:00-12:00", "12:00-13:00"],
        }
        raw = rules.document([rules.assignment("a", "p1")], partners=partners(schedule=schedule))
        found = self.findings(raw)
        assert ("overlapping-hours", "partners[0].schedule.mon-fri") in found
        assert ("overlapping-hours", "partners[0].schedule.sat") not in found
        assert ("never-open", "partners[0].schedule") not in found

    def test_a_fallback_with_a_schedule_can_leave_leads_unroutable(self, rules):
        raw = rules.document(
            [rules.assignment("a", "p2")], partners=partners(schedule=WEEKDAYS), fallback="p1"
        )
        assert ("closed-fallback", "profiles[0].fallback") in self.findings(raw)

    def test_a_fallback_open_around_the_clock_is_fine(self, rules):
        raw = rules.document(
            [rules.assignment("a", "p2")],
            partners=partners(schedule={"mon-sun": ["00:00-24:00"]}),
            fallback="p1",
        )
        assert "closed-fallback" not in {code for code, _ in self.findings(raw)}
