"""Publishers on another version of LeadSubmitted than lead-router's, on a real broker.

Publishers upgrade on their own schedule: a lead written in single-object encoding with a version
one behind (``LeadSubmitted.v0``: one optional field fewer) or one ahead (``LeadSubmitted.v2``: one
optional field more) must be routed like the same lead written with the current schema, not
dead-lettered. Released versions are in ``schemas/history``; these two are not, so the processor
is given them as ``WRITER_SCHEMAS_DIR`` (tests/fixtures/writer-schemas).
"""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer
from samples import RULES, leads, summary
from streamkit import apply_rules, publish, reading, running, start_dry_run

from processor.settings import Settings
from processor.wire import Codec, lead_from_json
from processor.wire.framing import single_object_header
from processor.wire.schemas import parse_writer_schema

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "writer-schemas"


def written_with(version: str, lead: dict[str, Any]) -> bytes:
    """The lead as a publisher on ``version`` writes it, in single-object encoding."""
    schema = parse_writer_schema(
        json.loads((FIXTURES / f"LeadSubmitted.{version}.avsc").read_text())
    )
    record = lead_from_json(lead) | {"utm_source": "newsletter"}  # v0 and v1 drop it
    sink = BytesIO()
    schemaless_writer(sink, schema.parsed, record)
    return single_object_header(schema.fingerprint) + sink.getvalue()


def test_leads_of_a_version_behind_and_ahead_are_routed_not_dead_lettered(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings.with_changes(writer_schemas_dir=FIXTURES)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    apply_rules(settings, rules)
    sample = leads(60)
    current = Codec()
    encoded = [
        written_with("v0", lead)
        if n % 3 == 0
        else written_with("v2", lead)
        if n % 3 == 1
        else current.encode(settings.topics.input_topic, "LeadSubmitted", lead_from_json(lead))
        for n, lead in enumerate(sample)
    ]
    publish(settings, encoded)
    offline = start_dry_run(rules, sample, tmp_path)  # decides while the processor does

    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        reading(settings, settings.topics.dlq_topic, None) as dlq,
    ):
        with running(settings):
            decisions = audit.wait_for(len(sample))
        dead = dlq.drain()

    assert not dead, [d["headers"] for d in dead[:3]]
    expected = {d["lead_id"]: summary(d) for d in offline()}
    assert {d["lead_id"]: summary(d) for d in decisions} == expected
    assert {d["outcome"] for d in decisions} == {"routed", "fallback", "unroutable"}
