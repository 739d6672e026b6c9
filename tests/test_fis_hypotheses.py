"""Every FIS entry has a hypothesis `run` can judge, and says what the lab's single Redis does to it."""

from __future__ import annotations

import pytest

from chaoslab.experiments import CATALOG
from chaoslab.experiments.fis import FIS_CATALOG
from chaoslab.fis_hypotheses import FIS_HYPOTHESES
from chaoslab.hypotheses import HYPOTHESES


def test_every_fis_entry_has_a_hypothesis_and_every_chaos_mesh_entry_keeps_its_own() -> None:
    assert set(FIS_HYPOTHESES) == set(FIS_CATALOG)
    assert set(HYPOTHESES) == set(CATALOG) and not set(HYPOTHESES) & set(FIS_HYPOTHESES)


@pytest.mark.parametrize("name", FIS_CATALOG)
def test_each_says_what_the_single_redis_does(name: str) -> None:
    hypothesis = FIS_HYPOTHESES[name]
    assert "Redis" in hypothesis.title and "503" in hypothesis.title
    assert hypothesis.describe() and all(hypothesis.describe())
