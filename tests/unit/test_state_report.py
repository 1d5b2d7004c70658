"""``state show``'s report and its rendering: cap use per window, resets, rotation and scores."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from processor.cli import build_parser
from processor.cli.state import render
from processor.rules import Ledger, MemoryStore, Snapshot, compile_rules, decide, load_rules
from processor.state.report import StateReport, UnknownId, state_report

RULES = """
partners:
  - id: east
    format: json
    destinations: ["https://east.example"]
    timezone: America/New_York
    caps:
      - {per: day, leads: 3}
      - {per: month, revenue: 100, currency: USD}
  - {id: west, format: json, destinations: ["https://west.example"]}
  - {id: north, format: json, destinations: ["https://north.example"]}
  - {id: gone, format: json, destinations: ["https://gone.example"], active: false}
profiles:
  - id: acme
    sources: [acme-site]
    strategy: round_robin
    base_price: 25
    currency: USD
    assignments:
      - {id: to-east, partner: east, caps: [{per: total, leads: 10}]}
      - {id: to-west, partner: west}
      - {id: to-north, partner: north}
      - {id: to-gone, partner: gone}
  - id: bolt
    sources: [bolt-site]
    strategy: weighted
    base_price: 5
    currency: USD
    assignments:
      - {id: heavy, partner: west, weight: 3}
      - {id: light, partner: north, weight: 1}
"""

AT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
"""10:00 in New York: east's day window is 2026-11-30 there, and resets at its midnight."""


def _lead(number: int, site: str) -> dict[str, Any]:
    return {
        "lead_id": f"{site}-{number}",
        "submitted_at": f"2026-11-30T14:{number:02d}:00Z",
        "site_id": site,
        "contact": {"email": f"person{number}@example.com"},
    }


@pytest.fixture
def routed() -> tuple[Snapshot, Ledger]:
    """Two acme leads (east, then west: round robin) and four bolt leads, in one ledger."""
    snapshot = compile_rules(load_rules(RULES), "7")
    ledger = Ledger(MemoryStore())
    for number in range(2):
        decide(snapshot, _lead(number, "acme-site"), None, ledger, trace=False)
    for number in range(4):
        decide(snapshot, _lead(number, "bolt-site"), None, ledger, trace=False)
    return snapshot, ledger


def _caps(report: StateReport) -> dict[str, dict[str, Any]]:
    data = report.as_dict()
    caps = [cap for owner in data["partners"] + data["assignments"] for cap in owner["caps"]]
    return {f"{cap['scope']} {cap['per']}": cap for cap in caps}


def test_cap_use_limit_left_and_reset_in_the_partners_time_zone(
    routed: tuple[Snapshot, Ledger],
) -> None:
    snapshot, ledger = routed
    caps = _caps(state_report(snapshot, [ledger], AT))
    assert caps["partner/east day"] == {
        "scope": "partner/east",
        "per": "day",
        "unit": "leads",
        "currency": None,
        "window": "2026-11-30",
        "used": 1.0,
        "limit": 3.0,
        "left": 2.0,
        "resets_at": "2026-12-01T00:00:00-05:00",
    }
    month = caps["partner/east month"]
    assert (month["unit"], month["currency"], month["used"], month["left"]) == (
        "revenue USD",
        "USD",
        25.0,
        75.0,
    )
    assert month["resets_at"] == "2026-12-01T00:00:00-05:00"
    total = caps["assignment/acme/to-east total"]
    assert (total["window"], total["used"], total["resets_at"]) == ("total", 1.0, None)


def test_a_window_other_than_the_leads_shows_no_use(routed: tuple[Snapshot, Ledger]) -> None:
    snapshot, ledger = routed
    next_day = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    caps = _caps(state_report(snapshot, [ledger], next_day))
    assert (caps["partner/east day"]["window"], caps["partner/east day"]["used"]) == (
        "2026-12-01",
        0.0,
    )
    assert caps["assignment/acme/to-east total"]["used"] == 1.0


def test_cap_use_is_summed_over_the_ledgers_of_several_partitions(
    routed: tuple[Snapshot, Ledger],
) -> None:
    snapshot, ledger = routed
    other = Ledger(MemoryStore())
    decide(snapshot, _lead(9, "acme-site"), None, other, trace=False)  # east: never chosen there
    caps = _caps(state_report(snapshot, [ledger, other], AT))
    assert caps["partner/east day"]["used"] == 2.0
    assert caps["partner/east month"]["used"] == 50.0


