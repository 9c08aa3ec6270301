"""Centralized training, the yardstick a gossip run is compared against, and its floor.

One model sees the whole train split and processes as many samples as all
peers together did. It is built and stepped by the same code a peer uses
(:func:`gossip.model.mlp`, :class:`gossip.training.Trainer`), with the same
seed, optimizer, learning rate and batch size, and it is scored on the same
held-out set; so the only difference left is the gossip itself. One peer
trained alone on its shard is the other end: what gossip must improve on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from gossip.averaging.pairwise import Replica
from gossip.config import NodeConfig
from gossip.errors import UsageError
from gossip.recipe import build_model, load_data
from gossip.training import Trainer


def centralized(config: NodeConfig, total_samples: int) -> dict[str, Any]:
    """Train on the whole train split until ``total_samples`` samples are processed.

    Deterministic for a given config: batches come from a generator seeded like
    a peer's that holds shard 0/1. Returns held-out ``accuracy`` (None for
    regression), ``metric`` ({name, value}), ``loss``, ``steps``, ``samples_seen``
    and ``train_samples`` (size of the train split).
    """
    return alone(replace(config, shard=(0, 1), partition="iid"), total_samples)


def alone(config: NodeConfig, total_samples: int) -> dict[str, Any]:
    """Train ``config.shard`` of ``config.partition`` with no gossip: the floor gossip must beat.

    The same peer as ``gossip-node`` with this config (data, model, batches),
    minus every exchange; returns what :func:`centralized` does, for that shard.
    """
    if total_samples < 1:
        raise UsageError(f"training needs at least 1 sample, got {total_samples}")
    train, test = load_data(config)
    model = build_model(config, train)
    replica = Replica(model.params, model.fingerprint(), config.alpha)
    rng = np.random.default_rng([config.seed, *config.shard])  # as gossip.node seeds it
    trainer = Trainer(model, replica, train, test, config.batch_size, rng)
    while trainer.samples_seen < total_samples:
        trainer.step()
    evaluation = trainer.evaluate()
    return {
        "accuracy": evaluation.accuracy,
        "metric": {"name": evaluation.metric_name, "value": evaluation.metric},
        "loss": evaluation.loss,
        "steps": trainer.steps,
        "samples_seen": trainer.samples_seen,
        "train_samples": len(train),
    }
