"""``lead-router rules diff`` on files: its output and its diff(1)-like exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.cli import main

RULES: dict[str, Any] = {
    "partners": [{"id": "p1", "format": "json", "destinations": ["https://p1"]}],
    "profiles": [
        {
            "id": "main",
            "sources": ["site-a"],
            "assignments": [{"id": "a", "partner": "p1", "price": 40}],
        }
    ],
}


def write(tmp_path: Path, name: str, document: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    changed = json.loads(json.dumps(RULES))
    changed["profiles"][0]["assignments"][0]["price"] = 45
    return write(tmp_path, "old.yaml", RULES), write(tmp_path, "new.yaml", changed)


def test_the_same_rules_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(tmp_path, "old.yaml", RULES)
    assert main(["rules", "diff", old, old]) == 0
    assert capsys.readouterr().out == f"{old} and {old} are the same\n"


def test_a_difference_is_listed_and_exits_1(
    files: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = files
    assert main(["rules", "diff", old, new]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"--- {old}",
        f"+++ {new}",
        "~ profile main / assignment a: price 40 -> 45",
        "~1 assignment",
    ]


def test_json_names_the_entity_and_field(
    files: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = files
    assert main(["rules", "diff", "--format", "json", old, new]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["same"] is False
    assert shown["changes"] == [
        {
            "kind": "changed",
            "category": "assignment",
            "entity": "profile main / assignment a",
            "path": "price",
            "old": 40.0,
            "new": 45.0,
        }
    ]


def test_an_invalid_side_exits_2_saying_why(
    files: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write(tmp_path, "broken.yaml", {"profiles": [{"id": "x", "strategy": "random"}]})
    assert main(["rules", "diff", files[0], broken]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "broken.yaml: invalid" in captured.err
    assert "unknown strategy 'random'" in captured.err
    assert "Traceback" not in captured.err


def test_a_missing_file_exits_2(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "diff", files[0], "/nonexistent/rules.yaml"]) == 2
    assert "cannot read rules file" in capsys.readouterr().err


def test_a_version_that_is_not_a_number_exits_2(
    files: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "diff", "@latest", files[0]]) == 2
    assert "name a version as @N (a number) or @live" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["rules", "diff", "only-one.yaml"])
    assert caught.value.code == 2
