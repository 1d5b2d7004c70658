"""The ``stages`` fixture: both stages of the processor, made on demand (see ``stagekit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stagekit import RULES, Stages


@pytest.fixture
def stages(tmp_path: Path) -> Iterator[Any]:
    made: list[Stages] = []

    def make(rules: str = RULES, **settings: Any) -> Stages:
        made.append(Stages(tmp_path / str(len(made)), rules, **settings))
        return made[-1]

    yield make
    for each in made:
        each.state.close()
