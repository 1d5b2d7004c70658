"""Both stages decide as ``dry-run``'s engine does: the benchmark's rules (caps and duplicate
checks on) and leads, through the match and decide stages over a RocksDB store, and through
``decide`` over a fresh memory, lead by lead. The stages read less of the state and of each lead
than the engine's plain path does (a duplicate reads no field, a write is undone without being read
first); none of that may change a decision. The state is committed every 50 leads, so that the
leads after read it from RocksDB."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from stagekit import Forwarded, Message
from statekit import FakeChangelog

from benchmarks.bench_rules import generate_document, generate_lead, with_state
from processor.geo.enrich import Enricher
from processor.rules import Ledger, MemoryStore, compile_rules, decide
from processor.rules.ledger import LEAD_MEMORY_S
from processor.rules.validate import validate_document
from processor.settings import Settings
from processor.state.decide import DecideState
from processor.state.stores import StateStores
from processor.stream.decide import DecideStage
from processor.stream.match import MatchStage
from processor.wire import Codec, lead_from_json

LEADS = 400


def leads() -> list[dict[str, Any]]:
    """The benchmark's leads, a third of them with people of their own (some phones that do not
    parse), so that duplicate checks find some and miss others."""
    rng = random.Random(11)
    made = []
    for n in range(LEADS):
        lead, _ = generate_lead(rng, n)
        if n % 3 == 0:
            lead["contact"]["email"] = f"person{n % 37}@Example.com "
            lead["contact"]["phone"] = rng.choice(
                [f"(415) 555-{n % 10000:04d}", f"+44 20 7946 {n % 1000:04d}", "n/a"]
            )
        made.append(lead)
    return made


def test_the_stages_decide_every_lead_as_the_engine_does(tmp_path: Path) -> None:
    snapshot = compile_rules(validate_document(with_state(generate_document(200))), "1")
    codec = Codec()
    settings = Settings(state_dir=tmp_path, transactional_id="parity")
    state = DecideState(StateStores(settings, FakeChangelog()), LEAD_MEMORY_S)
    state.assign({0: -1})
    enricher = Enricher()
    match = MatchStage(settings, codec, enricher, lambda: snapshot)
    stage = DecideStage(settings, codec, lambda: snapshot, state)
    memory = Ledger(MemoryStore())
    outcomes = set()
    try:
        for n, document in enumerate(leads()):
            if n % 50 == 49:  # committed: later leads read it from RocksDB
                state.changelog({0: n})
                state.commit()
            (forwarded,) = match.process(
                Message(codec.encode("leads", "LeadSubmitted", lead_from_json(document)))
            ).records
            got = stage.process(Forwarded(forwarded))
            lead = lead_from_json(document)
            memory.begin()
            want = decide(snapshot, lead, enricher.locate(lead).geo, memory, trace=False)
            assert (got.outcome, got.profile, got.tier, got.deliveries) == (
                want.outcome,
                want.profile,
                want.tier,
                want.deliveries,
            ), document["lead_id"]
            outcomes.add(got.outcome)
    finally:
        state.close()
    assert {"routed", "duplicate"} <= outcomes
