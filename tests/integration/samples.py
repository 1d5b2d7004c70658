"""The rules and leads the stream tests share, and what a decision must agree on with dry-run.

Every strategy with state that must survive a restart (round_robin, weighted) is in the mix, and so
is each outcome: routed, fallback (a dealer lead no assignment takes) and unroutable (an unknown
site).
"""

from __future__ import annotations

from typing import Any

RULES = """
fields:
  budget: {type: number}
partners:
  - {id: store-nyc, format: adf_xml, destinations: ["mailto:nyc@example.com"],
     location: {lat: 40.75, lon: -73.99}}
  - {id: store-bos, format: adf_xml, destinations: ["mailto:bos@example.com"],
     location: {lat: 42.36, lon: -71.06}}
  - {id: service, format: text, destinations: ["mailto:service@example.com"]}
  - {id: bdc, format: json, destinations: ["https://bdc.example.com/hook"]}
  - {id: buyer-a, format: json, destinations: ["https://a.example.com"]}
  - {id: buyer-b, format: json, destinations: ["https://b.example.com"]}
  - {id: buyer-c, format: json, destinations: ["https://c.example.com"]}
profiles:
  - id: dealer
    sources: [dealer-web]
    strategy: first_match
    nearest_store: {enabled: true, max_km: 500}
    fallback: bdc
    assignments:
      - {id: svc, partner: service, category: Service}
      - {id: new-nyc, partner: store-nyc, category: New Models}
      - {id: new-bos, partner: store-bos, category: New Models}
      - {id: any-nyc, partner: store-nyc, category: ALL,
         filter: [[{field: address.state, op: in_list, value: [NY, NJ]}]]}
  - id: market
    sources: [market]
    strategy: round_robin
    base_price: 20
    currency: USD
    assignments:
      - {id: a, partner: buyer-a, price: 30}
      - {id: b, partner: buyer-b}
      - {id: c, partner: buyer-c, filter: [[{field: budget, op: gte, value: 50000}]]}
"""

WEIGHTED_RULES = (
    RULES
    + """
  - id: network
    sources: [network]
    strategy: weighted
    base_price: 12
    currency: USD
    assignments:
      - {id: wa, partner: buyer-a, weight: 5}
      - {id: wb, partner: buyer-b, weight: 3, price: 15}
      - {id: wc, partner: buyer-c, weight: 2, filter: [[{field: budget, op: lt, value: 40000}]]}
"""
)
"""RULES plus a weighted profile whose candidates vary from lead to lead (buyer-c's filter)."""

PARTNERS = ("store-nyc", "store-bos", "service", "bdc", "buyer-a", "buyer-b", "buyer-c")

SITES = ("dealer-web", "market", "market", "elsewhere")
"""The default mix: a quarter dealer (first_match), half market (round_robin), a quarter unknown."""

WEIGHTED_SITES = ("dealer-web", "market", "network", "elsewhere")
"""A quarter each: first_match, round_robin, weighted (``WEIGHTED_RULES``), unroutable."""

PLACES = [("NY", 40.7, -74.0), ("MA", 42.3, -71.1), ("CA", 34.0, -118.2), ("NJ", 40.73, -74.17)]


def leads(count: int, prefix: str = "lead", sites: tuple[str, ...] = SITES) -> list[dict[str, Any]]:
    """A deterministic mix: dealer leads by category and place, market leads, unknown sites."""
    out = []
    for n in range(count):
        state, lat, lon = PLACES[(n // 4) % len(PLACES)]
        site = sites[n % len(sites)]
        out.append(
            {
                "lead_id": f"{prefix}-{n:05d}",
                "submitted_at": "2026-11-20T10:00:00Z",
                "site_id": site,
                "interest_category": ("New Models", "Service", None)[n % 3],
                "address": {
                    "state": state,
                    "postcode": None,
                    "street": None,
                    "city": None,
                    "country": "US",
                },
                "visitor": {"lat": lat, "lon": lon, "ip": None, "user_agent": None}
                if n % 5
                else None,
                "fields": {"budget": (n * 7919) % 100000},
            }
        )
    return out


def summary(decision: dict[str, Any]) -> tuple[Any, ...]:
    """What a decision must agree on between the processor and dry-run (not the trace or geo)."""
    return (
        decision["outcome"],
        decision["profile"],
        decision["tier"],
        tuple(
            (d["partner"], d["assignment"], d["price"], d["currency"], d["distance_km"])
            for d in decision["deliveries"]
        ),
    )


DEALER_RULES = """
partners:
  - {id: service-desk, name: Service Desk, format: text, destinations: ["file:///dev/null"]}
  - {id: sales, format: adf_xml, destinations: ["file:///dev/null"]}
profiles:
  - id: dealer
    sources: [dealer-web]
    base_price: 10
    currency: USD
    assignments:
      - {id: service, partner: service-desk, category: Service, price: 15}
      - id: ny-sales
        partner: sales
        category: ALL
        filter: [[{field: address.state, op: equals, value: NY}]]
"""
"""A dealer: service leads to the service desk at 15, New York leads of any category to sales;
the rest is unroutable (no fallback). What the audit and redrive tests route."""
