"""What a redrive publishes for a dead letter, and which selected records it publishes."""

from __future__ import annotations

from fakes import Record

from processor.kafka.records import (
    ERROR_HEADER,
    REDRIVEN_HEADER,
    OutputRecord,
    dead_letter,
)
from processor.redrive.publish import plan
from processor.redrive.select import Candidate, dead_letter_candidate, shown


def letter_of(record: Record, reason: str, offset: int) -> Record:
    """The dead-letter topic's record for ``record``, as the processor writes it."""
    dead: OutputRecord = dead_letter(record, "leads.dlq", reason, "why it failed")
    return Record(dead.topic, 0, offset, dead.key, dead.value, dead.headers or [])


def test_a_dead_letter_is_published_as_it_came_with_its_own_headers_and_where_it_came_from() -> (
    None
):
    came = Record("leads", 0, 7, b"L-1", b"\xc3\x01lead", [("trace-id", b"abc")])
    candidate = dead_letter_candidate(letter_of(came, "unknown-fingerprint", 3), "leads")
    assert (candidate.lead_id, candidate.origin, candidate.reason) == (
        "L-1",
        "leads.dlq/0/3",
        "unknown-fingerprint",
    )
    assert candidate.record == OutputRecord(
        "leads",
        b"L-1",
        b"\xc3\x01lead",
        [("trace-id", b"abc"), (REDRIVEN_HEADER, b"leads.dlq/0/3")],
    )


def test_a_lead_dead_lettered_again_after_a_redrive_names_its_new_dead_letter() -> None:
    redriven = Record("leads", 0, 9, b"L-1", b"\xc3\x01lead", [(REDRIVEN_HEADER, b"leads.dlq/0/3")])
    candidate = dead_letter_candidate(letter_of(redriven, "too-slow", 5), "leads")
    assert candidate.record is not None
    assert candidate.record.headers == [(REDRIVEN_HEADER, b"leads.dlq/0/5")]


def test_records_that_are_no_dead_letter_of_the_input_topic_are_not_redrivable() -> None:
    stranger = Record("leads.dlq", 0, 1, b"k", b"v", [("x", b"y")])
    assert dead_letter_candidate(stranger, "leads").why_not == (
        f"not a dead letter: no {ERROR_HEADER} header"
    )
    matched = letter_of(Record("lead-router.decide", 0, 2, b"k", b"v"), "invalid-matched", 4)
    assert dead_letter_candidate(matched, "leads").why_not == (
        "dead-lettered from lead-router.decide, not leads"
    )
    empty = letter_of(Record("leads", 0, 3, None, None), "empty", 6)
    assert dead_letter_candidate(empty, "leads").why_not == "no value to publish"


def candidate(origin: str, *, redrivable: bool = True) -> Candidate:
    record = OutputRecord("leads", b"k", b"v") if redrivable else None
    return Candidate("k", origin, "reason", 0, record, None if redrivable else "broken")


def test_the_plan_skips_what_was_redriven_before_and_keeps_the_rest_over_the_limit() -> None:
    chosen = [
        candidate("dlq/0/1"),
        candidate("dlq/0/2", redrivable=False),
        candidate("dlq/0/3"),
        candidate("dlq/0/4"),
        candidate("dlq/0/5"),
    ]
    done = plan(chosen, {"dlq/0/3": "leads/0/17"}, 2, "published")
    assert [(each.status, each.why) for each in done] == [
        ("published", None),
        ("not-redrivable", "broken"),
        ("already-redriven", "as leads/0/17"),
        ("published", None),
        ("over-limit", "over --limit 2: run again"),
    ]


def test_ids_and_reasons_from_records_are_shown_printable_and_bounded() -> None:
    assert shown("L-1\x1b[31m") == "L-1\N{REPLACEMENT CHARACTER}[31m"
    assert len(shown("x" * 1000)) == 120
