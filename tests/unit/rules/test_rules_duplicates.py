"""Duplicates: the same lead id again, the same person within a profile's span, and partners that
must not receive the same person twice."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.rules import Ledger, MemoryStore
from processor.rules.explain import explain_text
from processor.rules.people import _e164, _north_american, _parsed, fingerprints, normalised

DUPLICATES = {"keys": ["contact.email", "contact.phone"], "within": "30d"}
NOON = "2026-11-30T12:00:00Z"


def person(email: str | None = None, phone: str | None = None, **lead: Any) -> dict[str, Any]:
    return {"contact": {"email": email, "phone": phone}, **lead}


class TestSameLeadId:
    def test_the_same_lead_id_again_is_a_duplicate_of_itself_and_sells_nothing(self, rules):
        raw = rules.document(
            [rules.assignment("a", "p1"), rules.assignment("b", "p2")], strategy="round_robin"
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        lead = rules.lead(lead_id="L-1")
        first = rules.decide(snapshot, lead, ledger=ledger)
        again = rules.decide(snapshot, dict(lead), ledger=ledger)
        assert first.outcome == "routed" and first.deliveries[0].partner == "p1"
        assert (again.outcome, again.duplicate_of, again.deliveries) == ("duplicate", "L-1", ())
        assert again.profile == "main"
        # The retry took no turn: the next new lead goes to p2.
        assert rules.decide(snapshot, ledger=ledger).deliveries[0].partner == "p2"

    def test_an_unroutable_lead_id_again_is_a_duplicate_too(self, rules):
        snapshot, ledger = rules.snapshot(rules.document([])), Ledger(MemoryStore())
        lead = rules.lead(lead_id="L-2", site_id="nowhere")
        assert rules.decide(snapshot, lead, ledger=ledger).outcome == "unroutable"
        assert rules.decide(snapshot, lead, ledger=ledger).outcome == "duplicate"

    def test_a_lead_id_is_remembered_for_the_lead_memory_only(self, rules):
        snapshot = rules.snapshot(rules.document([rules.assignment("a")]))
        ledger = Ledger(MemoryStore(), lead_memory_s=86_400)
        early = rules.lead(lead_id="L-3", submitted_at="2026-11-01T00:00:00Z")
        late = rules.lead(lead_id="L-3", submitted_at="2026-11-02T00:00:01Z")
        assert rules.decide(snapshot, early, ledger=ledger).outcome == "routed"
        assert rules.decide(snapshot, late, ledger=ledger).outcome == "routed"

    def test_the_trace_says_when_it_was_decided(self, rules):
        snapshot, ledger = (
            rules.snapshot(rules.document([rules.assignment("a")])),
            Ledger(MemoryStore()),
        )
        lead = rules.lead(lead_id="L-4", submitted_at=NOON)
        rules.decide(snapshot, lead, ledger=ledger)
        [ending] = [
            e for e in rules.decide(snapshot, lead, ledger=ledger).trace if e["step"] == "duplicate"
        ]
        assert ending["duplicate_of"] == "L-4" and ending["at"] == "2026-11-30T12:00:00Z"
        assert "was decided before (routed" in ending["why"]
        again = rules.decide(snapshot, lead, ledger=ledger)
        text = explain_text(again.outcome, again.trace, again.as_dict())
        assert "duplicate of L-4: lead id 'L-4' was decided before" in text


class TestRedrivenLead:
    """A lead published again by ``redrive`` after a fix: routed again when its earlier decision
    was unroutable; still a duplicate when it sold anything."""

    def test_a_redriven_lead_once_unroutable_is_routed_and_the_trace_says_why(self, rules):
        ledger, lead = Ledger(MemoryStore()), rules.lead(lead_id="R-1", submitted_at=NOON)
        before = rules.snapshot(rules.document([]))
        assert rules.decide(before, lead, ledger=ledger).outcome == "unroutable"
        fixed = rules.snapshot(rules.document([rules.assignment("a", "p1")]))
        again = rules.decide(fixed, lead, ledger=ledger, redriven=True)
        assert (again.outcome, [d.partner for d in again.deliveries]) == ("routed", ["p1"])
        [entry] = [e for e in again.trace if e["step"] == "redrive"]
        assert "2026-11-30T12:00:00Z) was unroutable" in entry["why"]
        text = explain_text(again.outcome, again.trace, again.as_dict())
        assert "redrive: the earlier decision" in text

    def test_a_lead_routed_by_a_redrive_is_a_duplicate_when_redriven_again(self, rules):
        ledger, lead = Ledger(MemoryStore()), rules.lead(lead_id="R-2")
        rules.decide(rules.snapshot(rules.document([])), lead, ledger=ledger)
        fixed = rules.snapshot(rules.document([rules.assignment("a", "p1")]))
        assert rules.decide(fixed, lead, ledger=ledger, redriven=True).outcome == "routed"
        second = rules.decide(fixed, lead, ledger=ledger, redriven=True)
        assert (second.outcome, second.duplicate_of, second.deliveries) == ("duplicate", "R-2", ())

    @pytest.mark.parametrize("fallback", [False, True])
    def test_the_redrive_header_never_sells_a_routed_or_fallback_lead_twice(self, rules, fallback):
        raw = (
            rules.document([], fallback="bdc")
            if fallback
            else rules.document([rules.assignment("a", "p1")])
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        lead = rules.lead(lead_id="R-3")
        first = rules.decide(snapshot, lead, ledger=ledger)
        assert first.outcome == ("fallback" if fallback else "routed")
        forged = rules.decide(snapshot, lead, ledger=ledger, redriven=True)
        assert (forged.outcome, forged.deliveries) == ("duplicate", ())
        assert not [e for e in forged.trace if e["step"] == "redrive"]

    def test_without_the_header_an_unroutable_lead_again_stays_a_duplicate(self, rules):
        ledger, lead = Ledger(MemoryStore()), rules.lead(lead_id="R-4")
        rules.decide(rules.snapshot(rules.document([])), lead, ledger=ledger)
        fixed = rules.snapshot(rules.document([rules.assignment("a", "p1")]))
        assert rules.decide(fixed, lead, ledger=ledger).outcome == "duplicate"

    def test_a_redriven_lead_never_decided_is_routed_without_a_redrive_line(self, rules):
        snapshot = rules.snapshot(rules.document([rules.assignment("a", "p1")]))
        decision = rules.decide(snapshot, rules.lead(lead_id="R-5"), redriven=True)
        assert decision.outcome == "routed"
        assert not [e for e in decision.trace if e["step"] == "redrive"]


class TestProfileDuplicates:
    def decide(self, rules, snapshot, ledger, **lead: Any):
        return rules.decide(snapshot, rules.lead(**lead), ledger=ledger)

    def snapshot(self, rules, **profile: Any):
        return rules.snapshot(
            rules.document([rules.assignment("a")], duplicates=DUPLICATES, **profile)
        )

    def test_the_same_person_within_the_span_is_a_duplicate_naming_the_earlier_lead(self, rules):
        snapshot, ledger = self.snapshot(rules), Ledger(MemoryStore())
        first = self.decide(
            rules,
            snapshot,
            ledger,
            lead_id="A",
            submitted_at=NOON,
            **person(email="Ann@Example.com "),
        )
        second = self.decide(
            rules,
            snapshot,
            ledger,
            lead_id="B",
            submitted_at=NOON,
            **person(email=" ann@example.COM"),
        )
        assert first.outcome == "routed"
        assert (second.outcome, second.duplicate_of, second.deliveries) == ("duplicate", "A", ())

    def test_phone_numbers_compare_in_e164(self, rules):
        snapshot, ledger = self.snapshot(rules), Ledger(MemoryStore())
        self.decide(rules, snapshot, ledger, lead_id="A", **person(phone="(415) 555-0100"))
        second = self.decide(
            rules, snapshot, ledger, lead_id="B", **person(phone="+1 415 555 0100")
        )
        assert second.duplicate_of == "A"

    def test_the_region_of_a_phone_number_comes_from_the_address_country(self):
        lead = {"contact": {"phone": "030 1234567"}, "address": {"country": "de"}}
        assert normalised(lead, None, "contact.phone") == "+49301234567"
        assert normalised({"contact": {"phone": "415 555 0100"}}, None, "contact.phone") == (
            "+14155550100"
        )

    def test_empty_keys_never_match(self, rules):
        snapshot, ledger = self.snapshot(rules), Ledger(MemoryStore())
        self.decide(rules, snapshot, ledger, lead_id="A", **person(email="  "))
        assert self.decide(rules, snapshot, ledger, lead_id="B", **person()).outcome == "routed"

    def test_outside_the_span_or_before_the_lead_is_no_duplicate(self, rules):
        snapshot, ledger = self.snapshot(rules), Ledger(MemoryStore())
        who = person(email="ann@example.com")
        self.decide(
            rules, snapshot, ledger, lead_id="A", submitted_at="2026-10-01T00:00:00Z", **who
        )
        later = self.decide(
            rules, snapshot, ledger, lead_id="B", submitted_at="2026-11-30T00:00:00Z", **who
        )
        earlier = self.decide(
            rules, snapshot, ledger, lead_id="C", submitted_at="2026-09-01T00:00:00Z", **who
        )
        assert (later.outcome, earlier.outcome) == ("routed", "routed")

    def test_another_profile_does_not_count(self, rules):
        raw = rules.document(
            [rules.assignment("a")],
            duplicates=DUPLICATES,
            profiles=[
                {
                    "id": "other",
                    "sources": ["site-b"],
                    "duplicates": DUPLICATES,
                    "assignments": [rules.assignment("x")],
                }
            ],
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        who = person(email="ann@example.com")
        self.decide(rules, snapshot, ledger, lead_id="A", site_id="site-a", **who)
        assert self.decide(
            rules, snapshot, ledger, lead_id="B", site_id="site-b", **who
        ).outcome == ("routed")

    def test_an_unroutable_lead_is_not_remembered_as_the_person(self, rules):
        raw = rules.document(
            [rules.assignment("a", filter=[[rules.condition("address.state", "equals", "CA")]])],
            duplicates=DUPLICATES,
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        who = person(email="ann@example.com")
        assert self.decide(rules, snapshot, ledger, lead_id="A", **who).outcome == "unroutable"
        ca = self.decide(rules, snapshot, ledger, lead_id="B", address={"state": "CA"}, **who)
        assert ca.outcome == "routed"


class TestPartnerSpan:
    def test_a_partner_never_receives_the_same_person_twice_within_its_span(self, rules):
        partners = [
            {"id": "p1", "format": "json", "reject_duplicates_within": "7d"},
            {"id": "p2", "format": "json"},
        ]
        raw = rules.document(
            [rules.assignment("a", "p1"), rules.assignment("b", "p2")], partners=partners
        )
        snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
        who = person(email="ann@example.com")
        first = rules.decide(snapshot, rules.lead(lead_id="A", **who), ledger=ledger)
        second = rules.decide(snapshot, rules.lead(lead_id="B", **who), ledger=ledger)
        other = rules.decide(
            snapshot, rules.lead(lead_id="C", **person(email="bo@x.io")), ledger=ledger
        )
        assert [d.deliveries[0].partner for d in (first, second, other)] == ["p1", "p2", "p1"]
        assert second.outcome == "routed" and second.exclusions == (("p1", "duplicate"),)
        [entry] = [e for e in second.trace if e.get("assignment") == "a"]
        assert entry["excluded"].startswith(
            "duplicate: partner 'p1' received this person in "
            "lead 'A' of 2024-05-01T12:00:00Z, within 7d"
        )


def test_people_are_remembered_as_salted_digests_never_as_text(rules):
    store = MemoryStore()
    snapshot = rules.snapshot(rules.document([rules.assignment("a")], duplicates=DUPLICATES))
    rules.decide(
        snapshot, rules.lead(**person("ann@example.com", "+14155550100")), ledger=Ledger(store)
    )
    stored = b"".join(k + v for k, v in store.data.items())
    for text in (b"ann@example.com", b"4155550100", b"example"):
        assert text not in stored
    lead = person("ann@example.com")
    assert fingerprints(lead, None, ["contact.email"], b"1" * 32) != fingerprints(
        lead, None, ["contact.email"], b"2" * 32
    )


@pytest.mark.parametrize(
    "value", [b"{", b'{"lead": 3, "at": "x"}', b'{"lead": "A", "at": 99999999999999999999}']
)
def test_an_unreadable_memory_counts_as_none(rules, value):
    """The changelog is a topic others could write to: junk there must not stop routing."""
    store = MemoryStore()
    store.set(b"lead\x1fL-9", value)
    snapshot = rules.snapshot(rules.document([rules.assignment("a")]))
    assert rules.decide(snapshot, rules.lead(lead_id="L-9"), ledger=Ledger(store)).outcome == (
        "routed"
    )


@st.composite
def written(draw: st.DrawFn) -> str:
    """Nine to eleven digits, each after a separator or none, after a prefix or none."""
    digits = draw(st.text("0123456789", min_size=9, max_size=11))
    separators = draw(
        st.lists(st.sampled_from(["", " ", "-", ".", "(", ")", "/"]), min_size=len(digits))
    )
    prefix = draw(st.sampled_from(["", "+1", "+1 ", "+", "1 ", "+44 ", "011 ", "tel: "]))
    return prefix + "".join(s + d for s, d in zip(separators, digits, strict=False))


@settings(max_examples=500, deadline=None)
@given(text=written(), region=st.sampled_from(["US", "CA", "GB", "DE"]))
def test_a_plainly_written_north_american_number_is_read_as_the_parser_reads_it(
    text: str, region: str
) -> None:
    assert _e164(text, region) == _parsed(text, region)


@pytest.mark.parametrize(
    "text", ["(415) 555-0100", "415.555.0100", "+1 415 555 0100", "+1(800)555-0199"]
)
def test_common_north_american_numbers_take_the_quick_path(text: str) -> None:
    assert _north_american(text, "US") == _parsed(text, "US")
    assert _north_american(text, "US") is not None
