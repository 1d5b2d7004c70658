"""Publishing the selected leads to the input topic again: once, whatever happens.

Every record a redrive publishes names the dead-letter or unroutable record it came from (header
``lead-router.redriven-from``). Before publishing, the input topic is read from the earliest
selected record's time to its end, and every selected record already redriven is skipped: running
the same redrive twice publishes nothing the second time. What is left goes in one Kafka
transaction, all or nothing. One transactional id per input topic makes a redrive that starts
fence one still running, and the input topic is read after fencing: two redrives never both
publish a lead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from confluent_kafka import KafkaException, Message

from processor.errors import UserError
from processor.kafka import clients
from processor.kafka.errors import FatalError
from processor.kafka.records import DEAD_LETTER_HEADROOM, REDRIVEN_HEADER
from processor.kafka.session import (
    TransactionalSession,
    close_quietly,
    refusal,
)
from processor.kafka.span import Span, read_span, topic_partitions
from processor.redrive.select import Candidate, headers_of
from processor.settings import Settings

Status = Literal["published", "would-publish", "already-redriven", "not-redrivable", "over-limit"]

Progress = Callable[[str], object]


@dataclass(frozen=True, slots=True)
class Redriven:
    """What became of one candidate, and why when it was not published."""

    candidate: Candidate
    status: Status
    why: str | None = None


class RedriveFailed(UserError):
    """Kafka refused the redrive's transaction; it was aborted and nothing was published."""

    exit_code = 4


class RedriveFenced(UserError):
    """Another redrive to the same input topic started meanwhile: nothing of this one was
    published."""

    exit_code = 7


def redrive_transactional_id(settings: Settings) -> str:
    """One transactional id per input topic: a redrive that starts fences one still running."""
    return f"lead-router-redrive.{settings.topics.input_topic}"


def redrive(
    settings: Settings,
    candidates: Sequence[Candidate],
    *,
    dry_run: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
) -> list[Redriven]:
    """Publishes the candidates not redriven before (at most ``limit``) in one transaction; with
    ``dry_run``, only says which it would publish."""
    if not any(candidate.record for candidate in candidates):
        return plan(candidates, {}, limit, "would-publish")
    if dry_run:
        return plan(
            candidates, _redriven_before(settings, candidates, progress), limit, "would-publish"
        )
    session = TransactionalSession(
        clients.transactional_producer(
            settings.kafka,
            redrive_transactional_id(settings),
            {"message.max.bytes": settings.kafka.max_record_bytes + DEAD_LETTER_HEADROOM},
        )
    )
    step = "fencing earlier redrives (init_transactions)"
    try:
        session.init()
        step = f"reading {settings.topics.input_topic}"
        before = _redriven_before(settings, candidates, progress)
        planned = plan(candidates, before, limit, "published")
        chosen = [each.candidate for each in planned if each.status == "published"]
        if chosen:
            step = "writing the transaction"
            session.begin()
            now = int(time.time() * 1000)
            for candidate in chosen:
                assert candidate.record is not None
                # Never earlier than its source record: the next redrive's check reads the
                # input topic from the earliest source record's time.
                at = max(now, candidate.timestamp)
                session.produce(replace(candidate.record, timestamp=at))
            step = "committing the transaction"
            session.commit()
        return planned
    except (KafkaException, FatalError) as exception:
        error, fenced = refusal(session, exception)
        if fenced:
            raise RedriveFenced(
                f"another redrive to {settings.topics.input_topic} started meanwhile and goes on; "
                "nothing of this one was published"
            ) from None
        raise RedriveFailed(f"{step} failed: {error.str()}; nothing was published") from None
    finally:
        close_quietly(session, "redrive")


def plan(
    candidates: Sequence[Candidate], before: dict[str, str], limit: int | None, publish: Status
) -> list[Redriven]:
    """Each candidate's fate: not redrivable, redriven before (and where), published (or would
    be), or left over ``limit`` for the next run."""
    planned: list[Redriven] = []
    taken = 0
    for candidate in candidates:
        if candidate.record is None:
            planned.append(Redriven(candidate, "not-redrivable", candidate.why_not))
        elif candidate.origin in before:
            planned.append(
                Redriven(candidate, "already-redriven", f"as {before[candidate.origin]}")
            )
        elif limit is not None and taken >= limit:
            planned.append(Redriven(candidate, "over-limit", f"over --limit {limit}: run again"))
        else:
            taken += 1
            planned.append(Redriven(candidate, publish))
    return planned


def _redriven_before(
    settings: Settings, candidates: Sequence[Candidate], progress: Progress | None
) -> dict[str, str]:
    """Where each source record redriven before was published: ``redriven-from`` value to the
    input record's place, read from the earliest candidate's time to the input topic's end."""
    topic = settings.topics.input_topic
    times = [candidate.timestamp for candidate in candidates if candidate.record is not None]
    since = datetime.fromtimestamp(max(0, min(times)) / 1000, UTC)
    found: dict[str, str] = {}

    def take(message: Message) -> None:
        for name, value in headers_of(message):
            if name == REDRIVEN_HEADER and isinstance(value, bytes):
                place = f"{topic}/{message.partition()}/{message.offset()}"
                found[value.decode("utf-8", "replace")] = place

    consumer = clients.reading_consumer(settings.kafka, "redrive")
    try:
        partitions = topic_partitions(consumer, topic, settings.kafka.bootstrap_servers)
        if partitions:
            read_span(consumer, topic, partitions, Span(since), take, progress)
    finally:
        consumer.close()
    return found
