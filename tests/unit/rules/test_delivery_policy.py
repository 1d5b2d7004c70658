"""A partner's ``delivery`` policy in the rules document: what it reads, what it refuses and where,
what it leaves alone in documents that do not use it, and what lint says about it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.cli import main
from processor.control.records import digest_of
from processor.rules import RulesInvalid, document_to_parts, validate_document
from processor.rules.document import DEFAULT_POLICY, MAX_RETRIES, delay_s, seconds
from processor.rules.dump import TextFormat, document_text
from processor.rules.lint import lint
from processor.rules.load import parse_text

DOCUMENT: dict[str, Any] = {
    "partners": [
        {
            "id": "crm-east",
            "format": "json",
            "destinations": ["https://crm.example/hook"],
            "timezone": "America/New_York",
            "caps": [{"per": "day", "leads": 100}],
        },
        {"id": "crm-west", "format": "adf_xml", "destinations": ["mailto:leads@west.example"]},
    ],
    "profiles": [
        {
            "id": "acme",
            "sources": ["acme-site"],
            "base_price": 25.0,
            "fallback": "crm-west",
            "assignments": [{"id": "svc", "partner": "crm-east", "category": "Service"}],
        }
    ],
}

DIGEST_WITHOUT_POLICIES = "54d8efdb87f887d84a48116d3d67c37e7479362bb6a01ddef2c3751ef8836e4e"
"""The digest of DOCUMENT's parts as lead-router gave it before partners had a delivery policy."""


def with_policy(policy: Any, partner: int = 0) -> dict[str, Any]:
    """DOCUMENT with ``policy`` as the ``delivery`` of one of its partners."""
    raw = copy.deepcopy(DOCUMENT)
    raw["partners"][partner]["delivery"] = policy
    return raw


def errors_of(raw: Any) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        validate_document(raw)
    return [str(error) for error in caught.value.errors]


def test_a_policy_reads_as_written() -> None:
    policy = {
        "retries": ["30s", "5m", "2h", "1d", "7d"],
        "on_exhausted": "reoffer",
        "on_refused": "give_up",
        "returns": {"window": "3d", "reoffer": True},
    }
    partner = validate_document(with_policy(policy)).partners[0]
    assert partner.policy.retries == ("30s", "5m", "2h", "1d", "7d")
    assert [delay_s(delay) for delay in partner.policy.retries] == [
        30,
        300,
        7_200,
        86_400,
        604_800,
    ]
    assert (partner.policy.on_exhausted, partner.policy.on_refused) == ("reoffer", "give_up")
    assert seconds(partner.policy.returns.window) == 3 * 86_400
    assert partner.policy.returns.reoffer is True


def test_without_a_policy_the_defaults_hold() -> None:
    partner = validate_document(DOCUMENT).partners[0]
    assert partner.delivery is None
    assert partner.policy == DEFAULT_POLICY
    assert DEFAULT_POLICY.retries == ("1m", "5m", "30m", "2h", "12h")
    assert (DEFAULT_POLICY.on_exhausted, DEFAULT_POLICY.on_refused) == ("give_up", "give_up")
    assert (DEFAULT_POLICY.returns.window, DEFAULT_POLICY.returns.reoffer) == ("7d", False)


def test_a_partial_policy_takes_the_defaults_for_the_rest() -> None:
    policy = validate_document(with_policy({"on_exhausted": "reoffer"})).partners[0].policy
    assert policy.on_exhausted == "reoffer"
    assert policy.retries == DEFAULT_POLICY.retries
    assert policy.on_refused == "give_up"
    assert policy.returns == DEFAULT_POLICY.returns


def test_an_empty_schedule_means_no_retries() -> None:
    policy = validate_document(with_policy({"retries": []})).partners[0].policy
    assert policy.retries == ()


def test_the_longest_schedule_is_accepted() -> None:
    policy = validate_document(with_policy({"retries": ["1m"] * MAX_RETRIES})).partners[0].policy
    assert len(policy.retries) == MAX_RETRIES == 10


@pytest.mark.parametrize(
    ("policy", "error"),
    [
        (
            {"retries": ["90 seconds"]},
            "partners[0].delivery.retries[0]: bad delay '90 seconds': write a whole number and a "
            "unit (s, m, h or d), e.g. '5m'",
        ),
        (
            {"retries": ["1m", "1.5h"]},
            "partners[0].delivery.retries[1]: bad delay '1.5h': write a whole number and a unit "
            "(s, m, h or d), e.g. '5m'",
        ),
        (
            {"retries": ["0s"]},
            "partners[0].delivery.retries[0]: bad delay '0s': a delay must be longer than nothing",
        ),
        (
            {"retries": ["5m", "8d"]},
            "partners[0].delivery.retries[1]: bad delay '8d': at most 7 days",
        ),
        (
            {"retries": ["1w"]},
            "partners[0].delivery.retries[0]: bad delay '1w': write a whole number and a unit "
            "(s, m, h or d), e.g. '5m'",
        ),
        (
            {"retries": ["1m"] * (MAX_RETRIES + 1)},
            "partners[0].delivery.retries: at most 10 items, not 11",
        ),
        (
            {"retries": "1m"},
            "partners[0].delivery.retries: should be a list",
        ),
        (
            {"on_exhausted": "resend"},
            "partners[0].delivery.on_exhausted: Input should be 'give_up' or 'reoffer'",
        ),
        (
            {"on_refused": "retry"},
            "partners[0].delivery.on_refused: Input should be 'give_up' or 'reoffer'",
        ),
        (
            {"returns": {"window": "10y"}},
            "partners[0].delivery.returns.window: bad duration '10y': write a whole number and a "
            "unit (m, h, d or w), e.g. '30d'",
        ),
        (
            {"returns": {"reoffer": "maybe"}},
            "partners[0].delivery.returns.reoffer: Input should be a valid boolean, unable to "
            "interpret input",
        ),
        ({"retry": ["1m"]}, "partners[0].delivery.retry: unknown key"),
        ("give_up", "partners[0].delivery: should be a mapping"),
    ],
)
def test_a_bad_policy_is_refused_at_its_path(policy: Any, error: str) -> None:
    assert errors_of(with_policy(policy)) == [error]


