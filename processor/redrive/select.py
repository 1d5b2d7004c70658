"""Which dead-lettered or unroutable leads a redrive takes, and what it publishes for each.

A dead letter is the input record untouched plus the error headers the processor added: what is
published again is its key, value and its own headers. An unroutable record is a RoutingDecision
carrying the lead (single-object ``LeadSubmitted``); one written before decisions carried it names
the input record instead, which is taken from the input topic while it still holds it.

Both topics can be written by others: a record that is not what the processor writes there is
reported with why, and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import Consumer, Message
from confluent_kafka import TopicPartition as Partition

from processor.errors import ServiceUnavailable
from processor.kafka.reading import read_one
from processor.kafka.records import (
    ERROR_HEADER,
    EXCEPTION_HEADER,
    MESSAGE_HEADER,
    OFFSET_HEADER,
    REDRIVEN_HEADER,
    SOURCE_HEADERS,
    Headers,
    InputRecord,
    OutputRecord,
)
from processor.kafka.span import Span, read_span
from processor.settings import Settings
from processor.wire import Codec, DecodeError

Source = Literal["dlq", "unroutable"]

ADDED_HEADERS = frozenset(
    {
        ERROR_HEADER,
        MESSAGE_HEADER,
        EXCEPTION_HEADER,
        *SOURCE_HEADERS,
        OFFSET_HEADER,
        REDRIVEN_HEADER,
    }
)
"""Headers the processor and redrive add; the publisher's own headers are all the others."""

SHOWN_CHARS = 120
"""The most of a lead id or a reason shown: both come from records anyone can write."""

READ_ONE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """One record of the dead-letter or unroutable topic, and what a redrive would publish for
    it: ``record`` (to the input topic), or None and ``why_not``."""

    lead_id: str | None
    origin: str
    """``<topic>/<partition>/<offset>``: the value of the published record's redriven-from
    header."""
    reason: str
    timestamp: int
    record: OutputRecord | None
    why_not: str | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """What to take: from where, in which span, and only these leads (or reasons)."""

    source: Source
    span: Span
    leads: Collection[str] = ()
    reasons: Collection[str] = ()

    def wants(self, lead_id: str | None, reason: str) -> bool:
        return (not self.leads or lead_id in self.leads) and (
            not self.reasons or reason in self.reasons
        )


def select(
    settings: Settings,
    consumer: Consumer,
    partitions: list[int],
    selection: Selection,
    progress: Callable[[str], object] | None = None,
) -> list[Candidate]:
    """The candidates of ``selection`` in the source topic, in partition and offset order."""
    topics = settings.topics
    topic = topics.dlq_topic if selection.source == "dlq" else topics.unroutable_topic
    codec = Codec.for_registry(settings.registry)
    found: list[Candidate] = []
    older: list[tuple[Candidate, dict[str, Any]]] = []

    def take(message: Message) -> None:
        if selection.source == "dlq":
            candidate = dead_letter_candidate(message, topics.input_topic)
        else:
            candidate, source = _unroutable(message, codec, topics.input_topic)
            if source is not None and selection.wants(candidate.lead_id, candidate.reason):
                older.append((candidate, source))
                return
        if selection.wants(candidate.lead_id, candidate.reason):
            found.append(candidate)

    read_span(consumer, topic, partitions, selection.span, take, progress)
    found.extend(
        _from_input(consumer, codec, topics.input_topic, candidate, source)
        for candidate, source in older
    )
    found.sort(key=lambda candidate: _place(candidate.origin))
    return found


def dead_letter_candidate(message: InputRecord, input_topic: str) -> Candidate:
    """A dead letter's candidate: the input record as it came, when it came from the input
    topic."""
    origin = _origin(message)
    key = message.key()
    lead_id = None if key is None else key.decode("utf-8", "replace")
    headers = headers_of(message)
    names = dict(headers)
    reason = _text(names.get(ERROR_HEADER))
    came_from = _text(names.get(SOURCE_HEADERS[0]))
    base = (lead_id, origin, reason or "-", _time(message))
    if not reason:
        return Candidate(*base, None, f"not a dead letter: no {ERROR_HEADER} header")
    if came_from != input_topic:
        return Candidate(
            *base, None, f"dead-lettered from {came_from or 'no topic'}, not {input_topic}"
        )
    if not message.value():
        return Candidate(*base, None, "no value to publish")
    own = [(name, value) for name, value in headers if name not in ADDED_HEADERS]
    record = OutputRecord(input_topic, key, message.value(), [*own, _redriven(origin)])
    return Candidate(*base, record)