def test_rotation_puts_never_chosen_partners_first_then_the_least_recent(
    routed: tuple[Snapshot, Ledger],
) -> None:
    snapshot, ledger = routed
    profiles = {p["profile"]: p for p in state_report(snapshot, [ledger], AT).as_dict()["profiles"]}
    # gone is inactive: never a candidate, so never in line.
    assert profiles["acme"]["rotation"] == [
        {"partner": "north", "choices_ago": None},
        {"partner": "east", "choices_ago": 1},
        {"partner": "west", "choices_ago": 0},
    ]
    assert profiles["acme"]["scores"] is None
    # Smooth weighted round robin over 3:1 after four leads is back where it started.
    assert profiles["bolt"] == {
        "profile": "bolt",
        "strategy": "weighted",
        "rotation": None,
        "scores": {"heavy": 0, "light": 0},
    }


def test_partner_and_profile_narrow_the_report(routed: tuple[Snapshot, Ledger]) -> None:
    snapshot, ledger = routed
    east = state_report(snapshot, [ledger], AT, partner="east").as_dict()
    assert [p["partner"] for p in east["partners"]] == ["east"]
    assert [a["assignment"] for a in east["assignments"]] == ["to-east"]
    assert [p["profile"] for p in east["profiles"]] == ["acme"]
    bolt = state_report(snapshot, [ledger], AT, profile="bolt").as_dict()
    assert [p["partner"] for p in bolt["partners"]] == ["west", "north"]
    assert [a["assignment"] for a in bolt["assignments"]] == ["heavy", "light"]
    with pytest.raises(UnknownId, match="no partner 'nobody'"):
        state_report(snapshot, [ledger], AT, partner="nobody")
    with pytest.raises(UnknownId, match="no profile 'nothing'"):
        state_report(snapshot, [ledger], AT, profile="nothing")


def test_the_json_has_stable_keys_and_no_person_digest(routed: tuple[Snapshot, Ledger]) -> None:
    snapshot, ledger = routed
    data = state_report(snapshot, [ledger], AT).as_dict()
    assert list(data) == ["at", "rules_version", "partners", "assignments", "profiles"]
    assert (data["at"], data["rules_version"]) == ("2026-11-30T15:00:00.000Z", "7")
    text = json.dumps(data)
    salt = ledger.salt
    assert salt.hex() not in text
    assert "person" not in text and "example.com" not in text


def _table(report: StateReport) -> str:
    out = io.StringIO()
    Console(file=out, width=200).print(render(report))
    return out.getvalue()


def test_the_table_shows_use_limit_left_and_when_each_window_resets(
    routed: tuple[Snapshot, Ledger],
) -> None:
    snapshot, ledger = routed
    text = _table(state_report(snapshot, [ledger], AT))
    assert "rules version 7, windows at 2026-11-30 15:00:00 UTC" in text
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines()]
    assert [
        "partner east",
        "day",
        "2026-11-30",
        "1",
        "3",
        "2",
        "2026-12-01 00:00 America/New_York",
    ] in rows
    assert [
        "partner east",
        "month",
        "2026-11",
        "25.00 USD",
        "100.00 USD",
        "75.00 USD",
        "2026-12-01 00:00 America/New_York",
    ] in rows
    assert ["assignment acme/to-east (east)", "total", "total", "1", "10", "9", "never"] in rows
    assert ["acme", "round_robin", "north (never chosen), east, west (chosen last)"] in rows
    assert ["bolt", "weighted", "heavy 0, light 0"] in rows


def test_a_report_without_caps_says_so() -> None:
    snapshot = compile_rules(load_rules(RULES), "7")
    text = _table(state_report(snapshot, [], AT, profile="bolt"))
    assert "no caps" in text


def test_the_command_takes_its_flags_and_refuses_a_bad_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(
        ["state", "show", "--partner", "east", "--at", "2026-11-30T10:00:00-05:00"]
    )
    assert isinstance(args, argparse.Namespace)
    assert (args.partner, args.format, args.at) == ("east", "table", AT)
    for bad in (["--at", "yesterday-ish"], ["--format", "yaml"], ["--what"]):
        with pytest.raises(SystemExit) as stopped:
            build_parser().parse_args(["state", "show", *bad])
        assert stopped.value.code == 2
    assert "usage: lead-router state show" in capsys.readouterr().err
