"""Contract section 5: how a lead is routed, step by step, and the decision that comes out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from processor.cli import dryrun, main
from processor.geometry.distance import great_circle_km
from processor.geometry.geo import Geo
from processor.rules import LeadWithoutId, Ledger, Matches, MemoryStore

CA = [[{"field": "address.state", "op": "equals", "value": "CA"}]]
NY = [[{"field": "address.state", "op": "equals", "value": "NY"}]]


def chosen(decision) -> list[str | None]:
    return [delivery.assignment for delivery in decision.deliveries]


class TestProfile:
    def test_the_profile_whose_sources_hold_the_site_id(self, rules):
        raw = rules.document(
            [rules.assignment("a")],
            profiles=[
                {"id": "other", "sources": ["site-b"], "assignments": [rules.assignment("b")]}
            ],
        )
        decision = rules.decide(raw, rules.lead(site_id="site-b"))
        assert (decision.profile, chosen(decision)) == ("other", ["b"])

    def test_site_ids_match_ignoring_case_and_whitespace(self, rules):
        decision = rules.decide(
            rules.document([rules.assignment("a")]), rules.lead(site_id=" SITE-A")
        )
        assert decision.profile == "main"

    def test_else_the_default_profile(self, rules):
        raw = rules.document(
            [rules.assignment("a")],
            profiles=[
                {"id": "fallback-profile", "default": True, "assignments": [rules.assignment("d")]}
            ],
        )
        decision = rules.decide(raw, rules.lead(site_id="unknown"))
        assert (decision.profile, chosen(decision)) == ("fallback-profile", ["d"])

    @pytest.mark.parametrize("site_id", ["unknown", None, 42])
    def test_else_unroutable(self, rules, site_id):
        decision = rules.decide(
            rules.document([rules.assignment("a")]), rules.lead(site_id=site_id)
        )
        assert decision.outcome == "unroutable"
        assert (decision.profile, decision.tier, decision.deliveries) == (None, None, ())


class TestTiers:
    def test_the_category_tier_comes_first(self, rules):
        raw = rules.document(
            [rules.assignment("all", "p1"), rules.assignment("svc", "p2", category="Service")]
        )
        decision = rules.decide(raw, rules.lead(interest_category="Service"))
        assert (decision.tier, chosen(decision)) == ("category", ["svc"])

    def test_categories_match_ignoring_case(self, rules):
        raw = rules.document([rules.assignment("svc", category=" service ")])
        decision = rules.decide(raw, rules.lead(interest_category="SERVICE"))
        assert (decision.tier, chosen(decision)) == ("category", ["svc"])

    def test_then_all_when_the_category_tier_has_no_candidate(self, rules):
        raw = rules.document(
            [rules.assignment("svc", category="Service", filter=CA), rules.assignment("all")]
        )
        decision = rules.decide(raw, rules.lead(address={"state": "NY"}))
        assert (decision.tier, chosen(decision)) == ("all", ["all"])

    def test_a_lead_without_category_goes_to_all(self, rules):
        raw = rules.document([rules.assignment("svc", category="Service"), rules.assignment("all")])
        decision = rules.decide(raw, rules.lead(interest_category=None))
        assert (decision.tier, chosen(decision)) == ("all", ["all"])

    def test_other_categories_never_apply(self, rules):
        raw = rules.document([rules.assignment("sales", category="New Models")], fallback="bdc")
        decision = rules.decide(raw, rules.lead(interest_category="Service"))
        assert decision.outcome == "fallback"

    def test_the_first_tier_with_a_candidate_decides_even_under_all(self, rules):
        raw = rules.document(
            [rules.assignment("svc", "p1", category="Service"), rules.assignment("all", "p2")],
            strategy="all",
        )
        assert chosen(rules.decide(raw)) == ["svc"]

    def test_inactive_partners_are_never_candidates(self, rules):
        partners = [
            {"id": "p1", "format": "json", "active": False},
            {"id": "p2", "format": "json"},
        ]
        raw = rules.document(
            [rules.assignment("off", "p1", category="Service"), rules.assignment("on", "p2")],
            partners=partners,
        )
        decision = rules.decide(raw)
        assert (decision.tier, chosen(decision)) == ("all", ["on"])

    def test_an_empty_filter_matches_every_lead(self, rules):
        assert chosen(rules.decide(rules.document([rules.assignment("a", filter=[])]))) == ["a"]

    def test_or_sets(self, rules):
        raw = rules.document([rules.assignment("a", filter=CA + NY)], fallback="bdc")
        assert rules.decide(raw, rules.lead(address={"state": "ny"})).outcome == "routed"
        assert rules.decide(raw, rules.lead(address={"state": "TX"})).outcome == "fallback"


STORES = [
    {"id": "near", "format": "json", "location": {"lat": 52.52, "lon": 13.40}},  # Berlin
    {"id": "far", "format": "json", "location": {"lat": 48.14, "lon": 11.58}},  # Munich
    {"id": "nowhere", "format": "json"},
    {"id": "bdc", "format": "json", "location": {"lat": 50.11, "lon": 8.68}},  # Frankfurt
]
POTSDAM = Geo(52.39, 13.06, "coords")


class TestNearestStore:
    def nearest(self, rules, assignments, **profile: Any) -> dict[str, Any]:
        return rules.document(
            assignments, partners=STORES, nearest_store={"enabled": True}, **profile
        )

    def test_only_the_nearest_located_partner_counts(self, rules):
        raw = self.nearest(
            rules,
            [
                rules.assignment("nowhere", "nowhere"),
                rules.assignment("far", "far"),
                rules.assignment("near", "near"),
            ],
        )
        decision = rules.decide(raw, geo=POTSDAM)
        assert chosen(decision) == ["near"]
        expected = great_circle_km(52.39, 13.06, 52.52, 13.40)
        assert decision.deliveries[0].distance_km == pytest.approx(expected, abs=0.001)

    def test_the_strategy_chooses_among_the_nearest_partners_assignments(self, rules):
        raw = self.nearest(
            rules,
            [
                rules.assignment("far", "far", price=99),
                rules.assignment("near-cheap", "near", price=10),
                rules.assignment("near-dear", "near", price=20),
            ],
            strategy="highest_price",
        )
        assert chosen(rules.decide(raw, geo=POTSDAM)) == ["near-dear"]

    def test_farther_than_max_km_counts_as_no_candidate(self, rules):
        raw = self.nearest(
            rules,
            [
                rules.assignment("far", "far", category="Service"),
                rules.assignment("all-near", "near"),
            ],
            fallback="bdc",
        )
        raw["profiles"][0]["nearest_store"]["max_km"] = 100
        munich = Geo(48.0, 11.5, "ip")
        assert chosen(rules.decide(raw, geo=munich)) == ["far"]
        decision = rules.decide(raw, geo=POTSDAM)
        assert (decision.tier, chosen(decision)) == ("all", ["all-near"])
        hamburg = Geo(53.55, 9.99, "ip")
        assert rules.decide(raw, geo=hamburg).outcome == "fallback"

    def test_no_located_candidate_changes_nothing(self, rules):
        raw = self.nearest(
            rules, [rules.assignment("a", "nowhere"), rules.assignment("b", "nowhere")]
        )
        decision = rules.decide(raw, geo=POTSDAM)
        assert chosen(decision) == ["a"]
        assert decision.deliveries[0].distance_km is None

    def test_a_lead_without_geolocation_changes_nothing(self, rules):
        raw = self.nearest(
            rules, [rules.assignment("far", "far"), rules.assignment("near", "near")]
        )
        assert chosen(rules.decide(raw, geo=None)) == ["far"]

    def test_disabled_nearest_store_keeps_document_order(self, rules):
        raw = rules.document(
            [rules.assignment("far", "far"), rules.assignment("near", "near")], partners=STORES
        )
        decision = rules.decide(raw, geo=POTSDAM)
        assert chosen(decision) == ["far"]
        assert decision.deliveries[0].distance_km == pytest.approx(
            great_circle_km(52.39, 13.06, 48.14, 11.58), abs=0.001
        )


class TestNearestStoreSources:
    """Step 5 locates the lead by the first of ``nearest_store.sources`` that has a location."""

    ASSIGNMENTS = (("far", "far"), ("near", "near"))
    # near is in Berlin, far in Munich: a postcode in Munich and an IP address in Potsdam disagree.
    MUNICH = Geo(48.15, 11.6, "postcode")

    def decide(self, rules, sources: list[str] | None, found: dict[str, Geo], geo: Geo | None):
        nearest: dict[str, Any] = {"enabled": True}
        if sources is not None:
            nearest["sources"] = sources
        raw = rules.document(
            [rules.assignment(a, p) for a, p in self.ASSIGNMENTS],
            partners=STORES,
            nearest_store=nearest,
        )
        asked: list[str] = []

        def locate(source: str) -> Geo | None:
            asked.append(source)
            return found.get(source)

        return rules.decide(raw, geo=geo, locate=locate), asked

    def test_the_default_trusts_the_postcode_over_the_ip_address(self, rules):
        ip = Geo(52.39, 13.06, "ip")
        decision, asked = self.decide(rules, None, {"postcode": self.MUNICH, "ip": ip}, ip)
        assert chosen(decision) == ["far"]
        assert asked == ["coords", "postcode"]  # the IP address is never asked for
        assert decision.geo == ip  # the lead's geo is still the most precise source
        [step] = [e for e in decision.trace if e["step"] == "nearest_store"]
        assert (step["partner"], step["source"]) == ("far", "postcode")
        expected = great_circle_km(48.15, 11.6, 48.14, 11.58)
        assert decision.deliveries[0].distance_km == pytest.approx(expected, abs=0.001)

    def test_the_profiles_order_decides(self, rules):
        ip = Geo(52.39, 13.06, "ip")
        decision, asked = self.decide(
            rules, ["ip", "postcode"], {"postcode": self.MUNICH, "ip": ip}, ip
        )
        assert chosen(decision) == ["near"]
        assert asked == ["ip"]

    def test_a_missing_source_falls_to_the_next(self, rules):
        decision, asked = self.decide(
            rules, ["coords", "ip", "postcode"], {"postcode": self.MUNICH}, self.MUNICH
        )
        assert chosen(decision) == ["far"]
        assert asked == ["coords", "ip", "postcode"]

    def test_no_source_available_changes_nothing(self, rules):
        ip = Geo(48.15, 11.6, "ip")
        decision, asked = self.decide(rules, ["coords", "postcode"], {"ip": ip}, ip)
        assert chosen(decision) == ["far"]  # document order: near comes second
        assert asked == ["coords", "postcode"]
        [step] = [e for e in decision.trace if e["step"] == "nearest_store"]
        assert step["why"] == "the lead has no geolocation from coords, postcode; nothing changes"
        assert step["kept"] == ["far", "near"]

    def test_without_a_locator_the_geo_counts_only_if_its_source_is_listed(self, rules):
        raw = rules.document(
            [rules.assignment(a, p) for a, p in reversed(self.ASSIGNMENTS)],
            partners=STORES,
            nearest_store={"enabled": True, "sources": ["coords"]},
        )
        assert chosen(rules.decide(raw, geo=self.MUNICH)) == ["near"]
        assert chosen(rules.decide(raw, geo=Geo(48.15, 11.6, "coords"))) == ["far"]


class TestMaxPartners:
    """``all`` with ``max_partners``: the highest prices, ties to document order."""

    def decide(self, rules, limit: int | None, prices: list[tuple[str, str, float]]):
        raw = rules.document(
            [rules.assignment(a, p, price=price) for a, p, price in prices],
            partners=[{"id": f"p{i}", "format": "json"} for i in range(1, 6)],
            strategy="all",
            max_partners=limit,
        )
        return rules.decide(raw)

    def test_the_highest_prices_win_and_deliveries_keep_document_order(self, rules):
        decision = self.decide(
            rules, 2, [("a", "p1", 10), ("b", "p2", 30), ("c", "p3", 5), ("d", "p4", 20)]
        )
        assert [(d.partner, d.price) for d in decision.deliveries] == [("p2", 30.0), ("p4", 20.0)]

    def test_ties_go_to_document_order(self, rules):
        decision = self.decide(
            rules, 2, [("a", "p1", 10), ("b", "p2", 20), ("c", "p3", 20), ("d", "p4", 20)]
        )
        assert chosen(decision) == ["b", "c"]

    def test_a_partner_counts_once_at_its_first_matching_assignments_price(self, rules):
        decision = self.decide(
            rules, 1, [("p1-cheap", "p1", 10), ("p2", "p2", 15), ("p1-dear", "p1", 99)]
        )
        assert chosen(decision) == ["p2"]

    def test_fewer_candidates_than_the_limit_all_get_the_lead(self, rules):
        decision = self.decide(rules, 3, [("a", "p1", 10), ("b", "p2", 20)])
        assert chosen(decision) == ["a", "b"]
        [step] = [e for e in decision.trace if e["step"] == "strategy"]
        assert "left_out" not in step

    def test_the_trace_names_the_partners_left_out(self, rules):
        decision = self.decide(
            rules, 1, [("a", "p1", 10), ("a2", "p1", 50), ("b", "p2", 30), ("c", "p3", 5)]
        )
        [step] = [e for e in decision.trace if e["step"] == "strategy"]
        assert (step["chosen"], step["max_partners"], step["left_out"]) == (["b"], 1, ["a", "c"])


class TestStrategies:
    def route(self, rules, raw, leads: int) -> list[str | None]:
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        return [chosen(rules.decide(snapshot, ledger=ledger))[0] for _ in range(leads)]

    def test_first_match_takes_the_first_in_document_order(self, rules):
        raw = rules.document(
            [rules.assignment("a", filter=CA), rules.assignment("b"), rules.assignment("c")]
        )
        assert self.route(rules, raw, 3) == ["b", "b", "b"]

    def test_round_robin_rotates_and_wraps_in_document_order(self, rules):
        raw = rules.document(
            [rules.assignment(n, p) for n, p in zip("abc", ("p1", "p2", "p3"), strict=True)],
            strategy="round_robin",
        )
        assert self.route(rules, raw, 7) == ["a", "b", "c", "a", "b", "c", "a"]

    def test_round_robin_takes_the_partner_chosen_least_recently(self, rules):
        raw = rules.document(
            [
                rules.assignment("a", "p1"),
                rules.assignment("b-ca", "p2", filter=CA),
                rules.assignment("c", "p3"),
                rules.assignment("d-ca", "bdc", filter=CA),
            ],
            strategy="round_robin",
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        sequence = ["CA", "CA", "NY", "CA", "NY", "NY"]
        got = [
            chosen(rules.decide(snapshot, rules.lead(address={"state": state}), ledger=ledger))[0]
            for state in sequence
        ]
        assert got == ["a", "b-ca", "c", "d-ca", "a", "c"]

    def test_round_robin_counts_across_tiers(self, rules):
        raw = rules.document(
            [
                rules.assignment("all-1", "p1"),
                rules.assignment("svc", "p2", category="Service", filter=CA),
                rules.assignment("all-2", "p3"),
            ],
            strategy="round_robin",
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        assert chosen(rules.decide(snapshot, rules.lead(), ledger=ledger)) == ["all-1"]
        rules.decide(snapshot, rules.lead(address={"state": "CA"}), ledger=ledger)  # svc
        decision = rules.decide(snapshot, rules.lead(address={"state": "NY"}), ledger=ledger)
        assert chosen(decision) == ["all-2"]

    def test_rotation_is_kept_per_profile(self, rules):
        raw = rules.document(
            [rules.assignment("a", "p1"), rules.assignment("b", "p2")],
            strategy="round_robin",
            profiles=[
                {
                    "id": "other",
                    "sources": ["site-b"],
                    "strategy": "round_robin",
                    "assignments": [rules.assignment("x", "p1"), rules.assignment("y", "p2")],
                }
            ],
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        sites = ["site-a", "site-b", "site-a", "site-b"]
        got = [
            chosen(rules.decide(snapshot, rules.lead(site_id=site), ledger=ledger))[0]
            for site in sites
        ]
        assert got == ["a", "x", "b", "y"]

    def test_weighted_is_smooth_weighted_round_robin(self, rules):
        raw = rules.document(
            [rules.assignment("a", weight=5), rules.assignment("b"), rules.assignment("c")],
            strategy="weighted",
        )
        # The sequence nginx's smooth weighted round robin gives for weights 5, 1, 1.
        assert self.route(rules, raw, 7) == ["a", "a", "b", "a", "c", "a", "a"]

    def test_weighted_ties_go_to_document_order(self, rules):
        raw = rules.document(
            [rules.assignment("a", weight=2), rules.assignment("b", weight=2)], strategy="weighted"
        )
        assert self.route(rules, raw, 4) == ["a", "b", "a", "b"]

    def test_weighted_scores_only_move_for_candidates(self, rules):
        raw = rules.document(
            [rules.assignment("a", weight=3, filter=CA), rules.assignment("b", weight=1)],
            strategy="weighted",
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        rules.decide(snapshot, rules.lead(address={"state": "NY"}), ledger=ledger)  # b alone
        assert ledger.scores("main") == {"b": 0}
        rules.decide(snapshot, rules.lead(address={"state": "CA"}), ledger=ledger)
        assert ledger.scores("main") == {"a": -1, "b": 1}

    def test_highest_price_with_ties_to_document_order(self, rules):
        raw = rules.document(
            [
                rules.assignment("base"),
                rules.assignment("forty", price=40),
                rules.assignment("also-forty", price=40),
            ],
            strategy="highest_price",
            base_price=30,
        )
        decision = rules.decide(raw)
        assert chosen(decision) == ["forty"]
        assert decision.deliveries[0].price == 40

    def test_all_delivers_once_per_partner_with_its_first_matching_assignment(self, rules):
        raw = rules.document(
            [
                rules.assignment("p1-first", "p1", price=10),
                rules.assignment("p2", "p2"),
                rules.assignment("p1-second", "p1", price=99),
                rules.assignment("p3-never", "p3", filter=CA),
            ],
            strategy="all",
            base_price=5,
        )
        decision = rules.decide(raw, rules.lead(address={"state": "NY"}))
        assert [(d.partner, d.assignment, d.price) for d in decision.deliveries] == [
            ("p1", "p1-first", 10.0),
            ("p2", "p2", 5.0),
        ]


class TestFallback:
    def test_nothing_matched_goes_to_the_fallback_at_the_base_price(self, rules):
        raw = rules.document([rules.assignment("a", filter=CA)], fallback="bdc", base_price=12.5)
        decision = rules.decide(raw, rules.lead(address={"state": "NY"}))
        assert (decision.outcome, decision.tier, decision.profile) == (
            "fallback",
            "fallback",
            "main",
        )
        [delivery] = decision.deliveries
        assert (delivery.partner, delivery.assignment, delivery.price) == ("bdc", None, 12.5)

    def test_the_fallback_price(self, rules):
        raw = rules.document(fallback={"partner": "bdc", "price": 2}, base_price=12.5)
        assert rules.decide(raw).deliveries[0].price == 2.0

    def test_no_fallback_is_unroutable(self, rules):
        decision = rules.decide(rules.document([rules.assignment("a", filter=CA)]))
        assert (decision.outcome, decision.profile, decision.tier) == ("unroutable", "main", None)
        assert decision.deliveries == ()

    def test_an_inactive_fallback_partner_is_never_chosen(self, rules):
        partners = [{"id": "bdc", "format": "json", "active": False}]
        raw = rules.document(partners=partners, fallback="bdc")
        assert rules.decide(raw).outcome == "unroutable"


class TestPrices:
    def test_the_effective_price_is_the_assignments_else_the_base_price(self, rules):
        raw = rules.document(
            [rules.assignment("own", "p1", price=40), rules.assignment("base", "p2")],
            strategy="all",
            base_price=25,
            currency="EUR",
        )
        decision = rules.decide(raw)
        assert [(d.price, d.currency) for d in decision.deliveries] == [
            (40.0, "EUR"),
            (25.0, "EUR"),
        ]

    def test_a_zero_price_is_a_price(self, rules):
        raw = rules.document([rules.assignment("free", price=0)], base_price=25)
        assert rules.decide(raw).deliveries[0].price == 0.0


class TestDecision:
    def test_as_dict_is_the_dry_run_format(self, rules):
        raw = rules.document([rules.assignment("a", price=40)], currency="USD")
        geo = Geo(40.7, -74.0, "ip", country="US")
        data = rules.decide(raw, geo=geo).as_dict()
        assert json.loads(json.dumps(data)) == data
        assert {k: v for k, v in data.items() if k not in ("trace", "geo")} == {
            "lead_id": "lead-1",
            "rules_version": "test",
            "profile": "main",
            "outcome": "routed",
            "duplicate_of": None,
            "tier": "all",
            "deliveries": [
                {
                    "partner": "p1",
                    "assignment": "a",
                    "price": 40.0,
                    "currency": "USD",
                    "distance_km": None,
                }
            ],
            "error": None,
        }
        assert {"lat": 40.7, "lon": -74.0, "country": "US", "source": "ip"}.items() <= data[
            "geo"
        ].items()
        assert isinstance(data["trace"], list) and data["trace"]

    def test_unroutable_as_dict(self, rules):
        data = rules.decide(rules.document(), rules.lead(site_id="x")).as_dict()
        assert (
            data["profile"],
            data["outcome"],
            data["tier"],
            data["deliveries"],
            data["geo"],
        ) == (
            None,
            "unroutable",
            None,
            [],
            None,
        )

    @pytest.mark.parametrize("lead_id", [None, "", 5])
    def test_a_lead_needs_a_lead_id(self, rules, lead_id):
        with pytest.raises(LeadWithoutId, match="lead_id"):
            rules.decide(rules.document(), rules.lead(lead_id=lead_id))

    def test_the_command_line_reports_a_lead_without_an_id_as_invalid_input(
        self, rules, monkeypatch, capsys
    ):
        def route_one(args):
            return rules.decide(rules.document(), rules.lead(lead_id=None))

        monkeypatch.setattr(dryrun, "_run", route_one)
        assert main(["dry-run", "--rules", "rules.yaml"]) == 1
        assert capsys.readouterr().err == (
            "lead-router: a lead needs a lead_id: a non-empty string\n"
        )

    def test_submitted_at_may_be_a_datetime(self, rules):
        from datetime import UTC, datetime

        lead = rules.lead(submitted_at=datetime(2024, 5, 1, tzinfo=UTC))
        assert rules.decide(rules.document([rules.assignment("a")]), lead).outcome == "routed"


@pytest.mark.parametrize(
    ("category", "everywhere"),
    [((7,), (1, 2)), ((-1,), (1, 2)), ((1,), (1, 2)), ((), (2, 1)), ((), (1, 1)), ((), (0,))],
    ids=["out-of-range", "negative", "another-tier", "out-of-order", "repeated", "wrong-tier"],
)
def test_matches_that_cannot_be_the_match_stages_are_matched_again(rules, category, everywhere):
    """The decide topic is a topic: positions on it that cannot be a match are not used (the
    match stage gives this lead none in its category tier, and a and b in ALL)."""
    raw = rules.document(
        [
            rules.assignment("svc", "p1", category="Service", filter=CA),
            rules.assignment("a", "p2"),
            rules.assignment("b", "p3"),
        ]
    )
    snapshot = rules.snapshot(raw)
    lead = rules.lead(address={"state": "NY"})
    expected = rules.decide(snapshot, lead).as_dict()
    hostile = Matches(snapshot.version, category, everywhere)
    assert rules.decide(snapshot, lead, matches=hostile).as_dict() == expected
