"""The processor's own topics: what ``lead-router run`` creates when they are missing.

Its input, its outputs (audit, unroutable, dead letters, one delivery topic per partner, the
receipts of returns, compacted as the workers create it), the config topic and its history, which
it reads before it takes any lead, the returns topic (partners' returns of leads, which the match
stage reads beside the input), the decide topic between its two stages, and the state changelog.
The decide topic has exactly one partition: the decide stage reads
every lead in one place, which is what makes its state exact. The state changelog has one partition
per decide topic partition (changelog partition p holds the state of decide partition p), so one
too, and is compacted: only the latest value per key matters for a restore. Compaction waits
``STATE_HISTORY_DAYS`` before it drops a value, so that replay finds the state as it was at any
moment that recent (:mod:`processor.replay.start`). The others take the configured partitions and
replication.
"""

from __future__ import annotations

from collections.abc import Iterable

from processor.control.topics import config_topics
from processor.errors import InvalidInput
from processor.kafka.admin import COMPACTED, TopicAdmin, TopicSpec
from processor.settings import Settings

DECIDE_PARTITIONS = 1
"""The decide topic's partitions, and the state changelog's: one decide stage sees every lead."""


def state_config(settings: Settings) -> dict[str, str]:
    """The state changelog's topic configuration: compacted, each change kept whole for
    ``state_history_days`` first."""
    lag_ms = settings.topics.state_history_days * 86_400_000
    return {**COMPACTED, "min.compaction.lag.ms": str(lag_ms)}


class Topics:
    """Ensures the processor's topics through one :class:`TopicAdmin` (and its cache)."""

    def __init__(self, settings: Settings, admin: TopicAdmin | None = None) -> None:
        self._settings = settings
        self._admin = admin if admin is not None else TopicAdmin(settings)

    def ensure_base(self) -> None:
        """The input, output (receipts included), config, returns, decide and state topics."""
        s = self._settings
        self._refuse_shared_returns_topic()
        self._admin.ensure(
            [
                *config_topics(s),
                TopicSpec(s.topics.input_topic),
                TopicSpec(s.topics.audit_topic),
                TopicSpec(s.topics.unroutable_topic),
                TopicSpec(s.topics.dlq_topic),
                # The decide stage writes the receipts of returns, maybe before any worker runs.
                TopicSpec(s.topics.receipts_topic, config=COMPACTED),
                TopicSpec(s.topics.returns_topic),
            ]
        )
        self._ensure_counted(
            TopicSpec(s.topics.decide_topic, partitions=DECIDE_PARTITIONS),
            "decide_topic",
            "the decide stage must read every lead in one place for caps and duplicate checks "
            "to be exact",
        )
        self._ensure_counted(
            TopicSpec(s.topics.state_topic, partitions=DECIDE_PARTITIONS, config=state_config(s)),
            "state_topic",
            f"it holds the state of the partitions of {s.topics.decide_topic}",
        )

    def _refuse_shared_returns_topic(self) -> None:
        """The match stage tells a return from a lead by the topic it was read from: a returns
        topic that is also another of the processor's topics would make every record there one."""
        t = self._settings.topics
        others = {
            "input_topic": t.input_topic,
            "decide_topic": t.decide_topic,
            "audit_topic": t.audit_topic,
            "unroutable_topic": t.unroutable_topic,
            "dlq_topic": t.dlq_topic,
            "config_topic": t.config_topic,
            "state_topic": t.state_topic,
        }
        for setting, topic in others.items():
            if topic == t.returns_topic:
                raise InvalidInput(
                    f"RETURNS_TOPIC and {setting.upper()} both name {topic}: the returns topic "
                    "must be a topic of its own"
                )

    def _ensure_counted(self, spec: TopicSpec, setting: str, why: str) -> None:
        """``spec``'s topic, which must have exactly its partitions; an existing one with another
        count is refused, naming ``setting``, which can name another topic."""
        self._admin.ensure([spec])
        found = self._admin.partitions(spec.name)
        if found != spec.partitions:
            self._admin.forget(spec.name)
            raise InvalidInput(
                f"the topic {spec.name} has {found} partitions, but it must have "
                f"{spec.partitions}: {why}. Delete {spec.name} (the processor creates it again), "
                f"or set --{setting.replace('_', '-')} / LEAD_ROUTER_{setting.upper()} to a new "
                "topic"
            )

    def ensure_deliveries(self, partner_ids: Iterable[str]) -> None:
        """One delivery topic per partner, as the rules in force name them."""
        self._admin.ensure(TopicSpec(self._settings.topics.delivery_topic(p)) for p in partner_ids)
