"""Settling a delivery routing made: its worker gave up on it (a re-offer), or its partner
returned it.

The decide stage remembers each delivery it makes (:class:`~processor.rules.ledger.Sold`), and
settles each at most once: the mark travels in the same transaction as the records it causes, so
a re-offer or a return read twice (a batch aborted and read again, or a record written twice)
finds it settled the second time. Settling gives back what the delivery counted against its caps:
a delivery not sold, or credited, must not keep its partner from the next lead. A return's window
runs from the lead's time, as routing's clock does, so that replay and ``dry-run`` judge alike.

The decide topic can be written by anyone: a re-offer is checked against what the decide stage
remembers before it changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from processor.rules.decide import Reoffer
from processor.rules.document import DEFAULT_POLICY, seconds
from processor.rules.ledger import Ledger, Settled, Sold
from processor.rules.snapshot import Snapshot

MAX_REASON = 500
"""The most characters of a worker's or partner's reason kept: it goes into records and traces."""
MAX_BY = 200
"""The most characters kept of who made a return."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A re-offer that cannot be the decide stage's: ``reason`` in one word, for the dead-letter
    headers and the metrics, ``text`` for people."""

    reason: str
    text: str


def bounded(text: str, limit: int = MAX_REASON) -> str:
    """``text`` cut to ``limit`` characters, saying so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_reoffer(ledger: Ledger, delivery_id: str, partner: str, lead_id: str) -> Sold | Refused:
    """The open delivery a re-offer names, or why the re-offer is refused (it changes nothing)."""
    sold = ledger.sold(delivery_id)
    if sold is None:
        return Refused("reoffer-unknown", "no delivery of that id is remembered")
    if sold.settled != "open":
        return Refused("reoffer-settled", f"the delivery was {sold.settled} before")
    if sold.partner != partner or sold.lead_id != lead_id:
        return Refused("reoffer-mismatch", "the delivery's partner or lead is another")
    return sold


def settle(ledger: Ledger, sold: Sold, settled: Settled) -> None:
    """Marks the delivery settled and gives its cap units back: it was not sold, or is credited."""
    ledger.give_back(sold.counted)
    ledger.sell(replace(sold, settled=settled))


def judge_return(snapshot: Snapshot, ledger: Ledger, delivery_id: str, at_ms: int) -> Sold | str:
    """The open delivery a return made at ``at_ms`` credits, or why the return is refused.

    The window is the partner's in the rules in force; a partner those rules no longer have
    returns within the default window.
    """
    sold = ledger.sold(delivery_id)
    if sold is None:
        return "no such delivery"
    if sold.settled == "returned":
        return "returned before"
    if sold.settled == "reoffered":
        return "was re-offered: never sold"
    policy = DEFAULT_POLICY
    if sold.partner in snapshot.partner_ids():
        policy = snapshot.partner(sold.partner).policy
    window = policy.returns.window
    if at_ms > sold.at_ms + seconds(window) * 1000:
        return f"after the {window} window"
    return sold


def reoffer_for(sold: Sold, why: str) -> Reoffer:
    """The re-offer replacing ``sold``: its partners left out, its attempt counted on."""
    return Reoffer(sold.delivery_id, why, sold.offered, sold.attempt + 1)


def offers_returned(snapshot: Snapshot, sold: Sold) -> bool:
    """Whether a credited return of ``sold`` offers the lead to the next candidate, as the
    partner's policy in force says (a delivery made before the policy said so kept no lead, and
    cannot be offered again)."""
    return (
        sold.partner in snapshot.partner_ids()
        and snapshot.partner(sold.partner).policy.returns.reoffer
    )
