"""jsontext.dumps: compact JSON that never fails a lead over a number."""

from __future__ import annotations

import json
import math

from processor.jsontext import dumps


def test_compact_utf8_text() -> None:
    assert dumps({"a": [1, 2.5, None, True], "b": "Zoë"}) == '{"a":[1,2.5,null,true],"b":"Zoë"}'


def test_nan_and_infinities_are_null() -> None:
    assert json.loads(dumps({"x": math.nan, "y": [math.inf, -math.inf]})) == {
        "x": None,
        "y": [None, None],
    }


def test_an_integer_beyond_64_bits_is_still_written() -> None:
    huge = 10**30
    assert json.loads(dumps({"value": huge, "nan": math.nan, "t": (1, 2)})) == {
        "value": huge,
        "nan": None,
        "t": [1, 2],
    }
