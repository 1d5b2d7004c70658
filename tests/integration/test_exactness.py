"""The state a decision reads is exact, on the real broker, however the leads are spread.

Leads are published across several input partitions while two ``lead-router run`` processes route
them; one is SIGKILLed part way and started again, the other stopped gracefully later, so the
partitions and the state move between processes twice. Then, read_committed: a cap of N lets
exactly N through in each window (leads, and revenue at prices that do and do not divide it), round
robin rotates over partners whichever partition a lead came through, a duplicate is caught
whichever partition its first copy came through, and no lead is decided or delivered twice. Last,
the same leads replayed in the order they were decided give the same decisions, and so does
``dry-run``.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from exactkit import (
    Placed,
    Routed,
    assert_delivered_as_decided,
    assert_each_lead_decided_once,
    assert_same_decisions,
    exact_settings,
    local_day,
    local_moment,
    renamed,
    route,
    verdict,
)
from streamkit import dry_run

from processor.settings import Settings

pytestmark = pytest.mark.integration

INPUT_PARTITIONS = 4

DAYS = (date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19))

NEW_YORK = "America/New_York"
CHICAGO = "America/Chicago"


def partners(*ids: str, zone: str | None = None, caps: str | None = None) -> str:
    """Rules document lines for partners that take JSON over HTTPS."""
    extra = (f", timezone: {zone}" if zone else "") + (f", caps: [{caps}]" if caps else "")
    return "".join(
        f"  - {{id: {p}, format: json, destinations: ['https://{p}.example.com/leads']{extra}}}\n"
        for p in ids
    )


CAP_RULES = (
    "partners:\n"
    + partners("capped", zone=NEW_YORK, caps="{per: day, leads: 100}")
    + partners("next")
    + """profiles:
  - id: market
    sources: [market]
    strategy: first_match
    base_price: 20
    currency: USD
    assignments:
      - {id: first, partner: capped}
      - {id: then, partner: next}
"""
)

REVENUE_RULES = (
    "partners:\n"
    + partners("dear", "odd", zone=CHICAGO, caps="{per: day, revenue: 1000, currency: USD}")
    + partners("spill")
    + """profiles:
  - id: bids
    sources: [bids]
    strategy: first_match
    base_price: 10
    currency: USD
    assignments:
      - {id: dear, partner: dear, price: 40}
      - {id: odd, partner: odd, price: 30}
      - {id: spill, partner: spill}
"""
)

ROTATION_RULES = (
    "partners:\n"
    + partners("r1", "r2", "r3")
    + """profiles:
  - id: rotation
    sources: [rotation]
    strategy: round_robin
    base_price: 15
    currency: USD
    assignments:
      - {id: x1, partner: r1}
      - {id: x2, partner: r2}
      - {id: x3, partner: r1}
      - {id: x4, partner: r3}
"""
)

DUPLICATE_RULES = (
    "partners:\n"
    + partners("d1", "d2")
    + """profiles:
  - id: people
    sources: [people]
    strategy: round_robin
    duplicates: {keys: [contact.email, contact.phone], within: 30d}
    base_price: 25
    currency: USD
    assignments:
      - {id: y1, partner: d1}
      - {id: y2, partner: d2}
