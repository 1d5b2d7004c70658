"""A replay: the span's leads routed again with other rules, from the state at the span's start.

    audit topic, over the span ──> what happened (before), each lead's place and sequence
    state changelog, to the marker before the span's first sequence ──> the state then
    input topic, at those places ──> the leads, routed again in sequence order (after)

Nothing is written anywhere: the state is a copy in memory, and the leads are only read.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from processor.app import enricher_for
from processor.kafka.clients import reading_consumer
from processor.kafka.span import Span
from processor.replay.engine import Replayer, Routed
from processor.replay.leads import InputLeads
from processor.replay.past import MARGIN, Decisions, Past
from processor.replay.report import Change, Report, same
from processor.replay.start import Start, state_before
from processor.rules import Ledger, RulesDocument, Snapshot, compile_rules
from processor.rules.explain import explain_text
from processor.rules.ledger import epoch_ms
from processor.settings import Settings
from processor.state.store import PartitionStore
from processor.wire import Codec

VERSION = "replay"
"""The rules version a replayed decision names: the file's, not one applied."""

CHANGES_LISTED = 10_000
"""Changed leads kept, each with its explanation; the rest are counted: a report stays readable,
and replay's memory bounded, when a change moves every lead of a long span."""

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
    deadline: float = math.inf,
) -> Report:
    """What ``document`` would have done with the leads decided from ``since`` to ``until``.

    ``progress`` is told how far it got while it reads the state and routes the leads. Past
    ``deadline`` (``time.monotonic()``) the next read raises
    :class:`~processor.kafka.streams.OutOfTime`, also while it waits on a broker that stopped
    answering; what the replay opened is closed."""
    codec = Codec.for_registry(settings.registry)
    snapshot = compile_rules(document, VERSION)
    report = Report(VERSION, since, until, profile=profile)
    since_ms = epoch_ms(since)
    decisions = Decisions(settings, codec, Span(since - MARGIN, until), deadline)
    stream = iter(decisions)
    # Up to the span's first decision with a sequence: those before the span wait (the ones of
    # the transaction open when it began are replayed too), and those in it without one.
    waiting: list[Past] = []
    first: Past | None = None
    for past in stream:
        if past.decided_ms >= since_ms and past.sequence is not None:
            first = past
            break
        if past.sequence is not None or past.decided_ms >= since_ms:
            waiting.append(past)
    with tempfile.TemporaryDirectory(prefix="lead-router-replay-") as folder:
        store = PartitionStore(0, Path(folder) / "state")
        try:
            start = (
                Start(0, exact=True)
                if first is None or first.sequence is None
                else state_before(
                    settings,
                    first.sequence,
                    store,
                    progress=lambda read, end: progress(Progress("reading the state", read, end)),
                    deadline=deadline,
                )
            )
            report.exact, report.inexact_why = start.exact, start.why
            chosen = (
                p
                for p in itertools.chain(waiting, [first] if first else [], stream)
                if (p.sequence is None and p.decided_ms >= since_ms)
                or (p.sequence is not None and p.sequence >= start.sequence)
            )
            _route(settings, snapshot, codec, store, chosen, report, decisions, progress, deadline)
        finally:
            store.close()
    if report.missing and report.exact:
        report.exact = False
        report.inexact_why = (
            f"{report.missing} leads of the span are no longer on "
            f"{settings.topics.input_topic} (its retention): the state after them may differ"
        )
    if report.reoffers and report.exact:
        report.exact = False
        report.inexact_why = (
            f"{report.reoffers} re-offers of the span are not replayed: they, and the returns "
            "and give-ups behind them, gave caps units back"
        )
    return report


def _route(
    settings: Settings,
    snapshot: Snapshot,
    codec: Codec,
    store: PartitionStore,
    chosen: Iterable[Past],
    report: Report,
    decisions: Decisions,
    progress: Callable[[Progress], object],
    deadline: float,
) -> None:
    """Routes each chosen decision's lead again, in turn, and adds it to ``report``."""
    ledger = Ledger(store, settings.rules.lead_id_memory_days * 86_400)
    enricher = enricher_for(settings.geo)
    consumer = reading_consumer(settings.kafka, "replay-leads")
    try:
        replayer = Replayer(snapshot, enricher, ledger, codec)
        leads = InputLeads(consumer, settings.topics.input_topic, deadline)
        topic = settings.topics.input_topic
        done = 0
        for past in chosen:
            done += 1
            if done % 1000 == 0:
                store.commit(past.sequence or 0)  # what is written goes to disk, not memory
                progress(Progress("routing", done, decisions.total or None))
            if report.started_at is None:
                report.started_at = datetime.fromtimestamp(past.decided_ms / 1000, UTC)
            if past.attempt > 1:
                report.reoffers += 1
                continue
            held = leads.held(past.partition, past.offset)
            if held is None:
                report.missing += 1
                continue
            after = replayer.route(topic, held.value, redriven=held.redriven)
            before = past.before
            if not report.counts(before, after):
                continue
            report.add(before, after)
            if not same(before, after):
                report.changed += 1
                if len(report.changes) < CHANGES_LISTED:
                    lead_id = before.lead_id or after.lead_id or ""
                    why = _why(replayer, after)
                    report.changes.append(
                        Change(lead_id, past.partition, past.offset, before, after, why)
                    )
        progress(Progress("routing", done, done))
    finally:
        consumer.close()
        enricher.close()


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
