"""Catch-up on the in-memory network: the same Catchup stream as gRPC, without sockets."""

from __future__ import annotations

import numpy as np

from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork


def peer(network: InMemoryNetwork, index: int, *seeds: str) -> Node:
    # seeds are resolved as DNS names: in-memory addresses that resolve, no socket opened
    listen = f"127.0.0.1:{5001 + index}"
    config = NodeConfig(id=f"p{index}", listen=listen, peers=seeds, shard=(index, 2))
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
