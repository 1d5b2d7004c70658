"""What every format shares: the routing facts it renders beside the lead, and its description."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from processor.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Facts:
    """What routing decided about one delivery: who takes the lead, at what price, by which rules.

    The fields are named as in the ``LeadDelivery`` record, so :meth:`of` reads them from one.
    """

    delivery_id: str
    partner: str
    partner_name: str | None
    profile: str | None
    assignment: str | None
    tier: str
    price: float
    currency: str
    rules_version: str
    routed_at: datetime
    distance_km: float | None = None

    @property
    def vendor(self) -> str:
        """The partner as people call it: its display name, else its id."""
        return self.partner_name or self.partner

    @classmethod
    def of(cls, delivery: Mapping[str, Any]) -> Facts:
        """The facts of a ``LeadDelivery`` record, as a delivery worker reads one."""
        return cls(
            delivery_id=delivery["delivery_id"],
            partner=delivery["partner"],
            partner_name=delivery.get("partner_name"),
            profile=delivery.get("profile"),
            assignment=delivery.get("assignment"),
            tier=delivery["tier"],
            price=delivery["price"],
            currency=delivery["currency"],
            rules_version=delivery["rules_version"],
            routed_at=delivery["routed_at"],
            distance_km=delivery.get("distance_km"),
        )


Renderer = Callable[[Mapping[str, Any], Facts], str]
"""Renders a lead (a ``LeadSubmitted`` record) and its delivery's facts as payload text."""


@dataclass(frozen=True, slots=True)
class Format:
    """One payload format: how to render it, what to call it on the wire and in a file name."""

    name: str
    content_type: str
    extension: str
    render: Renderer


class Rendered(NamedTuple):
    """A rendered payload: text (sent as UTF-8 bytes) and its MIME content type."""

    payload: str
    content_type: str


class UnknownFormat(InvalidInput):
    """A format name that is not one of the payload formats."""
