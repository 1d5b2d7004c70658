"""Routing engine benchmark: compile time and per-lead matching cost, indexed versus plain.

Generates realistic rules documents and leads drawn from the same vocabulary. The documents are a
dealer network: four profiles (60/20/10/10% of the assignments; first_match, weighted,
highest_price and all; one with nearest-store routing), a dealer per five assignments, 20% of the
assignments for ALL categories and the rest spread over five categories. Each assignment has 1-3
OR-sets of 1-4 conditions; each OR-set starts with the dealer's territory (a state, a few states,
a list of postcodes, or rarely a radius) and adds 0-3 conditions, mostly equality and lists on
categorical fields (make, condition, lead type, offer), with some ranges, negations, emptiness,
text searches, patterns and variables. Then it reports per document size:

- validation and compile time;
- p50/p99 microseconds per lead for the indexed matcher and for the plain evaluator, measured in
  the same run on the same leads: reading the lead and finding the candidates of its tiers, the
  way ``decide`` does (the category tier, then ALL when it has none);
- p50 of a whole ``decide`` without trace;
- and, as a check, that both matchers found the same candidates for every lead.

    .venv/bin/python benchmarks/bench_rules.py                  # 1,000 and 10,000 assignments
    .venv/bin/python benchmarks/bench_rules.py --sizes 10000 --leads 5000
    .venv/bin/python benchmarks/bench_rules.py --write /tmp/bench   # also write rules + leads

``--write`` leaves ``rules-<size>.json`` (compact JSON: 4.9 MB for 10,000 assignments, past the
default byte limit: give dry-run ``--rules-max-bytes``) and ``leads.jsonl`` behind for timing
``dry-run``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from processor.geometry.geo import Geo
from processor.rules import (
    Ledger,
    MemoryStore,
    RulesLimits,
    Snapshot,
    compile_rules,
    decide,
    reference,
)
from processor.rules.snapshot import CompiledAssignment
from processor.rules.validate import validate_document

STATES = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY",
]  # fmt: skip
MAKES = [
    "Ford", "Chevrolet", "Toyota", "Honda", "Nissan", "Jeep", "Ram", "GMC", "Hyundai", "Kia",
    "Subaru", "BMW", "Mercedes-Benz", "Volkswagen", "Mazda", "Audi", "Lexus", "Dodge", "Tesla",
    "Buick", "Cadillac", "Chrysler", "Acura", "Infiniti", "Volvo", "Lincoln", "Mitsubishi",
    "Porsche", "Genesis", "Mini",
]  # fmt: skip
CATEGORIES = ["New Models", "Used Vehicles", "Service", "Parts", "Finance"]
CONDITIONS = ["new", "used", "cpo"]
LEAD_TYPES = ["web", "phone", "chat", "walk-in"]
OFFERS = [f"OFF-{n:03d}" for n in range(60)]
SITES_PER_PROFILE = 3
PROFILE_SHARES = (0.6, 0.2, 0.1, 0.1)
"""How the assignments, and the leads, spread over the profiles."""
SCALING = RulesLimits(max_bytes=1 << 30, max_assignments=1 << 30, max_index_bytes=1 << 40)
"""Limits past the defaults: how matching scales is measured on documents beyond them too."""


def _zip(rng: random.Random) -> str:
    return f"{rng.randrange(1000, 99999):05d}"


def _territory(rng: random.Random) -> dict[str, Any]:
    """Where a dealer takes leads from: every OR-set starts with one."""
    roll = rng.random()
    if roll < 0.45:
        return {"field": "address.state", "op": "equals", "value": rng.choice(STATES)}
    if roll < 0.80:
        return {"field": "address.state", "op": "in_list", "value": rng.sample(STATES, 3)}
    if roll < 0.95:
        zips = [_zip(rng) for _ in range(rng.randint(5, 30))]
        return {"field": "address.postcode", "op": "in_list", "value": zips}
    point = {"lat": rng.uniform(26, 48), "lon": rng.uniform(-122, -70), "km": 150}
    return {"field": "geo", "op": "within_km", "value": point}


def _condition(rng: random.Random) -> dict[str, Any]:
    """A further condition: mostly equality and lists on categorical fields, some of the rest."""
    roll = rng.random()
    if roll < 0.25:
        return {"field": "vehicle.make", "op": "in_list", "value": rng.sample(MAKES, 3)}
    if roll < 0.40:
        return {"field": "vehicle.make", "op": "equals", "value": rng.choice(MAKES)}
    if roll < 0.52:
        return {"field": "vehicle.condition", "op": "equals", "value": rng.choice(CONDITIONS)}
    if roll < 0.62:
        return {"field": "lead_type", "op": "in_list", "value": rng.sample(LEAD_TYPES, 2)}
    if roll < 0.70:
        return {"field": "offer_id", "op": "in_list", "value": rng.sample(OFFERS, 5)}
    if roll < 0.77:
        return {"field": "budget", "op": "gte", "value": rng.choice([10000, 20000, 30000, 50000])}
    if roll < 0.82:
        low = rng.choice([2015, 2018, 2020])
        return {"field": "vehicle.year", "op": "between", "value": [low, low + 5]}
    if roll < 0.86:
        return {"field": "vehicle.make", "op": "not_in_list", "value": rng.sample(MAKES, 2)}
    if roll < 0.89:
        return {"field": "contact.phone", "op": "is_not_empty"}
    if roll < 0.92:
        return {"field": "comments", "op": "contains", "value": rng.choice(["trade", "lease"])}
    if roll < 0.94:
        return {"field": "contact.email", "op": "matches", "value": r"@(gmail|yahoo)\.com$"}
    if roll < 0.96:
        return {"field": "address.state", "op": "equals", "value": {"var": "geo.region"}}
    if roll < 0.98:
        return {"field": "vehicle.trim", "op": "starts_with", "value": rng.choice(["s", "l", "x"])}
    return {"field": "fields.lead_type", "op": "not_equals", "value": "walk-in"}


def generate_document(size: int, seed: int = 7) -> dict[str, Any]:
    """A valid rules document with ``size`` assignments, as raw data."""
    rng = random.Random(seed)
    dealers = max(10, size // 5)
    partners = [
        {
            "id": f"dealer-{n:05d}",
            "name": f"Dealer {n}",
            "format": rng.choice(["adf_xml", "json", "text"]),
            "destinations": [f"https://crm.example/dealer/{n}"],
            "location": {"lat": rng.uniform(26, 48), "lon": rng.uniform(-122, -70)},
            "active": rng.random() > 0.02,
        }
        for n in range(dealers)
    ]
    partners.append({"id": "bdc", "format": "json", "destinations": ["https://bdc.example"]})
    profiles = []
    remaining = size
    for p, share in enumerate(PROFILE_SHARES):
        count = remaining if p == len(PROFILE_SHARES) - 1 else round(size * share)
        remaining -= count
        assignments = []
        for a in range(count):
            filters = [
                [_territory(rng), *(_condition(rng) for _ in range(rng.randint(0, 3)))]
                for _ in range(rng.randint(1, 3))
            ]
            assignment: dict[str, Any] = {
                "id": f"a{a:05d}",
                "partner": rng.choice(partners[:dealers])["id"],
                "category": "ALL" if rng.random() < 0.2 else rng.choice(CATEGORIES),
                "filter": filters,
                "weight": rng.randint(1, 5),
            }
            if rng.random() < 0.3:
                assignment["price"] = round(rng.uniform(10, 80), 2)
            assignments.append(assignment)
        profiles.append(
            {
                "id": f"profile-{p}",
                "sources": [f"site-{p}-{s}" for s in range(SITES_PER_PROFILE)],
                "default": p == 0,
                "strategy": ["first_match", "weighted", "highest_price", "all"][p],
                "base_price": 25.0,
                "currency": "USD",
                "nearest_store": {"enabled": p == 2, "max_km": 300},
                "fallback": "bdc",
                "assignments": assignments,
            }
        )
    return {
        "fields": {
            "budget": {"type": "number"},
            "lead_type": {"type": "string"},
            "ssn": {"type": "string", "encrypted": True},
        },
        "partners": partners,
        "profiles": profiles,
    }


def with_state(raw: dict[str, Any]) -> dict[str, Any]:
    """The rules with what a lead seller sets: every partner capped per day and month and never
    sent the same person twice in 30 days, every profile checking duplicates over 30 days. The
    caps are set so that some bind within the run and most do not."""
    partners = [
        {
            **partner,
            "caps": [
                {"per": "day", "leads": 200},
                {"per": "month", "revenue": 100_000, "currency": "USD"},
            ],
            "reject_duplicates_within": "30d",
        }
        for partner in raw["partners"]
    ]
    duplicates = {"keys": ["contact.email", "contact.phone"], "within": "30d"}
    profiles = [{**profile, "duplicates": duplicates} for profile in raw["profiles"]]
    return {**raw, "partners": partners, "profiles": profiles}


REPEAT_SHARE = 0.1
"""The share of leads from a person an earlier lead came from: what duplicate checks catch."""


def generate_lead(rng: random.Random, n: int) -> tuple[dict[str, Any], Geo | None]:
    """A lead in the contract's JSON shape, and the geolocation enrichment would give it. Lead
    ``n`` comes from person ``n``, or (one in ten) from an earlier lead's person again."""
    profile = rng.choices(range(len(PROFILE_SHARES)), PROFILE_SHARES)[0]
    person = rng.randrange(n) if n and rng.random() < REPEAT_SHARE else n
    state = rng.choice(STATES)
    lat, lon = rng.uniform(26, 48), rng.uniform(-122, -70)
    lead = {
        "lead_id": f"lead-{n:06d}",
        "submitted_at": "2024-05-01T12:00:00Z",
        "site_id": f"site-{profile}-{rng.randrange(SITES_PER_PROFILE)}",
        "interest_category": rng.choice([*CATEGORIES, None]),
        "offer_id": rng.choice([*OFFERS, None]),
        "contact": {
            "first_name": "Sam",
            "last_name": "Doe",
            "email": rng.choice([f"buyer{person}@example.com", f"Buyer{person}@Example.com"]),
            "phone": rng.choice([f"+1 415 {2_000_000 + person:07d}", None]),
        },
        "address": {
            "street": "1 Main St",
            "city": "Springfield",
            "state": state,
            "postcode": _zip(rng),
            "country": "US",
        },
        "visitor": {"ip": None, "lat": lat, "lon": lon, "user_agent": "Mozilla/5.0"},
        "vehicle": {
            "year": rng.randint(2012, 2025),
            "make": rng.choice(MAKES),
            "model": "Model",
            "trim": rng.choice(["Sport", "Limited", "XLE", None]),
            "vin": None,
            "stock": None,
            "condition": rng.choice(CONDITIONS),
        },
        "fields": {
            "budget": rng.choice([5000, 15000, 25000, 40000, 60000, "35000", None]),
            "lead_type": rng.choice(LEAD_TYPES),
            "ssn": "000-00-0000",
        },
        "comments": rng.choice(["looking to trade in my car", "lease options?", None]),
    }
    return lead, Geo(lat, lon, "coords", country="US", region=state)


