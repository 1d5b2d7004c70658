"""Delivery ids: one per lead and partner, the same on every re-processing.

Routing remembers each delivery under its id (so that a re-offer or a return can settle it), the
decide stage names each ``LeadDelivery`` by it, and a worker uses it as its idempotency key: all
of them make it here.
"""

from __future__ import annotations

import uuid

DELIVERY_NAMESPACE = uuid.UUID("6f1d3c2e-6a44-4d8e-9a0f-1c2b3d4e5f60")
"""Namespace of delivery ids: uuid5 of lead id and partner id, the same on every re-processing."""


def delivery_id(lead_id: str, partner: str) -> str:
    """The same id whenever this lead is delivered to this partner: the workers' idempotency key."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{lead_id}\x1f{partner}"))
