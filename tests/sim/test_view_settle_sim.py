"""Peers started together hold their first exchange until their views are whole.

Membership rounds are driven by hand on the in-memory network with a manual
clock, in a seeded order: the first moment each peer may exchange is read off
``Node.view_whole``, the gossip loop's own check.
"""

from __future__ import annotations

import random

from gossip.clock import ManualClock
from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork

TICK_S = 0.025  # the membership loop's shortest pause at the LAN interval
DEAD_SEED = "127.0.0.1:5999"  # nobody serves it: its push-pulls fail at once


def started_together(n: int, network: InMemoryNetwork, clock: ManualClock) -> list[Node]:
    addresses = [f"127.0.0.1:{5001 + i}" for i in range(n)]
    nodes = []
    for i, address in enumerate(addresses):
        seeds = (*(a for a in addresses if a != address), DEAD_SEED)
        config = NodeConfig(id=f"p{i}", listen=address, peers=seeds, shard=(i, n))
        data = load_shard(config.dataset, shard=config.shard, seed=config.seed)
        node = Node(config, transport=network.transport(), clock=clock, data=data)
        node.serve()
        nodes.append(node)
    return nodes


def test_the_first_exchange_waits_until_every_peer_knows_every_other() -> None:
    clock, order = ManualClock(), random.Random(3)
    nodes = started_together(4, InMemoryNetwork(seed=0), clock)
    assert not any(node.view_whole() for node in nodes)  # seeds not dialled yet: pending
    settled_at: dict[str, float] = {}
    while len(settled_at) < len(nodes) and clock.now() < 5.0:
        clock.advance(TICK_S)
        for node in order.sample(nodes, len(nodes)):
            assert node.membership is not None
            node.membership.round()
        for node in nodes:
            if node.id not in settled_at and node.view_whole():
                settled_at[node.id] = clock.now()
                assert node.membership is not None
                partners = {m.id for m in node.membership.reachable()}
                assert partners == {m.id for m in nodes} - {node.id}, node.id
    assert len(settled_at) == len(nodes)
    # by the quiet rule (two heartbeat rounds without change), well before the limit
    assert all(node.view_settle.waited < node.view_settle.limit for node in nodes)
    assert max(settled_at.values()) <= 1.5


def test_a_peer_without_seeds_is_not_held() -> None:
    clock = ManualClock()
    config = NodeConfig(id="alone", listen="127.0.0.1:5001")
    data = load_shard(config.dataset, shard=config.shard, seed=config.seed)
    node = Node(config, transport=InMemoryNetwork(seed=0).transport(), clock=clock, data=data)
    node.serve()
    assert node.view_whole()  # nobody to wait for; training never waits on it anyway
