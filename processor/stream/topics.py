"""The processor's own topics: what ``lead-router run`` creates when they are missing.

Its input, its outputs (audit, unroutable, dead letters, one delivery topic per partner), the config
topic and its history, which it reads before it takes any lead, and the state changelog. The state
changelog has one partition per input partition (changelog partition p holds the state of input
partition p), so it is made after the input topic, with the partitions the input topic has; it is
compacted: only the latest value per key matters. The others take the configured partitions and
replication.
"""

from __future__ import annotations

from collections.abc import Iterable

from processor.control.topics import config_topics
from processor.errors import InvalidInput
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
                TopicSpec(s.topics.input_topic),
                TopicSpec(s.topics.audit_topic),
                TopicSpec(s.topics.unroutable_topic),
                TopicSpec(s.topics.dlq_topic),
            ]
        )
        self._ensure_state()

    def _ensure_state(self) -> None:
        """The state changelog, with as many partitions as the input topic has; an existing one
        with another count is refused, since its partitions would hold other partitions' state."""
        topics = self._settings.topics
        inputs = self._admin.partitions(topics.input_topic)
        self._admin.ensure([TopicSpec(topics.state_topic, partitions=inputs, config=COMPACTED)])
        found = self._admin.partitions(topics.state_topic)
        if found != inputs:
            self._admin.forget(topics.state_topic)
            raise InvalidInput(
                f"the state topic {topics.state_topic} has {found} partitions, but the input "
                f"topic {topics.input_topic} has {inputs}: they must be equal. Delete "
                f"{topics.state_topic} (the processor creates it again, and rotation starts "
                "afresh), or set "
                f"--state-topic / LEAD_ROUTER_STATE_TOPIC to a new topic"
            )

    def ensure_deliveries(self, partner_ids: Iterable[str]) -> None:
        """One delivery topic per partner, as the rules in force name them."""
        self._admin.ensure(TopicSpec(self._settings.topics.delivery_topic(p)) for p in partner_ids)