def _unroutable(
    message: Message, codec: Codec, input_topic: str
) -> tuple[Candidate, dict[str, Any] | None]:
    """The candidate of an unroutable record, or the input record it names when it carries no
    lead (an older processor wrote it)."""
    origin = _origin(message)
    key = message.key()
    base = (None if key is None else key.decode("utf-8", "replace"), origin)
    try:
        decision = codec.decode(message.topic() or "", message.value() or b"", "RoutingDecision")
    except DecodeError as error:
        if error.transient:
            raise ServiceUnavailable(f"reading {message.topic()}: {error}") from error
        why = f"not a RoutingDecision ({error.reason})"
        return Candidate(*base, "-", _time(message), None, why), None
    lead_id: str = decision["lead_id"]
    reason = _reason(decision)
    if decision["outcome"] != "unroutable":
        why = f"a {decision['outcome']} decision, not an unroutable one"
        return Candidate(lead_id, origin, reason, _time(message), None, why), None
    lead = decision.get("lead")
    candidate = Candidate(lead_id, origin, reason, _time(message), None)
    if lead is None:
        return candidate, decision["source"]
    wrong = _not_the_lead(codec, input_topic, lead, lead_id)
    if wrong is not None:
        return Candidate(lead_id, origin, reason, candidate.timestamp, None, wrong), None
    record = OutputRecord(input_topic, lead_id.encode(), lead, [_redriven(origin)])
    return Candidate(lead_id, origin, reason, candidate.timestamp, record), None


def _from_input(
    consumer: Consumer, codec: Codec, input_topic: str, candidate: Candidate, source: dict[str, Any]
) -> Candidate:
    """An unroutable record without its lead: the input record it names, while the input topic
    holds it."""
    where = f"{source['topic']}/{source['partition']}/{source['offset']}"
    unchanged = (candidate.lead_id, candidate.origin, candidate.reason, candidate.timestamp)
    if source["topic"] != input_topic or source["partition"] < 0 or source["offset"] < 0:
        why = f"carries no lead, and names {where}, not a record of {input_topic}"
        return Candidate(*unchanged, None, why)
    found = read_one(
        consumer, Partition(input_topic, source["partition"], source["offset"]), READ_ONE_TIMEOUT_S
    )
    if found is None or not found.value():
        why = f"carries no lead, and {input_topic} no longer holds {where}"
        return Candidate(*unchanged, None, why)
    wrong = _not_the_lead(codec, input_topic, found.value() or b"", candidate.lead_id)
    if wrong is not None:
        return Candidate(*unchanged, None, f"{where}: {wrong}")
    own = [(name, value) for name, value in headers_of(found) if name not in ADDED_HEADERS]
    value = found.value()
    record = OutputRecord(input_topic, found.key(), value, [*own, _redriven(candidate.origin)])
    return Candidate(*unchanged, record)


def _not_the_lead(codec: Codec, topic: str, value: bytes, lead_id: str | None) -> str | None:
    """Why ``value`` is not this lead's record (None when it is): a redrive publishes nothing
    that the processor would only reject."""
    try:
        lead, _ = codec.decode_lead(topic, value)
    except DecodeError as error:
        if error.transient:
            raise ServiceUnavailable(f"reading a lead: {error}") from error
        return f"its lead does not decode ({error.reason})"
    if lead["lead_id"] != lead_id:
        return "its lead has another lead id"
    return None


def _reason(decision: dict[str, Any]) -> str:
    """Why the lead was unroutable, in the trace's words: these name rules, never lead data."""
    if decision.get("profile") is None:
        return "no profile"
    try:
        trace = json.loads(decision.get("trace") or "[]")
    except ValueError:
        return "unroutable"
    endings = [
        entry for entry in trace if isinstance(entry, dict) and entry.get("step") == "unroutable"
    ]
    return str(endings[-1].get("why", "unroutable")) if endings else "unroutable"


def headers_of(message: InputRecord) -> Headers:
    """A consumed record's headers, in order."""
    found = message.headers() or []
    return list(found.items()) if isinstance(found, dict) else list(found)


def _redriven(origin: str) -> tuple[str, bytes]:
    return (REDRIVEN_HEADER, origin.encode())


def _origin(message: InputRecord) -> str:
    return f"{message.topic()}/{message.partition()}/{message.offset()}"


def _place(origin: str) -> tuple[int, int]:
    _, partition, offset = origin.rsplit("/", 2)
    return int(partition), int(offset)


def _time(message: InputRecord) -> int:
    return message.timestamp()[1]


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def shown(text: str) -> str:
    """Text from a record (a lead id, a reason) as printed: printable and bounded."""
    text = "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"
