"""The processor holds every rules version it reads from the config topic to its own limits."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY
from samples import RULES, WEIGHTED_RULES, leads
from streamkit import apply_rules, publish, reading, running

from processor.settings import Settings

pytestmark = pytest.mark.integration


def refused_total() -> float:
    return REGISTRY.get_sample_value("lead_router_rules_refused_total") or 0.0


def test_a_version_over_the_processors_limits_is_refused_and_routing_continues(
    stream_settings: Settings,
) -> None:
    # RULES has 7 assignments, WEIGHTED_RULES 10: `rules apply` (default limits) takes both, a
    # processor limited to 7 must keep the first in force.
    limited = stream_settings.with_changes(rules_max_assignments=7)
    good = apply_rules(stream_settings, RULES)
    refused_before = refused_total()
    with reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit:
        with running(limited) as app:
            publish(stream_settings, leads(20, "one"))
            audit.wait_for(20)
            apply_rules(stream_settings, WEIGHTED_RULES)
            deadline = time.monotonic() + 60
            while refused_total() == refused_before:
                assert time.monotonic() < deadline, "the version over the limit was not refused"
                time.sleep(0.05)
            publish(stream_settings, leads(20, "two"))
            audit.wait_for(40)
            assert app.rules_version == good
        decisions = audit.drain()
    assert {d["rules_version"] for d in decisions} == {good}
    assert refused_total() == refused_before + 1
