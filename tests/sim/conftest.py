"""Peers on the in-memory network, driven by hand in a seeded order: no threads, no sleeps."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork


def make_peers(n: int, network: InMemoryNetwork, **overrides: object) -> list[Node]:
    """``n`` serving nodes on ``network``, shard i of n each (loops not started)."""
    peers = []
    for i in range(n):
        fields: dict[str, object] = {
            "id": f"p{i}",
            "listen": f"sim{i}:1",
            "shard": (i, n),
            "compression": "none",  # these tests measure the plain rule; codecs: test_compression
        }
        config = NodeConfig(**{**fields, **overrides})  # type: ignore[arg-type]
        data = load_shard(
            config.dataset, partition=config.partition, shard=config.shard, seed=config.seed
        )
        node = Node(config, transport=network.transport(), data=data)
        node.serve()
        peers.append(node)
    return peers


def consensus_distance(peers: list[Node]) -> float:
    """Sum over peers of the squared distance to the mean model (float64)."""
    stacked = np.stack([p.replica.params.astype(np.float64) for p in peers])
    return float(((stacked - stacked.mean(axis=0)) ** 2).sum())


@pytest.fixture
def network() -> InMemoryNetwork:
    return InMemoryNetwork(seed=0)
