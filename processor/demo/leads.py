"""Varied sample leads for the demo, in the contract's JSON form, reproducible from a seed.

The mix exercises every outcome: dealer leads by interest category from near and far (nearest
store, the ALL tier, the fallback beyond reach), marketplace leads that pass some buyers' filters or
none (enough for a buyer's daily cap), leads from a site no profile takes (unroutable), a person who
asks twice and a publisher's retry (duplicates), and a few records that are not leads at all (dead
letters).

Leads carry fixed times, one every :data:`SPACING` from :data:`START`: caps and duplicate spans
count by a lead's time, never the clock, so each run decides alike whenever it runs, and the default
3,000 leads fall on one day of New York time, the time zone of the capped buyer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# (city, state, postcode, lat, lon, network): where the demo's visitors are. The networks are
# ones the DB-IP city database places in or near that city, for visitors known only by IP.
PLACES = (
    ("New York", "NY", "10001", 40.7506, -73.9972, "2.21.116"),
    ("Brooklyn", "NY", "11201", 40.6940, -73.9903, "2.21.116"),
    ("Newark", "NJ", "07102", 40.7357, -74.1724, "2.21.116"),
    ("Stamford", "CT", "06901", 41.0534, -73.5387, "2.21.116"),
    ("Boston", "MA", "02108", 42.3576, -71.0646, "2.18.72"),
    ("Providence", "RI", "02903", 41.8205, -71.4128, "2.18.72"),
    ("Philadelphia", "PA", "19103", 39.9527, -75.1741, "2.18.31"),
    ("Baltimore", "MD", "21201", 39.2949, -76.6251, "2.18.31"),
    ("Los Angeles", "CA", "90012", 34.0614, -118.2385, "2.16.76"),
    ("Chicago", "IL", "60601", 41.8858, -87.6181, "2.16.116"),
)
Place = tuple[str, str, str, float, float, str]
FIRST = ("Ana", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Grace", "Hiro", "Iñigo", "Jo")
LAST = ("Smith", "O'Brien", "Müller", "Nguyen", "Okafor", "García", "Johnson & Sons", "Kowalski")
VEHICLES = (
    ("Toyota", "RAV4", "XLE"),
    ("Honda", "Civic", "Sport"),
    ("Ford", "F-150", "Lariat"),
    ("Subaru", "Outback", "Limited <AWD>"),
)
CATEGORIES = ("New Models", "New Models", "Service", "Used Vehicles", "Used Vehicles", None)
NOT_LEADS = (b"", b'{"lead_id": "json-is-not-avro"}', b"\x00\x00\x00\x00\x07garbage")
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SPACING = timedelta(seconds=20)
REPEATS_FROM = 20
"""The fewest leads that hold the two repeats: fewer are all first-time leads."""


def sample_leads(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` leads, about 45% dealer, 45% marketplace, 10% from an unknown site.

    From :data:`REPEATS_FROM` leads on, two of them repeat earlier ones: two thirds of the way
    through, the first marketplace visitor asks again under a new lead id, and the last lead is a
    publisher's retry of the one before it, sent again whole, lead id and all.
    """
    rng = random.Random(seed)
    first_market: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    returns_at = count * 2 // 3 if count >= REPEATS_FROM else -1
    for n in range(count):
        submitted = START + SPACING * n
        if n == returns_at and first_market is not None:
            lead = _asks_again(first_market, n, submitted)
        elif n == count - 1 and previous is not None and count >= REPEATS_FROM:
            lead = dict(previous)
        else:
            roll = rng.random()
            if roll < 0.45:
                lead = _dealer_lead(rng, n, submitted)
            elif roll < 0.90:
                lead = _market_lead(rng, n, submitted)
                first_market = first_market or lead
            else:
                lead = _market_lead(rng, n, submitted)
                lead["site_id"] = "partner-widget"
        previous = lead
        yield lead


def not_a_lead(n: int) -> bytes:
    """Bytes that a careless publisher might send: they belong in the dead-letter topic."""
    return NOT_LEADS[n % len(NOT_LEADS)]


def _person(rng: random.Random, n: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "first_name": first,
        "last_name": last,
        "email": f"visitor{n}@example.com",
        "phone": f"+1-555-{n // 10000 % 1000:03d}-{n % 10000:04d}",
    }


def _asks_again(first: dict[str, Any], n: int, submitted: datetime) -> dict[str, Any]:
    """The person of lead ``first`` asking again: a new lead id and time, the same request, the
    email typed in capitals and the phone as people write it at home, ``(555) 000-0042``."""
    contact = first["contact"]
    digits = re.sub(r"\D", "", contact["phone"])[-10:]
    return {
        **first,
        "lead_id": f"lead-{n:06d}",
        "submitted_at": _iso(submitted),
        "contact": {
            **contact,
            "email": contact["email"].upper(),
            "phone": f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
        },
    }


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _address(place: Place, n: int) -> dict[str, Any]:
    city, state, postcode = place[:3]
    return {
        "street": f"{n % 900 + 1} Main St",
        "city": city,
        "state": state,
        "postcode": postcode,
        "country": "US",
    }


def _dealer_lead(rng: random.Random, n: int, submitted: datetime) -> dict[str, Any]:
    place = rng.choice(PLACES)
    make, model, trim = rng.choice(VEHICLES)
    category = rng.choice(CATEGORIES)
    located_by = rng.random()
    visitor: dict[str, Any] = {"ip": None, "lat": None, "lon": None, "user_agent": "Mozilla/5.0"}
    if located_by < 0.6:  # the browser shared its position
        visitor["lat"] = round(place[3] + rng.uniform(-0.2, 0.2), 4)
        visitor["lon"] = round(place[4] + rng.uniform(-0.2, 0.2), 4)
    elif located_by < 0.75:
        # An IP address besides the address: it gives the lead's geo (with the IP database from
        # lead-router geo fetch), while the typed postcode, trusted first, picks the nearest store.
        visitor["ip"] = f"{place[5]}.{rng.randrange(1, 255)}"
    # otherwise the address's postcode is all there is
    return {
        "lead_id": f"lead-{n:06d}",
        "submitted_at": _iso(submitted),
        "site_id": rng.choice(("metro-auto-web", "metro-auto-chat")),
        "interest_category": category,
        "offer_id": None,
        "contact": _person(rng, n),
        "address": _address(place, n),
        "visitor": visitor,
        "vehicle": {
            "year": rng.choice((2024, 2025, 2026)),
            "make": make,
            "model": model,
            "trim": trim,
            "vin": None,
            "stock": f"S{n:05d}",
            "condition": "used" if category == "Used Vehicles" else "new",
        },
        "fields": {},
        "comments": rng.choice((None, "Call after 5pm", "Trade-in: 2015 Civic & roof rack")),
    }


def _market_lead(rng: random.Random, n: int, submitted: datetime) -> dict[str, Any]:
    place = rng.choice(PLACES)
    return {
        "lead_id": f"lead-{n:06d}",
        "submitted_at": _iso(submitted),
        "site_id": "leadmarket",
        "interest_category": rng.choice(("Auto Loan", "Refinance", None)),
        "offer_id": f"offer-{rng.randrange(1, 6)}",
        "contact": _person(rng, n),
        "address": _address(place, n),
        "visitor": None,
        "vehicle": None,
        "fields": {
            "budget": rng.choice((8000, 15000, 25000, 45000, 70000, 90000)),
            "credit_score": rng.randrange(550, 820),
            "lead_type": rng.choice(("purchase", "refinance", "lease")),
            "ssn": f"000-00-{n % 10000:04d}",
        },
        "comments": None,
    }
