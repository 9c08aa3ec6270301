"""Real processes: the schedule keeps pace with exchanges, and nobody's death or pause stalls it."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import Processes, free_port, wait_for

pytestmark = pytest.mark.slow

DEADLINE_S = 2.0
ARGS = ["--heartbeat-interval", "0.2", "--eval-interval", "0.5",
        "--exchange-timeout", str(DEADLINE_S)]  # fmt: skip


def step_of(procs: Processes, address: str) -> int | None:
    status = procs.status(address)
    return None if status is None else int(status["step"])


def longest_stall(procs: Processes, address: str, seconds: float) -> float:
    """The longest time ``address`` took no training step, sampled every 0.1 s."""
    last_step, last_change, longest = -1, time.monotonic(), 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        step = step_of(procs, address)
        now = time.monotonic()
        if step is not None and step != last_step:
            last_step, last_change = step, now
        longest = max(longest, now - last_change)
        time.sleep(0.1)
    return longest


def test_peers_keep_pace_and_a_paused_neighbour_stalls_no_one(procs: Processes) -> None:
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    for i, address in enumerate(addresses):
        procs.node(f"s{i}", "--listen", address, "--peers", addresses[1 - i],
                   "--shard", f"{i}/2", *ARGS)  # fmt: skip

    def paced(completed: int, steps: int) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            status = procs.status(addresses[0])
            schedule = status["schedule"] if status else None
            done = schedule and schedule["completed"] >= completed and status["step"] >= steps  # type: ignore[index]
            return status if done else None

        return check

    def counts(status: dict[str, Any]) -> tuple[float, int, int]:
        """Steps the schedule saw, exchanges completed, and those that ended otherwise."""
        schedule, exchanges = status["schedule"], status["exchanges"]
        steps = schedule["steps_per_exchange"] * schedule["completed"]
        return steps, schedule["completed"], exchanges["refused"] + exchanges["failed"]

    # from the first 50 exchanges on: before the view has the neighbour a peer trains
    # alone, unbounded (more steps when a loaded machine slows the start)
    first = wait_for(paced(50, 100), 60, "50 completed exchanges and 100 steps")
    assert first["schedule"]["local_steps"] == 2  # the default
    steps0, completed0, misses0 = counts(first)
    then = wait_for(paced(completed0 + 50, 0), 60, "50 more completed exchanges")
    steps1, completed1, misses1 = counts(then)
    # at most 2 steps past the last completed exchange, plus one per exchange that ended
    # otherwise (refused, failed): that frees a step
    bound = 2 * (completed1 - completed0 + 1) + (misses1 - misses0) + 0.5
    assert steps1 - steps0 <= bound

    procs.children[1].send_signal(signal.SIGSTOP)  # mid-exchange, most likely: it hangs there
    try:
        stall = longest_stall(procs, addresses[0], 3 * DEADLINE_S)
    finally:
        procs.children[1].send_signal(signal.SIGCONT)
    assert stall <= DEADLINE_S + 1.0, f"training stalled {stall:.1f}s with a paused neighbour"

    procs.children[1].send_signal(signal.SIGKILL)
    procs.children[1].wait(timeout=10)
    before = wait_for(lambda: step_of(procs, addresses[0]), 10, "a status")
    assert longest_stall(procs, addresses[0], 2 * DEADLINE_S) <= DEADLINE_S + 1.0
    after = wait_for(lambda: step_of(procs, addresses[0]), 10, "a status")
    assert after > before + 50  # alone, it trains on
    status = procs.status(addresses[0])
    assert status is not None and all(m["state"] != "alive" for m in status["members"])


def test_a_slower_peer_is_waited_for_and_a_straggler_is_not(procs: Processes) -> None:
    """Pacing (gossip/pace.py): 40 steps/s peers stay near a 25 steps/s one (it keeps up:
    more than half their speed); a 6 steps/s straggler is left behind."""
    rates = {"fast0": 40, "fast1": 40, "slow": 25, "straggler": 6}
    addresses = {name: f"127.0.0.1:{free_port()}" for name in rates}
    seeds = list(addresses.values())[:2]
    for i, (name, rate) in enumerate(rates.items()):
        peers = ",".join(s for s in seeds if s != addresses[name])
        procs.node(name, "--listen", addresses[name], "--peers", peers, "--shard",
                   f"{i}/{len(rates)}", "--step-rate", str(rate), *ARGS)  # fmt: skip

    def steps() -> dict[str, int] | None:
        found = {name: step_of(procs, address) for name, address in addresses.items()}
        return None if None in found.values() else found  # type: ignore[return-value]

    wait_for(lambda: (s := steps()) and s["slow"] >= 150, 90, "150 steps on the slower peer")
    widest = 0
    for _ in range(20):  # a status each is not simultaneous: allow a few steps of sampling
        now = wait_for(steps, 10, "every peer's step")
        widest = max(widest, now["fast0"] - now["slow"], now["fast1"] - now["slow"])
        time.sleep(0.1)
    # unpaced, 40 against 25 steps/s would be 90 steps apart by now, and growing
    assert widest <= 8 + 20, f"the fast peers ran {widest} steps ahead of the slower one"
    assert now["fast0"] > 2 * now["straggler"], f"the straggler held the others back: {now}"
