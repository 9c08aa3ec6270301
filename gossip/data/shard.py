"""What one peer trains and tests on: its shard of the train split and the common test set.

Every peer loads the same data, makes the same held-out split, standardizes
with statistics of the *full* train split and partitions with the same seed;
so all peers agree on the split, the scaling and the test set without talking.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gossip.data.datasets import Dataset, load_dataset
from gossip.data.partition import parse_partition, partition_indices, split_holdout
from gossip.errors import UsageError


def parse_shard(spec: str) -> tuple[int, int]:
    """Parse ``--shard I/N`` into ``(I, N)`` with ``0 <= I < N``."""
    index, sep, count = spec.strip().partition("/")
    if sep and index.strip().isdecimal() and count.strip().isdecimal():
        i, n = int(index), int(count)
        if 0 <= i < n:
            return i, n
    raise UsageError(f"--shard must be I/N with 0 <= I < N, got {spec!r}")


def standardize(train: Dataset, test: Dataset) -> tuple[Dataset, Dataset]:
    """Scale features (and regression targets) to zero mean, unit variance using train only.

    Test statistics never leak into the scaling. A constant column gets std 1.
    Regression targets are standardized too, so one learning rate fits every
    data set; ``y_offset``/``y_scale`` record how to get back to the original
    units. R2 is scale-invariant, so it is the same in either unit.
    """
    if train.num_features != test.num_features or train.task != test.task:
        raise ValueError("train and test must come from the same data set")
    mean, std = _moments(train.x)
    scaled_train = replace(train, x=(train.x - mean) / std)
    scaled_test = replace(test, x=(test.x - mean) / std)
    if train.task == "regression":
        y_mean, y_std = _moments(train.y.reshape(-1, 1))
        offset = train.y_offset + train.y_scale * float(y_mean[0])
        scale = train.y_scale * float(y_std[0])
        scaled_train = replace(
            scaled_train, y=(train.y - y_mean[0]) / y_std[0], y_offset=offset, y_scale=scale
        )
        scaled_test = replace(
            scaled_test, y=(test.y - y_mean[0]) / y_std[0], y_offset=offset, y_scale=scale
        )
    return scaled_train, scaled_test


def _moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and std in float64; a zero std becomes 1 so constants stay finite."""
    wide = values.astype(np.float64)
    mean = wide.mean(axis=0)
    std = wide.std(axis=0)
    std[std == 0] = 1.0
    return mean, std


def load_shard(
    spec: str,
    *,
    partition: str = "iid",
    shard: tuple[int, int] | str = (0, 1),
    holdout: float = 0.2,
    seed: int = 0,
    label_column: str | None = None,
    samples: int = 2000,
    features: int = 20,
    classes: int = 4,
) -> tuple[Dataset, Dataset]:
    """Return (this peer's standardized train shard, the common standardized test set).

    ``shard`` is ``(I, N)`` or the ``"I/N"`` string of ``--shard``.
    """
    index, count = parse_shard(shard) if isinstance(shard, str) else _check_shard(shard)
    how = parse_partition(partition)  # fail on a bad flag before loading any data
    data = load_dataset(
        spec,
        label_column=label_column,
        samples=samples,
        features=features,
        classes=classes,
        seed=seed,
    )
    train, test = standardize(*split_holdout(data, holdout, seed))
    rows = partition_indices(train, how, count, seed)[index]
    return train.subset(rows), test


def _check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    index, count = shard
    if not 0 <= index < count:
        raise UsageError(f"--shard must be I/N with 0 <= I < N, got '{index}/{count}'")
    return index, count
