"""A replay: the span's leads routed again with other rules, from the state at the span's start.

    audit topic, over the span ──> what happened (before), each lead's place and sequence
    state changelog, to the marker before the span's first sequence ──> the state then
    input topic, at those places ──> the leads, routed again in sequence order (after)

Nothing is written anywhere: the state is a copy in memory, and the leads are only read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from processor.app import enricher_for
from processor.replay.engine import Replayer, Routed
from processor.replay.leads import read_leads
from processor.replay.past import Past, read_past
from processor.replay.report import Change, Report, same
from processor.replay.start import Start, state_before
from processor.rules import Ledger, MemoryStore, RulesDocument, compile_rules
from processor.rules.explain import explain_text
from processor.settings import Settings
from processor.wire import Codec

VERSION = "replay"
"""The rules version a replayed decision names: the file's, not one applied."""

WHY_FAILURES = 3
"""Non-matching assignments explained per tier in a changed lead's explanation."""


@dataclass(frozen=True)
class Progress:
    """Where a replay is: what it does now, and how far it got of how much (None: unknown)."""

    step: str
    done: int
    total: int | None


def replay(
    settings: Settings,
    document: RulesDocument,
    since: datetime,
    until: datetime | None = None,
    *,
    profile: str | None = None,
    progress: Callable[[Progress], object] = lambda progress: None,
) -> Report:
    """What ``document`` would have done with the leads decided from ``since`` to ``until``."""
    codec = Codec.for_registry(settings.registry)
    snapshot = compile_rules(document, VERSION)
    report = Report(VERSION, since, until, profile=profile)
    since_ms = _ms(since)
    until_ms = None if until is None else _ms(until)
    past = read_past(
        settings,
        codec,
        since_ms,
        until_ms,
        lambda read: progress(Progress("reading the audit topic", read, None)),
    )
    in_span = [p for p in past if p.decided_ms >= since_ms]
    if not in_span:
        return report
    sequences = [p.sequence for p in in_span if p.sequence is not None]
    start = (
        state_before(settings, min(sequences)) if sequences else Start(MemoryStore(), 0, exact=True)
    )
    report.exact, report.inexact_why = start.exact, start.why
    chosen = _in_order(past, in_span, start.sequence)
    report.started_at = datetime.fromtimestamp(chosen[0].decided_ms / 1000, UTC)
    leads = read_leads(
        settings,
        ((p.partition, p.offset) for p in chosen),
        lambda read: progress(Progress("reading the input topic", read, len(chosen))),
    )
    ledger = Ledger(start.store, settings.rules.lead_id_memory_days * 86_400)
    enricher = enricher_for(settings.geo)
    try:
        replayer = Replayer(snapshot, enricher, ledger, codec)
        topic = settings.topics.input_topic
        for done, past_one in enumerate(chosen, 1):
            if done % 1000 == 0:
                progress(Progress("routing", done, len(chosen)))
            held = leads.get((past_one.partition, past_one.offset))
            if held is None:
                report.missing += 1
                continue
            after = replayer.route(topic, held.value, redriven=held.redriven)
            before = past_one.before
            if not report.counts(before, after):
                continue
            report.add(before, after)
            if not same(before, after):
                why = _why(replayer, after)
                lead_id = before.lead_id or after.lead_id or ""
                report.changes.append(
                    Change(lead_id, past_one.partition, past_one.offset, before, after, why)
                )
        progress(Progress("routing", len(chosen), len(chosen)))
    finally:
        enricher.close()
    if report.missing and report.exact:
        report.exact = False
        report.inexact_why = (
            f"{report.missing} leads of the span are no longer on "
            f"{settings.topics.input_topic} (its retention): the state after them may differ"
        )
    return report


def _why(replayer: Replayer, after: Routed) -> tuple[str, ...]:
    """Why a lead would be decided as ``after``: the new decision explained, one line a step; a
    rejection's reason."""
    if after.outcome == "rejected":
        return (after.error or "rejected",)
    decision = replayer.explain()
    trace = decision.explain(WHY_FAILURES)
    # The headline (first line) says what the report already shows: the outcome.
    lines = explain_text(decision.outcome, trace, {}).splitlines()[1:]
    return tuple(line.strip().removeprefix("- ") for line in lines)


def _in_order(past: list[Past], in_span: list[Past], first: int) -> list[Past]:
    """The decisions to route again, in the order they were made: those of the span, and those
    before it from ``first`` on (the transaction open when the span began); leads rejected before
    the decide stage (no sequence, no state) after them, by time."""
    by_sequence: dict[int, Past] = {}
    for each in past:
        if each.sequence is not None and each.sequence >= first:
            by_sequence.setdefault(each.sequence, each)
    unsequenced = sorted(
        (p for p in in_span if p.sequence is None), key=lambda p: (p.decided_ms, p.partition)
    )
    return [by_sequence[s] for s in sorted(by_sequence)] + unsequenced


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