"""
)


def lead(lead_id: str, submitted_at: str, site: str, **contact: str) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "submitted_at": submitted_at,
        "site_id": site,
        "contact": contact or None,
        "address": {"country": "US"},
    }


def spread(count: int, site: str, zone: str, days: tuple[date, ...]) -> list[dict[str, Any]]:
    """``count`` leads, day after day in turn, at minutes all over the local day (late evening
    ones fall on the next day in UTC)."""
    return [
        lead(
            f"{site}-{n:05d}",
            local_moment(zone, days[n % len(days)], (n * 7919) % 1440),
            site,
        )
        for n in range(count)
    ]


def interleaved(leads: list[dict[str, Any]], partitions: int) -> list[Placed]:
    """Runs of five leads, partition after partition in turn: with four days in turn, every
    partition holds leads of every day."""
    return [((n // 5) % partitions, item) for n, item in enumerate(leads)]


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def daily(routed: Routed, sample: list[dict[str, Any]], zone: str) -> Counter[tuple[date, str]]:
    """Delivery records per local day of ``zone`` and partner, as the delivery topics hold them."""
    when = {item["lead_id"]: local_day(item["submitted_at"], zone) for item in sample}
    found: Counter[tuple[date, str]] = Counter()
    for partner, leads in routed.deliveries.items():
        for lead_id, n in leads.items():
            found[(when[lead_id], partner)] += n
    return found


@pytest.fixture
def settings(stream_settings: Settings) -> Settings:
    return exact_settings(stream_settings, INPUT_PARTITIONS)


def test_a_daily_lead_cap_lets_exactly_its_count_through_each_local_day(
    settings: Settings, tmp_path: Path
) -> None:
    """The cap's day is New York's: about one lead in five falls on the next day in UTC."""
    sample = spread(2000, "market", NEW_YORK, DAYS)
    moved = [
        x
        for x in sample
        if local_day(x["submitted_at"], NEW_YORK) != local_day(x["submitted_at"], "UTC")
    ]
    assert len(moved) > 300
    placed = interleaved(sample, INPUT_PARTITIONS)
    routed = route(settings, rules_file(tmp_path, CAP_RULES), placed, ("capped", "next"), tmp_path)

    assert_each_lead_decided_once(routed, placed)
    assert {d["outcome"] for d in routed.decisions} == {"routed"}
    assert_delivered_as_decided(routed)
    everyone = Counter(item["lead_id"] for item in sample)
    assert routed.delivered("capped") + routed.delivered("next") == everyone, "one delivery each"
    assert daily(routed, sample, NEW_YORK) == {
        **{(day, "capped"): 100 for day in DAYS},
        **{(day, "next"): 400 for day in DAYS},
    }


def test_a_daily_revenue_cap_lets_through_what_its_amount_buys_each_local_day(
    settings: Settings, tmp_path: Path
) -> None:
    """At 40 a lead, 1,000 a day buys 25 leads; at 30, 33 (990): the 34th would pass the cap."""
    sample = spread(600, "bids", CHICAGO, DAYS[:3])
    placed = interleaved(sample, INPUT_PARTITIONS)
    rules = rules_file(tmp_path, REVENUE_RULES)
    routed = route(settings, rules, placed, ("dear", "odd", "spill"), tmp_path)

    assert_each_lead_decided_once(routed, placed)
    assert {d["outcome"] for d in routed.decisions} == {"routed"}
    assert_delivered_as_decided(routed)
    assert sum(routed.deliveries.values(), Counter()) == Counter(x["lead_id"] for x in sample)
    assert daily(routed, sample, CHICAGO) == {
        **{(day, "dear"): 25 for day in DAYS[:3]},
        **{(day, "odd"): 33 for day in DAYS[:3]},
        **{(day, "spill"): 200 - 25 - 33 for day in DAYS[:3]},
    }
    prices = {(x["partner"], x["price"]) for d in routed.decisions for x in d["deliveries"]}
    assert prices == {("dear", 40.0), ("odd", 30.0), ("spill", 10.0)}


def test_round_robin_rotates_over_partners_across_partitions(
    settings: Settings, tmp_path: Path
) -> None:
    """r1 is listed twice and gets no larger share. The partitions hold 751, 751, 751 and 747
    leads: a rotation kept per partition would give r1 a lead more in three of them."""
    sample = [
        lead(f"rotation-{n:05d}", local_moment(NEW_YORK, DAYS[0], n % 1440), "rotation")
        for n in range(3000)
    ]
    tail = len(sample) - 12
    placed = [
        (n % INPUT_PARTITIONS if n < tail else n % max(1, INPUT_PARTITIONS - 1), item)
        for n, item in enumerate(sample)
    ]
    rules = rules_file(tmp_path, ROTATION_RULES)
    routed = route(settings, rules, placed, ("r1", "r2", "r3"), tmp_path)

    assert_each_lead_decided_once(routed, placed)
    assert_delivered_as_decided(routed)
    shares = Counter({p: sum(routed.delivered(p).values()) for p in ("r1", "r2", "r3")})
    assert sum(shares.values()) == len(sample)
    assert max(shares.values()) - min(shares.values()) <= 1, shares
    chosen = [
        (d["deliveries"][0]["partner"], d["deliveries"][0]["assignment"]) for d in routed.decisions
    ]
    assert {a for p, a in chosen if p == "r1"} == {"x1"}, "a partner's first candidate assignment"
    # Every candidate is always open, so in the order decided no partner comes twice in three.
    partners_in_order = [p for p, _ in chosen]
    repeats = [
        n for n in range(len(partners_in_order) - 2) if len(set(partners_in_order[n : n + 3])) < 3
    ]
    assert not repeats, f"{len(repeats)} runs of three with a partner twice, first at {repeats[0]}"


def person(n: int, variant: bool) -> dict[str, str]:
    """One person's contact, written one of two ways that normalise to the same keys."""
    if variant:
        return {"email": f"  PERSON.{n}@Example.COM ", "phone": f"+1 415 555 {1000 + n}"}
    return {"email": f"person.{n}@example.com", "phone": f"(415) 555-{1000 + n}"}


