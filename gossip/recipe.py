"""What a configuration means in data and model.

The one place that turns a :class:`~gossip.config.NodeConfig` into a data
shard and a compiled model, shared by the node and the centralized baseline so
the two can only differ in the gossip itself; and where a user's own model
(any framework, through gossip.adapters) and data (arrays or batches) meet it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from gossip.adapters import adapt
from gossip.config import NodeConfig
from gossip.data import Dataset, load_shard
from gossip.errors import UsageError
from gossip.model import Sequential, mlp, parse_model_spec
from gossip.trainable import Batch, Feed, Trainable
from gossip.training import ArrayBatches, whole


def load_data(
    config: NodeConfig, shard: tuple[int, int] | None = None, partition: str | None = None
) -> tuple[Dataset, Dataset]:
    """(this peer's standardized train shard, the common held-out set)."""
    return load_shard(
        config.dataset,
        partition=partition or config.partition,
        shard=shard or config.shard,
        holdout=config.holdout,
        seed=config.seed,
        label_column=config.label_column,
        samples=config.synthetic_samples,
        features=config.synthetic_features,
        classes=config.synthetic_classes,
    )


def build_model(config: NodeConfig, train: Dataset) -> Sequential:
    """The ``--model`` MLP for this data, initialised from ``--seed`` and compiled."""
    outputs = train.num_classes if train.task == "classification" else 1
    model = mlp(
        train.num_features,
        parse_model_spec(config.model),
        outputs,
        train.task,
        config.seed,
        optimizer=config.optimizer,
        lr=config.lr,
    )
    if config.loss != "auto":
        model.compile(optimizer=config.optimizer, loss=config.loss, lr=config.lr)
    return model


@dataclass(frozen=True)
class PeerParts:
    """What a peer trains: the model behind the seam, its batches, and how to name them."""

    model: Trainable
    batches: Iterable[Batch]
    test: Iterable[Batch]
    data_name: str
    """What status and logs call the data: the data set given in Python, else ``--dataset``."""
    description: str
    """The data in the start-up line: ``shard 0/4 of digits, 449 samples``."""


def peer_parts(
    config: NodeConfig,
    model: object | None = None,
    data: tuple[Dataset, Dataset] | Feed | None = None,
) -> PeerParts:
    """The model and data of one peer: the user's (any framework) or the config's.

    Arrays are cut into batches in the peer's seeded order; a :class:`Feed` is
    taken as it is. A model given without data trains on the config's data set.
    ``model`` is a Trainable or what :func:`gossip.adapters.adapt` wraps.
    """
    if isinstance(data, Feed):
        if model is None:
            raise UsageError("data given as batches (Feed) needs a model too: Node(model=...)")
        return PeerParts(adapt(model), data.train, data.test, data.name, f"batches of {data.name}")
    train, test = data if data is not None else load_data(config)
    if model is None:
        model = build_model(config, train)
    elif isinstance(model, Sequential) and not model.built:
        model.build(train.num_features)
    # batches differ per peer; the split and the initial model are shared via `seed`
    rng = np.random.default_rng([config.seed, config.shard[0], config.shard[1]])
    name = config.dataset if data is None else train.name
    shard = f"shard {config.shard[0]}/{config.shard[1]} of {name}, {len(train)} samples"
    return PeerParts(
        adapt(model, train.x),
        ArrayBatches(train.x, train.y, config.batch_size, rng),
        whole(test),
        name,
        shard,
    )
