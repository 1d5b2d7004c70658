"""The lead page's "what came in" on a real broker: the lead read back from the input record a
decision names, and a clear sentence when that record is not there to read."""

from __future__ import annotations

import pytest
from streamkit import publish

from processor.console.web.leads import KafkaLeads
from processor.settings import Settings

pytestmark = pytest.mark.integration


def test_the_lead_is_read_from_the_input_record(stream_settings: Settings) -> None:
    lead = {
        "lead_id": "ana-1",
        "submitted_at": "2026-11-20T10:00:00Z",
        "site_id": "dealer-web",
        "contact": {"email": "ana@mail.example"},
    }
    publish(stream_settings, [{**lead, "lead_id": "first"}, lead])
    read = KafkaLeads(stream_settings)
    topic = stream_settings.topics.input_topic

    found = read(topic, 0, 1)
    assert not isinstance(found, str), found
    assert found["lead_id"] == "ana-1" and found["contact"]["email"] == "ana@mail.example"

    assert read(topic, 0, 10**9) == "is not held (the partition holds offsets 0 to 1)"
    other = stream_settings.topics.audit_topic
    assert read(other, 0, 0) == f"is not a record of {topic}"
