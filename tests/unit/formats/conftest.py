"""Fixtures of the format tests: each test its own copy of a lead."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from formatkit import FACTS, FULL, MINIMAL

from processor.formats import Facts


@pytest.fixture
def full() -> dict[str, Any]:
    """A lead with every optional part."""
    return copy.deepcopy(FULL)


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A lead with only the required fields."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture
def facts() -> Facts:
    return FACTS
