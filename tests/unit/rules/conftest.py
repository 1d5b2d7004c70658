"""Small rules documents and leads, and a harness that routes them, for the routing engine tests.

``Harness.matches`` evaluates one condition through both the condition index and the plain
reference evaluator and fails the test when they disagree, so every semantics test also checks the
index.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from processor.geometry.geo import Geo
from processor.rules import (
    Decision,
    Ledger,
    MemoryStore,
    Snapshot,
    compile_rules,
    decide,
    reference,
    validate_document,
)

PARTNERS: list[dict[str, Any]] = [
    {"id": "p1", "format": "json", "destinations": ["https://p1.example"]},
    {"id": "p2", "format": "adf_xml", "destinations": ["mailto:p2@example.com"]},
    {"id": "p3", "format": "text", "destinations": ["https://p3.example"]},
    {"id": "bdc", "format": "json", "destinations": ["https://bdc.example"]},
]

BASE_LEAD: dict[str, Any] = {
    "lead_id": "lead-1",
    "submitted_at": "2024-05-01T12:00:00Z",
    "site_id": "site-a",
    "interest_category": "Service",
    "offer_id": None,
    "contact": {"first_name": "Ann", "last_name": "Lee", "email": None, "phone": None},
    "address": {"street": None, "city": None, "state": None, "postcode": None, "country": None},
    "visitor": None,
    "vehicle": None,
    "fields": {},
    "comments": None,
}


class Harness:
    """Builds documents around one profile and routes leads through them.

    Each lead it makes has a lead id of its own (``lead-1``, ``lead-2``, ...) unless one is
    given: the same lead id twice is a duplicate of itself.
    """

    def __init__(self) -> None:
        self._leads = 0

    @staticmethod
    def assignment(id: str, partner: str = "p1", **extra: Any) -> dict[str, Any]:
        return {"id": id, "partner": partner, **extra}

    @staticmethod
    def condition(field: str, op: str, value: Any = None) -> dict[str, Any]:
        found = {"field": field, "op": op}
        if value is not None:
            found["value"] = value
        return found

    def document(
        self,
        assignments: Sequence[Mapping[str, Any]] = (),
        *,
        partners: Sequence[Mapping[str, Any]] | None = None,
        fields: Mapping[str, Any] | None = None,
        profiles: Sequence[Mapping[str, Any]] = (),
        **profile: Any,
    ) -> dict[str, Any]:
        main = {"id": "main", "sources": ["site-a"], **profile, "assignments": list(assignments)}
        raw: dict[str, Any] = {
            "partners": copy.deepcopy(list(PARTNERS if partners is None else partners)),
            "profiles": [main, *profiles],
        }
        if fields is not None:
            raw["fields"] = dict(fields)
        return raw

    def snapshot(self, raw: Mapping[str, Any]) -> Snapshot:
        return compile_rules(validate_document(raw), "test")

    def lead(self, **changes: Any) -> dict[str, Any]:
        """The base lead with top-level keys replaced; ``address={"state": "CA"}`` merges."""
        lead = copy.deepcopy(BASE_LEAD)
        self._leads += 1
        lead["lead_id"] = f"lead-{self._leads}"
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(lead.get(key), dict):
                lead[key].update(value)
            else:
                lead[key] = value
        return lead

    def decide(
        self,
        raw_or_snapshot: Mapping[str, Any] | Snapshot,
        lead: Mapping[str, Any] | None = None,
        geo: Geo | None = None,
        ledger: Ledger | None = None,
        **kwargs: Any,
    ) -> Decision:
        snapshot = (
            raw_or_snapshot
            if isinstance(raw_or_snapshot, Snapshot)
            else self.snapshot(raw_or_snapshot)
        )
        return decide(
            snapshot,
            self.lead() if lead is None else lead,
            geo,
            Ledger(MemoryStore()) if ledger is None else ledger,
            **kwargs,
        )

    def matches(
        self,
        filter_condition: Mapping[str, Any],
        lead: Mapping[str, Any],
        geo: Geo | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether one condition holds for ``lead``: index and reference must agree."""
        raw = self.document(
            [self.assignment("a", filter=[[dict(filter_condition)]], category="ALL")],
            fields=fields,
        )
        snapshot = self.snapshot(raw)
        profile, _ = snapshot.profile_for("site-a")
        assert profile is not None and profile.all_tier is not None
        view = snapshot.read(lead, geo)
        indexed = bool(profile.all_tier.match(view))
        plain = bool(reference.match(profile.all_tier.assignments, view))
        assert indexed == plain, f"index says {indexed}, reference says {plain}"
        return indexed


@pytest.fixture
def rules() -> Harness:
    return Harness()


@pytest.fixture
def alias_bomb() -> str:
    """A 9 KB YAML document of the right shape in which aliases repeat each level a hundred
    times: 100 profiles of 100 assignments of 100 OR-sets of 100 conditions on a list of 1,000
    postcodes, written once. Validating it in full means 10^11 list items."""
    postcodes = ", ".join(f'"{n:05d}"' for n in range(1000))

    def again(anchor: str) -> str:
        return ", ".join([f"*{anchor}"] * 99)

    condition = f"&condition {{field: address.postcode, op: in_list, value: [{postcodes}]}}"
    or_set = f"&or_set [{condition}, {again('condition')}]"
    assignment = f"&assignment {{id: a, partner: p1, filter: [{or_set}, {again('or_set')}]}}"
    profile = f"&profile {{id: main, assignments: [{assignment}, {again('assignment')}]}}"
    return f"partners: [{{id: p1, format: json}}]\nprofiles: [{profile}, {again('profile')}]\n"
