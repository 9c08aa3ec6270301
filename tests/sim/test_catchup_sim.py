"""Catch-up on the in-memory network: the same Catchup stream as gRPC, without sockets."""

from __future__ import annotations

import numpy as np

from gossip.clock import ManualClock
from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.errors import PeerUnavailable
from gossip.node import Node
from gossip.transport.fetch import Fetched, FetchRequest
from gossip.transport.memory import InMemoryNetwork, InMemoryTransport


def peer(network: InMemoryNetwork, index: int, *seeds: str) -> Node:
    # seeds are resolved as DNS names: in-memory addresses that resolve, no socket opened
    listen = f"127.0.0.1:{5001 + index}"
    config = NodeConfig(id=f"p{index}", listen=listen, peers=seeds, shard=(index % 2, 2))
    data = load_shard(config.dataset, shard=config.shard, seed=config.seed)
    node = Node(config, transport=network.transport(), data=data)
    node.serve()
    return node


def joined(newcomer: Node, *, steps_ahead: int, network: InMemoryNetwork) -> Node:
    """A donor ``steps_ahead`` steps in, and ``newcomer`` knowing it alive through its seed."""
    donor = next(iter(network.handlers.values()))
    assert isinstance(donor, Node)
    for _ in range(steps_ahead):
        donor.trainer.step()
    newcomer.membership.round()  # a push-pull with the seed: the donor is alive in its view
    return donor


def test_a_new_peer_adopts_the_model_of_a_donor_ahead(network: InMemoryNetwork) -> None:
    donor = peer(network, 0)
    newcomer = peer(network, 1, donor.address)
    joined(newcomer, steps_ahead=5, network=network)
    assert not np.array_equal(newcomer.replica.params, donor.replica.params)
    newcomer.catch_up()
    assert (newcomer.catchup.state, newcomer.catchup.donor, newcomer.catchup.step) == (
        "done",
        "p0",
        5,
    )
    assert np.array_equal(newcomer.replica.params, donor.replica.params)
    assert donor.recovery.fetches_served == 1
    assert newcomer.status().recovery.catchup_state == "done"


def test_a_donor_not_ahead_leaves_the_model_as_it_was(network: InMemoryNetwork) -> None:
    donor = peer(network, 0)
    newcomer = peer(network, 1, donor.address)
    joined(newcomer, steps_ahead=0, network=network)
    before = newcomer.replica.params.copy()
    newcomer.catch_up()
    assert newcomer.catchup.state == "none" and newcomer.catchup.tried == ["p0"]
    assert np.array_equal(newcomer.replica.params, before)
    assert donor.recovery.fetches_served == 0


def test_a_donor_catching_up_itself_is_skipped_as_busy(network: InMemoryNetwork) -> None:
    donor = peer(network, 0)
    newcomer = peer(network, 1, donor.address)
    joined(newcomer, steps_ahead=3, network=network)
    donor._ready.clear()  # as start() leaves it until its own catch-up is over
    newcomer.catch_up()
    assert newcomer.catchup.tried == ["p0"] and newcomer.catchup.state == "none"
    assert not newcomer.catchup.errors  # busy is not a failure


class Blackholed(InMemoryTransport):
    """A transport to which some addresses lead nowhere: a fetch waits its whole deadline."""

    def __init__(self, network: InMemoryNetwork, clock: ManualClock) -> None:
        super().__init__(network, 1 << 31)
        self.clock = clock
        self.nowhere: set[str] = set()
        self.timeouts: list[float] = []

    def fetch(self, address: str, request: FetchRequest, timeout: float) -> Fetched:
        if address in self.nowhere:
            self.timeouts.append(timeout)
            self.clock.advance(timeout)
            raise PeerUnavailable(f"{address}: deadline exceeded (blackholed)")
        return super().fetch(address, request, timeout)


def behind_a_site(network: InMemoryNetwork, *, seed_ahead: int) -> tuple[Node, Blackholed]:
    """A newcomer whose seed p0 answers it and four members (p2-p5) it knows only by
    hearsay, at addresses that lead nowhere from it (another site); every peer 7 steps in
    but the seed, which is ``seed_ahead`` steps in."""
    seed = peer(network, 0)
    for _ in range(seed_ahead):
        seed.trainer.step()
    far = [peer(network, i, seed.address) for i in range(2, 6)]
    for other in far:
        for _ in range(7):
            other.trainer.step()
        other.membership.round()  # the seed hears of it
    clock = ManualClock()
    transport = Blackholed(network, clock)
    config = NodeConfig(id="p1", listen="127.0.0.1:5002", peers=(seed.address,), shard=(1, 2))
    data = load_shard(config.dataset, shard=config.shard, seed=config.seed)
    newcomer = Node(config, transport=transport, data=data, clock=clock)
    newcomer.serve()
    transport.nowhere = {other.address for other in far}
    network.partition({newcomer.address}, transport.nowhere)
    newcomer.membership.round()  # the seed answers and tells of p2-p5
    answered, hearsay = newcomer.membership.by_reach()
    assert [m.id for m in answered] == ["p0"]
    assert sorted(m.id for m in hearsay) == ["p2", "p3", "p4", "p5"]
    return newcomer, transport


def test_a_donor_that_answered_is_asked_before_hearsay_ones(network: InMemoryNetwork) -> None:
    newcomer, transport = behind_a_site(network, seed_ahead=5)
    newcomer.catch_up()
    assert (newcomer.catchup.state, newcomer.catchup.donor, newcomer.catchup.tried) == (
        "done",
        "p0",
        ["p0"],
    )
    assert transport.timeouts == [] and newcomer.catchup.seconds == 0.0


def test_unreachable_donors_cost_one_exchange_timeout_in_all(network: InMemoryNetwork) -> None:
    """The seed is not ahead, the others lead nowhere: one deadline, not one per donor."""
    newcomer, transport = behind_a_site(network, seed_ahead=0)
    newcomer.catch_up()
    timeout = newcomer.config.exchange_timeout
    assert newcomer.catchup.tried[0] == "p0" and newcomer.catchup.state == "failed"
    assert transport.timeouts == [timeout]  # the first blackholed donor spends the budget
    assert newcomer.catchup.seconds == timeout
    assert newcomer.trainer.steps == 0 and newcomer._ready.is_set()