def duplicates_sample(pairs: int, repeats: int, partitions: int) -> list[Placed]:
    """``pairs`` people each submitted twice under two lead ids at one moment, the two copies on
    two different partitions (when there are two), published back to back, which first in turn;
    and ``repeats`` lead ids each published twice, to two partitions."""
    placed: list[Placed] = []
    for n in range(pairs):
        at = local_moment(NEW_YORK, DAYS[0], n)
        copies = [
            (2 * n % partitions, lead(f"pair-{n:03d}-a", at, "people", **person(n, False))),
            ((2 * n + 1) % partitions, lead(f"pair-{n:03d}-b", at, "people", **person(n, True))),
        ]
        placed += copies if n % 2 else copies[::-1]
    for n in range(repeats):
        at = local_moment(NEW_YORK, DAYS[1], n)
        again = lead(f"again-{n:03d}", at, "people", email=f"again.{n}@example.com")
        placed += [(n % partitions, again), ((n + 1) % partitions, again)]
    return placed


def test_a_duplicate_is_caught_whichever_partition_its_first_copy_came_through(
    settings: Settings, tmp_path: Path
) -> None:
    """Of two copies of one person decided in either order, the first is routed and the second
    names it; a lead id seen again is a duplicate of itself, never sold twice."""
    pairs, repeats = 300, 40
    placed = duplicates_sample(pairs, repeats, INPUT_PARTITIONS)
    rules = rules_file(tmp_path, DUPLICATE_RULES)
    routed = route(settings, rules, placed, ("d1", "d2"), tmp_path)

    assert_each_lead_decided_once(routed, placed)
    assert_delivered_as_decided(routed)
    order = {(d["lead_id"], d["outcome"]): n for n, d in enumerate(routed.decisions)}
    by_id: dict[str, list[dict[str, Any]]] = {}
    for decision in routed.decisions:
        by_id.setdefault(decision["lead_id"], []).append(decision)
    for n in range(pairs):
        a, b = by_id[f"pair-{n:03d}-a"] + by_id[f"pair-{n:03d}-b"]
        first, second = sorted((a, b), key=lambda d: d["outcome"] != "routed")
        assert (first["outcome"], second["outcome"]) == ("routed", "duplicate"), (
            verdict(a),
            verdict(b),
        )
        assert second["duplicate_of"] == first["lead_id"] and first["duplicate_of"] is None
        assert order[(first["lead_id"], "routed")] < order[(second["lead_id"], "duplicate")]
        assert not second["deliveries"]
    for n in range(repeats):
        lead_id = f"again-{n:03d}"
        outcomes = sorted((d["outcome"], d["duplicate_of"]) for d in by_id[lead_id])
        assert outcomes == [("duplicate", lead_id), ("routed", None)], outcomes
        assert order[(lead_id, "routed")] < order[(lead_id, "duplicate")]
    delivered = sum(routed.deliveries.values(), Counter())
    assert len(delivered) == pairs + repeats, "one person, one delivery"
    assert set(delivered.values()) == {1}