def test_every_mistake_of_every_policy_is_reported_at_once() -> None:
    raw = with_policy({"retries": ["1m", "0s"], "on_exhausted": "resend"})
    raw["partners"][1]["delivery"] = {"returns": {"window": "0d"}}
    assert errors_of(raw) == [
        "partners[0].delivery.retries[1]: bad delay '0s': a delay must be longer than nothing",
        "partners[0].delivery.on_exhausted: Input should be 'give_up' or 'reoffer'",
        "partners[1].delivery.returns.window: bad duration '0d': a span must be longer than "
        "nothing",
    ]


def test_rules_validate_prints_each_mistake_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yaml"
    raw = with_policy({"retries": ["8d"], "on_refused": "resend"})
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(["rules", "validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: invalid, 2 errors:",
        "  partners[0].delivery.retries[0]: bad delay '8d': at most 7 days",
        "  partners[0].delivery.on_refused: Input should be 'give_up' or 'reoffer'",
    ]


def test_a_document_without_policies_keeps_its_parts_and_digest() -> None:
    """Applying a document written before policies existed finds nothing to change."""
    parts = document_to_parts(validate_document(DOCUMENT))
    assert all("delivery" not in parts[key] for key in ("partner/crm-east", "partner/crm-west"))
    assert digest_of(parts) == DIGEST_WITHOUT_POLICIES


def test_a_policy_is_a_part_of_its_partner_with_its_defaults_written_out() -> None:
    parts = document_to_parts(validate_document(with_policy({"retries": ["30s"]})))
    assert parts["partner/crm-east"]["delivery"] == {
        "retries": ["30s"],
        "on_exhausted": "give_up",
        "on_refused": "give_up",
        "returns": {"window": "7d", "reoffer": False},
    }
    assert "delivery" not in parts["partner/crm-west"]
    assert digest_of(parts) != DIGEST_WITHOUT_POLICIES


@pytest.mark.parametrize("form", ["yaml", "json"])
def test_rules_get_prints_a_policy_that_reads_back_unchanged(form: TextFormat) -> None:
    policy = {"retries": ["30s", "12h"], "on_refused": "reoffer", "returns": {"window": "2w"}}
    parts = document_to_parts(validate_document(with_policy(policy)))
    text = document_text(parts, form, "version 4")
    assert document_to_parts(validate_document(parse_text(text))) == parts


def codes(raw: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (found.path, found.code)
        for found in lint(validate_document(raw))
        if found.code == "reoffer-without-alternative"
    ]


def test_lint_warns_when_a_lead_offered_again_can_go_nowhere() -> None:
    raw = with_policy({"on_refused": "reoffer", "returns": {"reoffer": True}})
    raw["partners"][1]["active"] = False  # the fallback, the profile's only other partner
    assert codes(raw) == [("partners[0].delivery.on_refused", "reoffer-without-alternative")]


def test_lint_names_the_first_choice_that_offers_leads_again() -> None:
    raw = with_policy({"returns": {"reoffer": True}})
    raw["profiles"][0]["fallback"] = None
    assert codes(raw) == [("partners[0].delivery.returns.reoffer", "reoffer-without-alternative")]


def test_lint_is_silent_when_another_partner_can_take_the_lead() -> None:
    assert codes(with_policy({"on_exhausted": "reoffer"})) == []


def test_lint_is_silent_when_one_of_the_profiles_has_another_partner() -> None:
    raw = with_policy({"on_exhausted": "reoffer"})
    raw["profiles"][0]["fallback"] = None
    raw["profiles"].append(
        {
            "id": "other",
            "sources": ["other-site"],
            "assignments": [
                {"id": "east", "partner": "crm-east"},
                {"id": "west", "partner": "crm-west"},
            ],
        }
    )
    assert codes(raw) == []


def test_lint_is_silent_when_leads_are_never_offered_again() -> None:
    raw = with_policy({"retries": ["1m"], "on_exhausted": "give_up"})
    raw["profiles"][0]["fallback"] = None
    assert codes(raw) == []
