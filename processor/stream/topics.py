"""The processor's own topics: what ``lead-router run`` creates when they are missing.

Its input, its outputs (audit, unroutable, dead letters, one delivery topic per partner), the
rotation-state changelog (compacted: only the latest value per key matters), and the config topic
and its history, which it reads before it takes any lead. The others take the configured partitions
and replication.
"""

from __future__ import annotations

from collections.abc import Iterable

from processor.control.topics import config_topics
from processor.kafka.admin import COMPACTED, TopicAdmin, TopicSpec
from processor.settings import Settings


class Topics:
    """Ensures the processor's topics through one :class:`TopicAdmin` (and its cache)."""

    def __init__(self, settings: Settings, admin: TopicAdmin | None = None) -> None:
        self._settings = settings
        self._admin = admin if admin is not None else TopicAdmin(settings)

    def ensure_base(self) -> None:
        """The input, output, config and state topics."""
        s = self._settings
        self._admin.ensure(
            [
                *config_topics(s),
                TopicSpec(s.state_topic, partitions=1, config=COMPACTED),
                TopicSpec(s.input_topic),
                TopicSpec(s.audit_topic),
                TopicSpec(s.unroutable_topic),
                TopicSpec(s.dlq_topic),
            ]
        )

    def ensure_deliveries(self, partner_ids: Iterable[str]) -> None:
        """One delivery topic per partner, as the rules in force name them."""
        self._admin.ensure(TopicSpec(self._settings.delivery_topic(p)) for p in partner_ids)
