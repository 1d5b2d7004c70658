"""A delivery given up on, handed back to the decide stage to offer the lead to the next candidate.

The worker writes a ``LeadMatched`` record with ``reoffer`` set to the decide topic, in the
transaction that records the ``reoffered`` receipt and moves past the delivery: the decide stage
decides the lead again by the rules in force, without the partner given up on. The record carries
the lead as it was delivered; the match stage's findings (notes, locations, matches) are left
empty, since the decide stage matches a re-offered lead itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.kafka.records import InputRecord, OutputRecord
from processor.wire import Codec
from processor.wire.codec import Encoder


class Handback:
    """Writes re-offer records for the decide topic."""

    def __init__(self, codec: Codec, decide_topic: str) -> None:
        self._codec = codec
        self._matched: Encoder = codec.encoder("LeadMatched", decide_topic)

    def record(
        self, message: InputRecord, delivery: Mapping[str, Any], attempts: int, reason: str
    ) -> OutputRecord:
        """The re-offer of ``delivery``, read from ``message`` after ``attempts`` attempts."""
        lead_id = delivery["lead_id"].encode()
        matched = {
            "lead": self._codec.lead_body(delivery["lead"]),
            "geo": delivery["geo"],
            "notes": [],
            "locations": [],
            "source": {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
            },
            "key": lead_id,
            "headers": [],
            "rules_version": None,
            "matches": None,
            "reoffer": {
                "delivery_id": delivery["delivery_id"],
                "partner": delivery["partner"],
                "attempts": attempts,
                "reason": reason,
            },
            "returned": None,
        }
        (value,) = self._matched.encode(matched)
        return OutputRecord(self._matched.topics[0], lead_id, value)
