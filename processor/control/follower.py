"""Following the config topic: the rules snapshot in force in a processor or a delivery worker.

A follower reads the topic to its end before its owner takes any work, then takes in what arrives
between the owner's rounds. It switches snapshots only when the topic's state
(:class:`~processor.control.state.ConfigState`) brings a version in force; a refused version leaves
the snapshot in force, and tells the owner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Message

from processor.control.records import VERSION_KEY, Refused, VersionRecord
from processor.control.state import ConfigState, config_state
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.rules import RuleError, RulesInvalid, Snapshot, compile_rules
from processor.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A rules version that was refused (its parts do not match it, or do not validate), and why."""

    version: str
    errors: RulesInvalid


class RulesFollower:
    """Keeps the rules snapshot in force, following the config topic.

    ``catch_up`` reads the topic to its end at start-up; ``poll`` then takes whatever arrived,
    without blocking. Both call ``on_switch`` with each new snapshot and ``on_refused`` for each
    version that is refused (the snapshot in force stays). No record on the topic makes either
    raise.
    """

    def __init__(
        self,
        settings: Settings,
        on_switch: Callable[[Snapshot], None],
        on_refused: Callable[[Refusal], None],
    ) -> None:
        self._consumer = reading_consumer(settings.kafka, "rules")
        self._topic = settings.topics.config_topic
        self._state = config_state(settings)
        self._on_switch = on_switch
        self._on_refused = on_refused
        self.snapshot: Snapshot | None = None

    def catch_up(self, timeout: float = 60.0) -> Snapshot | None:
        """Reads the topic to its end offsets; returns the snapshot in force then (if any)."""
        read_to_end(self._consumer, self._topic, self._take, timeout=timeout)
        settled = self._state.settle()
        if settled is not None:
            self._switch(settled)
        return self.snapshot

    @property
    def config(self) -> ConfigState:
        """The config topic as read so far: the document and version in force, what was refused."""
        return self._state

    def poll(self, timeout: float = 0.0) -> None:
        """Takes in every record that has arrived since; never waits longer than ``timeout``."""
        message = self._consumer.poll(timeout)
        while message is not None:
            if message.error() is None:
                self._take(message)
            message = self._consumer.poll(0)

    def close(self) -> None:
        self._consumer.close()
        self._state.close()

    def _take(self, message: Message) -> None:
        outcome = self._state.apply(message)
        if isinstance(outcome, Refused):
            if outcome.key == VERSION_KEY:
                errors = list(outcome.errors) or [RuleError(VERSION_KEY, outcome.detail)]
                if outcome.errors:
                    log.error("rules version %s does not validate:\n%s", outcome.version, errors)
                self._on_refused(Refusal(outcome.version or "?", RulesInvalid(errors)))
            return
        if outcome is not None:
            self._switch(outcome)

    def _switch(self, record: VersionRecord) -> None:
        document = self._state.document
        assert document is not None  # set with the version in force
        self.snapshot = compile_rules(document, record.version)
        log.info("rules version %s in force", record.version)
        self._on_switch(self.snapshot)
