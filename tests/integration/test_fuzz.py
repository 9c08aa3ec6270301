"""A short run of bench/fuzz.py: hostile messages to every service of a real node."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fuzz import run


@pytest.mark.slow
def test_fuzz_cannot_crash_or_change_the_model() -> None:
    result = run(150, seed=1, quiet=True)
    assert result["alive"] and result["answers_status"]
    assert result["model_unchanged"], result
    assert result["exchanges_after"]["ok"] == 0
    for service in result["services"].values():
        assert sum(service["outcomes"].values()) == 150
    rss = result["rss_kib"]
    assert rss["max"] < rss["start"] + 200_000  # bounded: no per-message growth