def mixed_sample(partitions: int) -> tuple[str, list[Placed]]:
    """Every kind of state at once: caps, rotation, duplicate people and lead ids, and leads of
    an unknown site, shuffled together over the partitions."""
    documents = [
        yaml.safe_load(text) for text in (CAP_RULES, REVENUE_RULES, ROTATION_RULES, DUPLICATE_RULES)
    ]
    rules = yaml.safe_dump(
        {
            key: [x for document in documents for x in document[key]]
            for key in ("partners", "profiles")
        }
    )
    leads = (
        spread(440, "market", NEW_YORK, DAYS[:2])
        + spread(180, "bids", CHICAGO, DAYS[:2])
        + spread(200, "rotation", NEW_YORK, DAYS[:1])
        + spread(30, "elsewhere", NEW_YORK, DAYS[:1])
    )
    placed = [(0, item) for item in leads] + duplicates_sample(100, 20, 1)
    random.Random(7).shuffle(placed)
    return rules, [(n % partitions, item) for n, (_, item) in enumerate(placed)]


MIXED_PARTNERS = ("capped", "next", "dear", "odd", "spill", "r1", "r2", "r3", "d1", "d2")


def test_replaying_the_leads_in_the_order_decided_gives_the_same_decisions(
    settings: Settings, tmp_path: Path, unique: str
) -> None:
    """The first run is spread over partitions and disrupted; the replay, on fresh topics, group
    and state, has one partition holding the leads in the order the first run decided them, and
    one processor left alone."""
    text, placed = mixed_sample(INPUT_PARTITIONS)
    rules = rules_file(tmp_path, text)
    first = route(settings, rules, placed, MIXED_PARTNERS, tmp_path)
    assert_each_lead_decided_once(first, placed)

    leads = {item["lead_id"]: item for _, item in placed}
    again = [(0, leads[d["lead_id"]]) for d in first.decisions]
    fresh = exact_settings(renamed(settings, unique, f"{unique}-replay"), 1)
    (tmp_path / "replay").mkdir()
    second = route(fresh, rules, again, MIXED_PARTNERS, tmp_path / "replay", disrupt=False)

    assert_same_decisions(second.decisions, first.decisions)
    assert second.deliveries == first.deliveries
    outcomes = Counter(d["outcome"] for d in first.decisions)
    assert outcomes.keys() == {"routed", "duplicate", "unroutable"}, outcomes


def test_dry_run_decides_as_the_processors_did(settings: Settings, tmp_path: Path) -> None:
    """``dry-run`` over the leads in the order the processors decided them (fresh state, as a
    dry-run's is) gives each the same outcome, deliveries and earlier lead."""
    text, placed = mixed_sample(INPUT_PARTITIONS)
    rules = rules_file(tmp_path, text)
    routed = route(settings, rules, placed, MIXED_PARTNERS, tmp_path)
    assert_each_lead_decided_once(routed, placed)
    assert_delivered_as_decided(routed)

    leads = {item["lead_id"]: item for _, item in placed}
    offline = dry_run(rules, [leads[d["lead_id"]] for d in routed.decisions], tmp_path)
    assert_same_decisions(routed.decisions, offline)
    capped = Counter(d["deliveries"][0]["partner"] for d in offline if d["profile"] == "market")
    assert capped == {"capped": 200, "next": 240}, "the caps were reached, not merely approached"