Matcher = Callable[[Snapshot, Mapping[str, Any], Geo | None], list[CompiledAssignment]]


def indexed(snapshot: Snapshot, lead: Mapping[str, Any], geo: Geo | None) -> list[Any]:
    profile, _ = snapshot.profile_for(lead.get("site_id"))
    if profile is None:
        return []
    view = snapshot.read(lead, geo)
    for tier in profile.tiers(lead.get("interest_category")):
        if tier is not None and (found := tier.match(view)):
            return found
    return []


def plain(snapshot: Snapshot, lead: Mapping[str, Any], geo: Geo | None) -> list[Any]:
    profile, _ = snapshot.profile_for(lead.get("site_id"))
    if profile is None:
        return []
    view = snapshot.read(lead, geo)
    for tier in profile.tiers(lead.get("interest_category")):
        if tier is not None and (found := reference.match(tier.assignments, view)):
            return found
    return []


def _timings(
    function: Callable[..., object], snapshot: Snapshot, leads: Sequence[tuple[Any, Any]]
) -> list[float]:
    clock = time.perf_counter_ns
    result = []
    for lead, geo in leads:
        started = clock()
        function(snapshot, lead, geo)
        result.append((clock() - started) / 1000)
    return result


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(size: int, leads: Sequence[tuple[dict[str, Any], Geo | None]]) -> dict[str, float]:
    raw = generate_document(size)
    started = time.perf_counter()
    document = validate_document(raw, SCALING)
    validated = time.perf_counter()
    snapshot = compile_rules(document, f"bench-{size}")
    compiled = time.perf_counter()
    for lead, geo in leads[:200]:  # warm up both paths
        indexed(snapshot, lead, geo)
        plain(snapshot, lead, geo)
    for lead, geo in leads:
        if [a.id for a in indexed(snapshot, lead, geo)] != [
            a.id for a in plain(snapshot, lead, geo)
        ]:
            raise SystemExit(f"indexed and plain disagree on {lead['lead_id']}")
    fast = _timings(indexed, snapshot, leads)
    slow = _timings(plain, snapshot, leads)
    ledger = Ledger(MemoryStore())
    whole = _timings(
        lambda s, lead, geo: decide(s, lead, geo, ledger, trace=False), snapshot, leads
    )
    return {
        "validate_s": validated - started,
        "compile_s": compiled - validated,
        "indexed_p50": _percentile(fast, 0.5),
        "indexed_p99": _percentile(fast, 0.99),
        "plain_p50": _percentile(slow, 0.5),
        "plain_p99": _percentile(slow, 0.99),
        "ratio_p50": statistics.median(slow) / statistics.median(fast),
        "decide_p50": _percentile(whole, 0.5),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--leads", type=int, default=5000, help="leads per size (default 5000)")
    parser.add_argument("--write", type=Path, help="also write rules-<size>.json and leads.jsonl")
    args = parser.parse_args(argv)
    rng = random.Random(11)
    leads = [generate_lead(rng, n) for n in range(args.leads)]
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        with open(args.write / "leads.jsonl", "w") as out:
            out.writelines(json.dumps(lead) + "\n" for lead, _ in leads)
    header = (
        f"{'assignments':>11} {'validate s':>10} {'compile s':>9} {'indexed p50':>11} "
        f"{'p99':>7} {'plain p50':>9} {'p99':>8} {'ratio':>6} {'decide p50':>10}"
    )
    print(f"{len(leads)} leads per size; times per lead in microseconds\n")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        if args.write:
            document = json.dumps(generate_document(size), separators=(",", ":"))
            (args.write / f"rules-{size}.json").write_text(document)
        r = run(size, leads)
        print(
            f"{size:>11,} {r['validate_s']:>10.2f} {r['compile_s']:>9.2f} "
            f"{r['indexed_p50']:>11.1f} {r['indexed_p99']:>7.1f} {r['plain_p50']:>9.1f} "
            f"{r['plain_p99']:>8.1f} {r['ratio_p50']:>5.0f}x {r['decide_p50']:>10.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
