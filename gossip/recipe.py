"""What a configuration means in data and model.

The one place that turns a :class:`~gossip.config.NodeConfig` into a data
shard and a compiled model, shared by the node and the centralized baseline so
the two can only differ in the gossip itself.
"""

from __future__ import annotations

from gossip.config import NodeConfig
from gossip.data import Dataset, load_shard
from gossip.model import Sequential, mlp, parse_model_spec


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
