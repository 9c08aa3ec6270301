"""Seeded gossip training on the in-memory network reaches centralized accuracy."""

from __future__ import annotations

import random

import numpy as np
import pytest

from gossip.data import load_shard
from gossip.model import mlp
from gossip.transport.memory import InMemoryNetwork

from .conftest import consensus_distance, make_peers

STEPS_PER_PEER = 1500


def centralized_accuracy(total_steps: int) -> float:
    train, test = load_shard("digits", seed=0)
    model = mlp(train.num_features, [64, 32], train.num_classes, "classification", seed=0)
    rng = np.random.default_rng(0)
    for _ in range(total_steps):
        batch = rng.integers(0, len(train), 32)
        model.train_step(train.x[batch], train.y[batch])
    return model.evaluate(test.x, test.y)["accuracy"]


@pytest.mark.parametrize(
    ("n", "partition", "tolerance"),
    [(4, "iid", 0.01), (8, "iid", 0.01), (4, "dirichlet:0.5", 0.03), (8, "dirichlet:0.5", 0.03)],
)
def test_gossip_reaches_centralized_accuracy(n: int, partition: str, tolerance: float) -> None:
    network = InMemoryNetwork(seed=1)
    peers = make_peers(n, network, partition=partition)
    pick = random.Random(1)
    for _round in range(STEPS_PER_PEER // 10):
        for peer in peers:
            for _ in range(10):
                peer.trainer.step()
        for _ in range(n // 2):
            i, j = pick.sample(range(n), 2)
            peers[i].exchange_with(peers[j].id, peers[j].address)
    for _ in range(4 * n):  # a few averaging rounds after training, as a run's end has
        i, j = pick.sample(range(n), 2)
        peers[i].exchange_with(peers[j].id, peers[j].address)
    accuracies = [p.trainer.evaluate().metric for p in peers]
    central = centralized_accuracy(STEPS_PER_PEER * n)
    assert np.mean(accuracies) >= central - tolerance, (accuracies, central)
    assert consensus_distance(peers) < 1.0
