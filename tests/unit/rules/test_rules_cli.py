"""``lead-router rules validate|lint`` and ``lead-router dry-run``, run as a user runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from processor.cli import main

RULES = {
    "partners": [
        {"id": "p1", "format": "json", "destinations": ["https://p1"]},
        {"id": "p2", "format": "json", "destinations": ["https://p2"]},
        {"id": "bdc", "format": "json", "destinations": ["https://bdc"]},
    ],
    "profiles": [
        {
            "id": "main",
            "sources": ["site-a"],
            "strategy": "round_robin",
            "fallback": "bdc",
            "assignments": [
                {
                    "id": "ca",
                    "partner": "p1",
                    "filter": [[{"field": "address.state", "op": "equals", "value": "CA"}]],
                },
                {
                    "id": "ca-too",
                    "partner": "p2",
                    "filter": [[{"field": "address.state", "op": "in_list", "value": ["ca"]}]],
                },
            ],
        }
    ],
}


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(RULES))
    return path


@pytest.fixture
def invalid_file(tmp_path: Path) -> Path:
    broken = json.loads(json.dumps(RULES))
    broken["profiles"][0]["strategy"] = "random"
    broken["profiles"][0]["assignments"][1]["partner"] = "ghost"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    return path


def lead(lead_id: str, state: str) -> str:
    return json.dumps({"lead_id": lead_id, "site_id": "site-a", "address": {"state": state}})


class TestValidate:
    def test_valid(self, rules_file, capsys):
        assert main(["rules", "validate", str(rules_file)]) == 0
        assert capsys.readouterr().out == (
            f"{rules_file}: valid (3 partners, 1 profile, 2 assignments)\n"
        )

    def test_invalid_lists_every_error_and_exits_1(self, invalid_file, capsys):
        assert main(["rules", "validate", str(invalid_file)]) == 1
        out = capsys.readouterr().out
        assert out.splitlines() == [
            f"{invalid_file}: invalid, 2 errors:",
            "  profiles[0].strategy: unknown strategy 'random'",
            "  profiles[0].assignments[1].partner: unknown partner 'ghost'",
        ]

    def test_json_format(self, invalid_file, capsys):
        assert main(["rules", "validate", "--format", "json", str(invalid_file)]) == 1
        report = json.loads(capsys.readouterr().out)
        assert report["valid"] is False
        assert report["errors"][0] == {
            "path": "profiles[0].strategy",
            "message": "unknown strategy 'random'",
        }

    def test_stdin(self, rules_file, capsys, monkeypatch):
        monkeypatch.setattr("sys.stdin", io.StringIO(rules_file.read_text()))
        assert main(["rules", "validate", "-"]) == 0

    def test_a_missing_file_is_a_user_error(self, tmp_path, capsys):
        assert main(["rules", "validate", str(tmp_path / "none.yaml")]) == 1
        assert "cannot read rules file" in capsys.readouterr().err

    def test_usage_errors_exit_2(self):
        with pytest.raises(SystemExit) as caught:
            main(["rules", "validate"])
        assert caught.value.code == 2


class TestLint:
    def test_a_table_people_can_read(self, tmp_path, capsys):
        doc = json.loads(json.dumps(RULES))
        doc["profiles"][0]["strategy"] = "first_match"
        doc["profiles"][0]["assignments"].insert(0, {"id": "any", "partner": "p1"})
        doc["partners"].append({"id": "idle", "format": "json", "destinations": ["x"]})
        path = tmp_path / "rules.json"
        path.write_text(json.dumps(doc))
        assert main(["rules", "lint", str(path)]) == 0
        assert capsys.readouterr().out.splitlines() == [
            "WHERE                       WARNING         MEANING",
            "partners[3]                 unused-partner  partner 'idle' is never referenced",
            "profiles[0].assignments[1]  shadowed        assignment 'ca' is never chosen: 'any' "
            "before it in the same tier matches every lead (first_match)",
            "profiles[0].assignments[2]  shadowed        assignment 'ca-too' is never chosen: "
            "'any' before it in the same tier matches every lead (first_match)",
            "",
            f"{path}: 3 warnings",
        ]

    def test_no_warnings(self, rules_file, capsys):
        assert main(["rules", "lint", str(rules_file)]) == 0
        assert capsys.readouterr().out == f"{rules_file}: no warnings\n"

    def test_strict_exits_1_on_warnings(self, tmp_path, capsys):
        doc = json.loads(json.dumps(RULES))
        doc["partners"].append({"id": "unused", "format": "json", "destinations": ["x"]})
        path = tmp_path / "rules.json"
        path.write_text(json.dumps(doc))
        assert main(["rules", "lint", "--strict", str(path)]) == 1
        assert "unused-partner" in capsys.readouterr().out
        assert main(["rules", "lint", str(path)]) == 0

    def test_json_format(self, tmp_path, capsys):
        doc = json.loads(json.dumps(RULES))
        doc["profiles"][0]["base_price"] = -1
        path = tmp_path / "rules.json"
        path.write_text(json.dumps(doc))
        assert main(["rules", "lint", "--format", "json", str(path)]) == 0
        report = json.loads(capsys.readouterr().out)
        assert {"code": "negative-price", "path": "profiles[0].base_price",
                "message": "base_price is below zero"} in report["warnings"]  # fmt: skip

    def test_an_invalid_document_is_reported_and_exits_1(self, invalid_file, capsys):
        assert main(["rules", "lint", str(invalid_file)]) == 1
        assert "unknown strategy 'random'" in capsys.readouterr().out


class TestDryRun:
    def test_one_decision_per_lead_in_order_with_fresh_rotation(self, rules_file, tmp_path, capsys):
        leads = tmp_path / "leads.jsonl"
        leads.write_text(
            "\n".join([lead("1", "CA"), lead("2", "ca"), lead("3", "NY"), lead("4", "CA")])
        )
        assert main(["dry-run", "--rules", str(rules_file), str(leads)]) == 0
        decisions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(d["lead_id"], d["outcome"], d["tier"]) for d in decisions] == [
            ("1", "routed", "all"),
            ("2", "routed", "all"),
            ("3", "fallback", "fallback"),
            ("4", "routed", "all"),
        ]
        assert [[x["assignment"] for x in d["deliveries"]] for d in decisions] == [
            ["ca"],
            ["ca-too"],
            [None],
            ["ca"],
        ]
        assert all(d["trace"] for d in decisions)
        # A second call starts rotation afresh.
        main(["dry-run", "--rules", str(rules_file), str(leads)])
        again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert again[0]["deliveries"][0]["assignment"] == "ca"

    def test_bad_lines_are_reported_with_their_number_and_the_run_goes_on(
        self, rules_file, tmp_path, capsys
    ):
        leads = tmp_path / "leads.jsonl"
        leads.write_text(
            "\n".join(
                [lead("1", "CA"), "{not json", "", '{"site_id": "site-a"}', "[1]", lead("5", "NY")]
            )
            + "\n"
        )
        assert main(["dry-run", "--rules", str(rules_file), str(leads)]) == 1
        captured = capsys.readouterr()
        assert [json.loads(line)["lead_id"] for line in captured.out.splitlines()] == ["1", "5"]
        errors = captured.err.splitlines()
        assert errors[0].startswith(f"lead-router: {leads}:2: not valid JSON")
        assert errors[1] == f"lead-router: {leads}:4: the lead has no lead_id (a non-empty string)"
        assert errors[2] == f"lead-router: {leads}:5: a lead is a JSON object"
        assert errors[3] == "lead-router: 3 lines skipped"

    def test_reads_stdin(self, rules_file, capsys, monkeypatch):
        monkeypatch.setattr("sys.stdin", io.StringIO(lead("1", "CA") + "\n"))
        assert main(["dry-run", "--rules", str(rules_file)]) == 0
        assert json.loads(capsys.readouterr().out)["lead_id"] == "1"

    def test_geolocation_from_the_leads_own_coordinates(self, rules_file, tmp_path, capsys):
        leads = tmp_path / "leads.jsonl"
        leads.write_text(
            json.dumps(
                {"lead_id": "1", "site_id": "site-a", "visitor": {"lat": 40.7, "lon": -74.0}}
            )
        )
        assert main(["dry-run", "--rules", str(rules_file), str(leads)]) == 0
        decision = json.loads(capsys.readouterr().out)
        assert decision["geo"]["source"] == "coords"
        assert (decision["geo"]["lat"], decision["geo"]["lon"]) == (40.7, -74.0)

    def test_trace_limit(self, rules_file, tmp_path, capsys):
        leads = tmp_path / "leads.jsonl"
        leads.write_text(lead("1", "NY"))
        assert main(["dry-run", "--rules", str(rules_file), "--trace-limit", "0", str(leads)]) == 0
        trace = json.loads(capsys.readouterr().out)["trace"]
        assert not [entry for entry in trace if entry["step"] == "assignment"]
        assert [entry["assignments"] for entry in trace if entry["step"] == "not_shown"] == [2]

    def test_an_invalid_rules_file_exits_1_before_reading_leads(self, invalid_file, capsys):
        assert main(["dry-run", "--rules", str(invalid_file), "/nonexistent"]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "profiles[0].strategy: unknown strategy 'random'" in captured.err

    def test_help_teaches(self, capsys):
        with pytest.raises(SystemExit):
            main(["dry-run", "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text and "--geo-ip-db" in text and "--postcodes" in text


def test_apply_takes_only_a_version_number_to_expect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES))
    with pytest.raises(SystemExit) as raised:
        main(["rules", "apply", str(path), "--expect-version", "latest"])
    assert raised.value.code == 2
    assert "'latest' is not a version number" in capsys.readouterr().err
