"""``rules get`` prints a document that reads back as the very same parts (the same digest)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.rules import RulesDocument, document_to_parts, load_rules, validate_document
from processor.rules.dump import TextFormat, document_data, document_text
from processor.rules.load import parse_text

DEMO = Path(__file__).parents[3] / "processor" / "demo" / "rules.yaml"
SAMPLES = runpy.run_path(str(Path(__file__).parents[2] / "integration" / "samples.py"))
"""The rules the stream tests share."""
SAMPLE: str = SAMPLES["RULES"]

TRICKY = [
    "NO",
    "ON",
    "01234",
    "1e5",
    "+1",
    ".5",
    "2024-05-01",
    "null",
    "~",
    "true",
    "TRUE",
    " padded ",
    "a: b",
    "#hash",
    "- dash",
    "Zürich",
    "line\nbreak",
    "[1]",
]
"""Strings a YAML writer or reader could take for something else."""


def tricky() -> RulesDocument:
    conditions = [[{"field": "comments", "op": "in_list", "value": TRICKY}]]
    return validate_document(
        {
            "partners": [{"id": "p", "format": "json", "destinations": ["https://p.example"]}],
            "profiles": [
                {
                    "id": "main",
                    "sources": ["01234", "NO", "1e5"],
                    "assignments": [{"id": "a", "partner": "p", "filter": conditions}],
                }
            ],
        }
    )


def round_trip(document: RulesDocument, form: TextFormat) -> dict[str, Any]:
    text = document_text(document_to_parts(document), form, "version 3\napplied by someone")
    return document_to_parts(validate_document(parse_text(text)))


@pytest.mark.parametrize("form", ["yaml", "json"])
@pytest.mark.parametrize(
    "document",
    [load_rules(DEMO), load_rules(SAMPLE), load_rules(SAMPLES["WEIGHTED_RULES"]), tricky()],
    ids=["demo", "samples", "weighted-samples", "tricky-strings"],
)
def test_the_text_reads_back_as_the_same_parts(document: RulesDocument, form: TextFormat) -> None:
    assert round_trip(document, form) == document_to_parts(document)


def test_tricky_strings_stay_strings() -> None:
    parts = round_trip(tricky(), "yaml")
    [[condition]] = parts["profile/main"]["assignments"][0]["filter"]
    assert condition["value"] == TRICKY
    assert parts["profile/main"]["sources"] == ["01234", "NO", "1e5"]


def test_yaml_is_a_rules_file_with_the_comment_on_top() -> None:
    text = document_text(document_to_parts(load_rules(SAMPLE)), "yaml", "version 3\ndigest abc")
    assert text.startswith("# version 3\n# digest abc\nfields:\n")
    data = yaml.safe_load(text)
    assert list(data) == ["fields", "partners", "profiles"]
    assert [partner["id"] for partner in data["partners"]][:2] == ["store-nyc", "store-bos"]


def test_a_document_without_fields_has_no_fields_section() -> None:
    data = document_data(document_to_parts(tricky()))
    assert list(data) == ["partners", "profiles"]
