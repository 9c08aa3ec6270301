"""Peers on the in-memory network, driven by hand in a seeded order: no threads, no sleeps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gossip.config import NodeConfig
from gossip.data import Dataset, load_shard
from gossip.node import Node
from gossip.trainable import Feed
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


def resumed(
    tmp_path: Path, make_model: Callable[[], object], data: tuple[Dataset, Dataset] | Feed
) -> tuple[Node, Node]:
    """A node that took 5 steps and wrote a checkpoint, and a new one resumed from it.

    Asserts what every model must keep: the step, the parameters, and the optimizer
    state (with the local state) array for array, dtype and shape included.
    """
    config = NodeConfig(id="c0", listen="sim0:1", checkpoint_dir=str(tmp_path))
    first = Node(config, transport=InMemoryNetwork(seed=0).transport(), model=make_model(),
                 data=data)  # fmt: skip
    for _ in range(5):
        first.trainer.step()
    assert first.save_checkpoint() is not None
    again = Node(config, transport=InMemoryNetwork(seed=1).transport(), model=make_model(),
                 data=data)  # fmt: skip
    assert again.recovery.resumed and again.trainer.steps == 5
    np.testing.assert_array_equal(again.replica.params, first.replica.params)
    saved, loaded = first.model.optimizer_state(), again.model.optimizer_state()
    assert saved.keys() == loaded.keys()
    for key, value in saved.items():
        np.testing.assert_array_equal(loaded[key], value, strict=True)
    return first, again


@pytest.fixture
def network() -> InMemoryNetwork:
    return InMemoryNetwork(seed=0)
