"""Membership between real gossip-node processes: one seed each, crash, restart, leave."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from .conftest import Processes, free_port, wait_for

pytestmark = pytest.mark.slow

ARGS = ["--step-rate", "20", "--gossip-interval", "0.2", "--eval-interval", "0.5"]


def states(procs: Processes, observer: str) -> dict[str, dict[str, Any]]:
    view = procs.status(observer)
    return {m["id"]: m for m in view["members"]} if view else {}


def test_membership_lifecycle_between_processes(procs: Processes) -> None:
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(4)]
    port0 = addresses[0].rsplit(":", 1)[1]
    # n0 is everyone's way in, named by DNS for two of them; n0 itself has a seed that
    # does not resolve, which must be logged and nothing more
    seeds = ["nosuchhost.invalid:1", f"localhost:{port0}", addresses[0], f"localhost:{port0}"]
    children = {}
    for i, address in enumerate(addresses):
        children[i] = procs.node(f"n{i}", "--listen", address, "--peers", seeds[i], *ARGS)

    def full() -> bool:
        return all(
            sum(m["state"] == "alive" for m in states(procs, a).values()) == 3 for a in addresses
        )

    wait_for(full, 60, "every node to know the three others from one seed")
    assert "does not resolve" in procs.log("n0")

    children[3].send_signal(signal.SIGKILL)
    children[3].wait()
    survivors = addresses[:3]

    def dead_everywhere() -> bool:
        return all(states(procs, a).get("n3", {}).get("state") == "dead" for a in survivors)

    wait_for(dead_everywhere, 20, "every survivor to mark the killed node dead")
    old_generation = states(procs, addresses[0])["n3"]["generation"]

    procs.node("n3", "--listen", addresses[3], "--peers", addresses[1], *ARGS)

    def rejoined() -> bool:
        views = [states(procs, a).get("n3", {}) for a in survivors]
        return all(
            v.get("state") == "alive" and v.get("generation", 0) > old_generation for v in views
        )

    wait_for(rejoined, 60, "the restarted node to rejoin with a new generation")

    children[2].send_signal(signal.SIGTERM)
    assert children[2].wait(timeout=30) == 0
    others = [addresses[0], addresses[1], addresses[3]]

    def left_everywhere() -> bool:
        return all(states(procs, a).get("n2", {}).get("state") == "left" for a in others)

    wait_for(left_everywhere, 10, "everyone to see the stopped node as left")
    for name in ("n0", "n1", "n3"):
        assert "member n2 (" not in procs.log(name) or ") dead" not in "".join(
            line for line in procs.log(name).splitlines() if "member n2 (" in line
        )
