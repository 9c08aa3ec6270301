"""Many membership state machines on the simulated network: seeded faults, manual clock.

Each test runs the node's own state machine (gossip.membership.core) under
gossip.membership.simulation: delays, drops, duplicates, partitions, pauses,
crashes, leaves, restarts and clock offsets between hosts. Times are simulated.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gossip.membership import MembershipConfig, State
from gossip.membership.simulation import Simulation

LIVE = (State.ALIVE,)


def formed(n: int, seed: int = 0, **knobs: object) -> Simulation:
    sim = Simulation(n, seed=seed, **knobs)  # type: ignore[arg-type]
    sim.run_for(1.0)
    assert sim.run_until_true(sim.full_view, 20) < 20, "the cluster never formed"
    sim.run_for(3.0)  # let every detector collect some samples
    return sim


def test_two_hundred_members_from_one_seed_detect_a_crash() -> None:
    sim = formed(200, seed=1, wire=False)
    assert sim.count("suspect") == 0 and sim.count("dead") == 0
    sim.crash("m77")
    took = sim.run_until_true(lambda: sim.everyone_sees("m77", [State.DEAD]), 10)
    assert took < 3.0
    assert sim.count("dead") == 199  # each survivor once, nobody else
    pick_rngs = [n for n in sim.running()][:20]
    for node in pick_rngs:
        assert all(node.core.pick(node.rng).id != "m77" for _ in range(50))  # type: ignore[union-attr]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crash_is_dead_everywhere_in_about_two_seconds(seed: int) -> None:
    sim = formed(32, seed=seed)
    sim.crash("m5")
    took = sim.run_until_true(lambda: sim.everyone_sees("m5", [State.DEAD]), 10, 0.01)
    assert took < 2.6
    assert sim.count("dead", since=0) == 31


@pytest.mark.parametrize("seed", range(3))
def test_a_peer_paused_for_1_5_s_is_only_suspected(seed: int) -> None:
    sim = formed(16, seed=seed, delay=(0.001, 0.02))
    for _ in range(4):
        sim.pause("m3", 1.5)
        sim.run_for(20.0)
    assert sim.count("dead") == 0
    assert sim.count("suspect", "m3") > 0  # counted: suspicions do happen
    assert sim.full_view()


def test_a_join_reaches_everyone_within_2_s_under_10_percent_loss() -> None:
    sim = formed(32, seed=4, drop=0.10, duplicate=0.05, delay=(0.001, 0.03))
    assert sim.count("dead") == 0
    sim.start("newcomer", seeds=["m9:1"])
    took = sim.run_until_true(lambda: sim.everyone_sees("newcomer", LIVE), 10, 0.01)
    assert took < 2.0


def test_a_member_that_crashes_before_anyone_called_it_is_soon_dead() -> None:
    """It called the others as it joined, but none of them ever got an answer from it:
    their failed calls alone say nothing (a NAT-ed peer's fail too), its silence towards
    them does, within seconds in a small cluster, not after the 60 s stranger timeout."""
    sim = formed(4, seed=11)
    sim.start("newcomer", seeds=["m0:1"])
    sim.run_until_true(lambda: sim.everyone_sees("newcomer", LIVE), 5, 0.001)
    assert not all(n.core.answered("newcomer") for n in sim.running() if n.id != "newcomer")
    sim.crash("newcomer")
    took = sim.run_until_true(lambda: sim.everyone_sees("newcomer", [State.DEAD]), 60, 0.05)
    assert took < 12.0


def test_leave_is_seen_everywhere_and_never_becomes_dead() -> None:
    sim = formed(16, seed=5, drop=0.05)
    sim.leave("m4")
    took = sim.run_until_true(lambda: sim.everyone_sees("m4", [State.LEFT]), 5, 0.01)
    assert took < 1.0
    sim.run_for(30.0)
    assert sim.count("dead", "m4") == 0 and sim.everyone_sees("m4", [State.LEFT])


def test_a_restart_rejoins_with_a_new_generation() -> None:
    sim = formed(16, seed=6)
    old = sim.nodes["m2"].core.me.generation
    sim.crash("m2")
    sim.run_until_true(lambda: sim.everyone_sees("m2", [State.DEAD]), 10)
    sim.start("m2", seeds=["m0:1"])
    assert sim.run_until_true(lambda: sim.everyone_sees("m2", LIVE), 5) < 2.0
    assert sim.nodes["m2"].core.me.generation > old
    assert sim.count("rejoined", "m2") == 15


def test_a_partition_heals_by_itself_without_stale_dead_entries() -> None:
    sim = formed(16, seed=7)
    left = [f"m{i}" for i in range(8)]
    right = [f"m{i}" for i in range(8, 16)]
    sim.partition(left, right)
    sim.run_for(30.0)
    assert sim.everyone_sees("m12", [State.DEAD], observers=left)
    assert sim.everyone_sees("m3", [State.DEAD], observers=right)
    sim.heal()
    took = sim.run_until_true(sim.full_view, 10)
    assert took < 5.0


def test_an_isolated_node_keeps_trying_its_seeds() -> None:
    sim = Simulation(1, seed=8, seeds=["m1:1"])
    sim.run_for(10.0)  # m0 alone: its seed is not up, it keeps dialling it every round
    sim.start("m1", seeds=[])  # m1 knows nobody; m0's retries find it
    assert sim.run_until_true(sim.full_view, 2) < 1.0


def test_wan_profile_tolerates_long_pauses() -> None:
    sim = formed(12, seed=9, config=MembershipConfig.wan(), delay=(0.02, 0.2))
    sim.pause("m2", 4.0)
    sim.run_for(30.0)
    assert sim.count("dead") == 0
    sim.crash("m3")
    took = sim.run_until_true(lambda: sim.everyone_sees("m3", [State.DEAD]), 60)
    assert took < 15.0


def test_two_sites_joined_by_gateways_see_each_other_alive_and_detect_a_crash() -> None:
    """Members that can never reach each other (another site) are vouched for, not suspected."""
    config = replace(MembershipConfig.lan(), stranger_timeout=30.0)
    sim = Simulation(12, config, seed=10, seeds=["m0:1", "m6:1"])
    site_a, site_b = [f"m{i}" for i in range(1, 6)], [f"m{i}" for i in range(7, 12)]
    sim.partition(site_a, site_b)  # m0 and m6, in no group, reach everyone
    sim.run_for(1.0)
    assert sim.run_until_true(sim.full_view, 30) < 30
    sim.run_for(4 * config.stranger_timeout)
    assert sim.count("suspect") == 0 and sim.count("dead") == 0 and sim.full_view()
    assert not sim.nodes["m1"].core.answered("m9")  # never reached: judged by the others
    sim.crash("m9")
    took = sim.run_until_true(lambda: sim.everyone_sees("m9", [State.DEAD]), 20, 0.05)
    assert took < 5.0
