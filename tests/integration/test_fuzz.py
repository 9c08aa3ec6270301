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


def test_the_soaks_attacker_runs_niced_and_its_calls_land() -> None:
    """The soak's niced windows stand for a remote attacker: the child must really run at 19."""
    from bench.fuzz import run_attacker

    from .inprocess import running

    with running(id="a", max_steps=0) as a:
        before = a.status()
        fingerprint = before.model.fingerprint
        seen: list[int] = []
        result = run_attacker(
            a.address, fingerprint, 0, 12, 2, silent=2, niceness=19, on_start=seen.append
        )
        after = a.status()
    assert result["nice"] == 19 and result["nice_seen"] == 19  # from inside and from /proc
    assert len(seen) == 1 and result["ids"] == 12 and result["oversized"] == 2
    outcomes = result["outcomes"]
    assert sum(v for k, v in outcomes.items() if k.startswith("exchange")) == 12
    assert sum(v for k, v in outcomes.items() if k.startswith("push_pull")) == 12
    assert outcomes.get("exchange OK", 0) >= 1  # some offers reached the node and were refused
    assert after.exchanges.refused > before.exchanges.refused
    refusals = after.protection.refusals
    assert refusals.get("fingerprint_mismatch", 0) + refusals.get("quarantined", 0) >= 1
