"""``lead-router rules validate|lint`` and ``lead-router dry-run``, run as a user runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from processor.cli import main
from processor.cli.dryrun import MAX_LINE_BYTES, SURROGATE

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


SUBMITTED_AT = "2026-11-20T10:00:00Z"


def lead(lead_id: str, state: str, **changes: object) -> str:
    document = {"lead_id": lead_id, "submitted_at": SUBMITTED_AT, "site_id": "site-a"}
    return json.dumps(document | {"address": {"state": state}} | changes)


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
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(rules_file.read_bytes())))
        assert main(["rules", "validate", "-"]) == 0

    def test_a_missing_file_is_a_user_error(self, tmp_path, capsys):
        assert main(["rules", "validate", str(tmp_path / "none.yaml")]) == 1
        assert "cannot read rules file" in capsys.readouterr().err

    def test_usage_errors_exit_2(self):
        with pytest.raises(SystemExit) as caught:
            main(["rules", "validate"])
        assert caught.value.code == 2

    def test_an_alias_bomb_exits_1_with_what_is_wrong(self, tmp_path, capsys, alias_bomb):
        path = tmp_path / "bomb.yaml"
        path.write_text(alias_bomb)
        assert main(["rules", "validate", str(path)]) == 1
        out = capsys.readouterr().out
        assert "YAML aliases expand the document's" in out
        assert "LEAD_ROUTER_RULES_MAX_ALIAS_EXPANSION" in out

    def test_an_oversized_document_exits_1_with_the_limit(self, rules_file, capsys, monkeypatch):
        monkeypatch.setenv("LEAD_ROUTER_RULES_MAX_BYTES", "100")
        assert main(["rules", "validate", str(rules_file)]) == 1
        assert "larger than 100 bytes, the limit (LEAD_ROUTER_RULES_MAX_BYTES)" in (
            capsys.readouterr().out
        )

    def test_a_limit_given_as_a_flag(self, rules_file, capsys):
        assert main(["rules", "validate", "--rules-max-assignments", "1", str(rules_file)]) == 1
        assert "2 assignments in all profiles: at most 1" in capsys.readouterr().out

    def test_an_oversized_stdin_is_refused(self, capsys, monkeypatch):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"partners: []\n" * 100)))
        assert main(["rules", "validate", "--rules-max-bytes", "1000", "-"]) == 1
        assert "larger than 1,000 bytes" in capsys.readouterr().out


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

    def test_the_limits_hold(self, rules_file, capsys):
        assert main(["rules", "lint", "--rules-max-list-items", "1", str(rules_file)]) == 1
        assert "at most 1 (LEAD_ROUTER_RULES_MAX_LIST_ITEMS)" in capsys.readouterr().out

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

    def test_a_lead_id_seen_again_in_one_run_is_a_duplicate_of_itself(
        self, rules_file, tmp_path, capsys
    ):
        leads = tmp_path / "leads.jsonl"
        leads.write_text("\n".join([lead("1", "CA"), lead("2", "CA"), lead("1", "CA")]))
        for _ in range(2):  # each call starts from fresh state
            assert main(["dry-run", "--rules", str(rules_file), str(leads)]) == 0
            decisions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
            assert [(d["outcome"], d["duplicate_of"]) for d in decisions] == [
                ("routed", None),
                ("routed", None),
                ("duplicate", "1"),
            ]
            assert decisions[2]["deliveries"] == []

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
        assert errors[1] == f"lead-router: {leads}:4: lead_id: must not be empty"
        assert errors[2] == f"lead-router: {leads}:5: lead: expected an object, got an array"
        assert errors[3] == "lead-router: 3 lines skipped"

    def test_a_lead_the_processor_would_reject_is_rejected_with_its_reason(
        self, rules_file, tmp_path, capsys
    ):
        leads = tmp_path / "leads.jsonl"
        blank_site = json.dumps({"lead_id": "2", "submitted_at": SUBMITTED_AT, "site_id": " "})
        no_site = json.dumps({"lead_id": "3", "submitted_at": SUBMITTED_AT})
        leads.write_text(
            "\n".join(
                [
                    lead("1", "CA"),
                    blank_site,
                    no_site,
                    lead("4", "CA", submitted_at="yesterday"),
                    lead("5", "CA", vehicle={"year": "MMXX"}),
                    lead("6", "CA", site_id=None),
                    lead("7", "CA", submitted_at=None),
                    lead("8", "CA", budget=100),
                    lead("9", "CA"),
                ]
            )
        )
        assert main(["dry-run", "--rules", str(rules_file), str(leads)]) == 0
        decisions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(d["lead_id"], d["outcome"], d["error"]) for d in decisions] == [
            ("1", "routed", None),
            ("2", "rejected", "invalid-lead: site_id: must not be empty"),
            ("3", "rejected", "invalid-lead: site_id: must not be empty"),
            ("4", "rejected", "invalid-lead: submitted_at: expected an ISO-8601 timestamp"),
            (
                "5",
                "rejected",
                "invalid-lead: vehicle.year: expected null or an integer, got a string",
            ),
            ("6", "rejected", "invalid-lead: site_id: must not be empty"),
            ("7", "rejected", "invalid-lead: submitted_at: missing"),
            ("8", "rejected", "invalid-lead: budget: not a field of the lead"),
            ("9", "routed", None),
        ]
        rejected = decisions[1]
        assert (rejected["profile"], rejected["tier"], rejected["deliveries"]) == (None, None, [])
        assert (rejected["geo"], rejected["trace"]) == (None, [])
        # The rejected leads took no turn: the rotation goes on from lead 1 to lead 9.
        assert [d["deliveries"][0]["assignment"] for d in (decisions[0], decisions[-1])] == [
            "ca",
            "ca-too",
        ]

    def test_hostile_lines_are_reported_by_number_and_the_rest_routed(
        self, rules_file, tmp_path, capsys
    ):
        leads = tmp_path / "leads.jsonl"
        lines = [
            lead("1", "CA").encode(),
            b"[" * 100_000,
            lead("3", "CA", comments="\ud800").encode(),
            lead("4", "CA", comments="caf\u00e9").encode().replace(b"\\u00e9", b"\xe9"),
            lead("5", "CA", comments="x" * (MAX_LINE_BYTES + 10)).encode(),
            lead("6", "CA", comments="\ud83d\ude00").encode(),
            b"{" * 500 + b"x",
        ]
        leads.write_bytes(b"\n".join(lines) + b"\n")
        assert main(["dry-run", "--rules", str(rules_file), str(leads)]) == 1
        captured = capsys.readouterr()
        decisions = [json.loads(line) for line in captured.out.splitlines()]
        assert [(d["lead_id"], d["outcome"]) for d in decisions] == [
            ("1", "routed"),
            ("6", "routed"),
        ]
        errors = captured.err.splitlines()
        assert errors[0] == f"lead-router: {leads}:2: not valid JSON: nested too deeply"
        assert errors[1] == f"lead-router: {leads}:3: {SURROGATE}"
        assert (
            errors[2] == f"lead-router: {leads}:4: not UTF-8 text (byte {lines[3].index(0xE9) + 1})"
        )
        assert errors[3] == f"lead-router: {leads}:5: longer than {MAX_LINE_BYTES} bytes"
        assert errors[4].startswith(f"lead-router: {leads}:7: not valid JSON: ")
        assert errors[5] == "lead-router: 5 lines skipped"
        assert "Traceback" not in captured.err

    def test_reads_stdin(self, rules_file, capsys, monkeypatch):
        stdin = io.TextIOWrapper(io.BytesIO(lead("1", "CA").encode() + b"\n"))
        monkeypatch.setattr("sys.stdin", stdin)
        assert main(["dry-run", "--rules", str(rules_file)]) == 0
        assert json.loads(capsys.readouterr().out)["lead_id"] == "1"

    def test_geolocation_from_the_leads_own_coordinates(self, rules_file, tmp_path, capsys):
        leads = tmp_path / "leads.jsonl"
        leads.write_text(lead("1", "NY", visitor={"lat": 40.7, "lon": -74.0}))
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

    def test_the_limits_hold(self, rules_file, capsys, monkeypatch):
        monkeypatch.setenv("LEAD_ROUTER_RULES_MAX_PROFILES", "0")
        assert main(["dry-run", "--rules", str(rules_file), "/nonexistent"]) == 1
        assert "LEAD_ROUTER_RULES_MAX_PROFILES" in capsys.readouterr().err
        monkeypatch.delenv("LEAD_ROUTER_RULES_MAX_PROFILES")
        assert main(["dry-run", "--rules", str(rules_file), "--rules-max-bytes", "10"]) == 1
        assert "larger than 10 bytes" in capsys.readouterr().err

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
