"""Membership cost and timing at a few hundred simulated members (issue 17's figures, smaller).

The node's state machine in gossip.membership.simulation with 1% of messages lost:
bytes per member stay small and flat, a crash is dead everywhere and a join is
known to all within the bounds bench/membership_scale.py measures at 1,000.
Times are simulated; bytes are the wire encoding of every message.
"""

from __future__ import annotations

import pytest

from gossip.membership import State
from gossip.membership.simulation import Simulation


def cost_per_member(sim: Simulation, seconds: float) -> float:
    """Bytes sent per member per simulated second over the next ``seconds``."""
    before = sim.stats.bytes
    sim.run_for(seconds)
    return (sim.stats.bytes - before) / len(sim.running()) / seconds


@pytest.mark.slow
@pytest.mark.timeout(1200)  # about 20 s of CPU; a loaded 2-core machine stretches it
def test_three_hundred_members_cost_little_and_detect_fast_under_loss() -> None:
    sim = Simulation(300, seed=3, drop=0.01, wire=False, start_spread=1.0)
    sim.run_for(1.0)
    assert sim.run_until_true(sim.full_view, 40, 1.0) < 40, "the cluster never formed"
    sim.run_for(12.0)  # past the early anti-entropy syncs
    small = Simulation(40, seed=3, drop=0.01, wire=False)
    small.run_for(15.0)
    assert small.full_view()
    quiet, quiet_small = cost_per_member(sim, 10.0), cost_per_member(small, 10.0)
    assert quiet < 4_000  # bytes/s; the full digest of every member each round was ~300 kB/s
    assert quiet < 2.5 * quiet_small  # flat-ish: 7.5 times the members, not 7.5 times the cost

    for victim in ("m17", "m230"):
        sim.crash(victim)
        took = sim.run_until_true(lambda v=victim: sim.everyone_sees(v, [State.DEAD]), 10, 0.05)  # type: ignore[misc]
        assert took < 3.5
    sim.start("newcomer", seeds=["m99:1"])
    took = sim.run_until_true(lambda: sim.everyone_sees("newcomer", [State.ALIVE]), 10, 0.05)
    assert took < 2.0
    sim.run_for(5.0)
    dead = {e.member for e in sim.events if e.kind == "dead"}
    assert dead == {"m17", "m230"}  # no false deaths
