"""Deterministic ways to divide rows: the held-out split and the per-peer shards.

Peers never talk about the split: each one recomputes it from
``(dataset, spec, num_shards, seed)`` alone and gets the same answer, so the
functions here read no clock, no global RNG and no process state. Index
arrays are returned sorted (a shard is a set of rows; training shuffles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gossip.data.datasets import Dataset
from gossip.errors import DataError, UsageError

PARTITION_FORMS = "iid, dirichlet:ALPHA (ALPHA > 0) or feature:COLUMN (0-based index or name)"

MIN_SHARD_SIZE = 10
"""Rows every dirichlet shard gets at least (or n // num_shards when the data is smaller)."""

REGRESSION_STRATA = 10
"""Quantile bins of a regression target that stand in for classes when stratifying/skewing."""

_HOLDOUT_STREAM = 0x401D
_PARTITION_STREAM = 0x5A4D
"""Mixed into the seed so the held-out split and the shards use independent random streams."""


@dataclass(frozen=True)
class Partition:
    """A parsed ``--partition`` spec."""

    kind: Literal["iid", "dirichlet", "feature"]
    alpha: float = 0.0
    """Dirichlet concentration: small means each shard sees few classes, large means iid-like."""
    column: int | str = 0
    """Feature to sort by: a 0-based index, or a name the dataset's ``feature_names`` has."""


def parse_partition(spec: str) -> Partition:
    """Validate ``iid``, ``dirichlet:ALPHA`` or ``feature:COLUMN`` once, at the edge."""
    kind, sep, arg = spec.strip().partition(":")
    if kind == "iid" and not sep:
        return Partition("iid")
    if kind == "dirichlet" and arg:
        try:
            alpha = float(arg)
        except ValueError:
            alpha = math.nan
        if math.isfinite(alpha) and alpha > 0:
            return Partition("dirichlet", alpha=alpha)
    if kind == "feature" and arg.strip():
        name = arg.strip()
        return Partition("feature", column=int(name) if name.isdecimal() else name)
    raise UsageError(f"--partition must be {PARTITION_FORMS}; got {spec!r}")


def partition_indices(
    ds: Dataset, spec: str | Partition, num_shards: int, seed: int
) -> list[np.ndarray]:
    """Split ``ds`` into ``num_shards`` disjoint, non-empty, sorted index arrays covering it.

    - iid: a seeded permutation cut into near-equal parts.
    - dirichlet:ALPHA: for each class, shard proportions drawn from
      Dirichlet(ALPHA); then every shard below ``MIN_SHARD_SIZE`` is topped up
      with rows taken from the currently largest shard (which keeps its minimum
      too), so no peer is left without data. Regression targets are cut into
      quantile bins that play the role of classes.
    - feature:COLUMN: rows stably sorted by that feature, cut into contiguous
      near-equal ranges (shard 0 holds the smallest values).
    """
    part = spec if isinstance(spec, Partition) else parse_partition(spec)
    if num_shards < 1:
        raise UsageError(f"the number of shards must be at least 1, got {num_shards}")
    if len(ds) < num_shards:
        raise DataError(f"data set {ds.name}: {len(ds)} rows cannot fill {num_shards} shards")
    rng = np.random.default_rng([_check_seed(seed), _PARTITION_STREAM])
    if part.kind == "iid":
        shards = np.array_split(rng.permutation(len(ds)), num_shards)
    elif part.kind == "dirichlet":
        shards = _dirichlet(strata(ds), part.alpha, num_shards, rng)
    else:
        column = _column_index(ds, part.column)
        order = np.argsort(ds.x[:, column], kind="stable")
        shards = np.array_split(order, num_shards)
    return [np.sort(shard).astype(np.int64) for shard in shards]


def split_holdout(ds: Dataset, fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Set aside ``fraction`` of the rows as the (train, test) pair; no peer trains on test.

    Stratified: each class (or regression quantile bin) contributes in
    proportion to its size, with the total test size ``round(fraction * n)``
    split across classes by largest remainder.
    """
    if not 0 < fraction < 1:
        raise UsageError(f"the held-out fraction must be between 0 and 1, got {fraction}")
    if len(ds) < 2:
        raise DataError(f"data set {ds.name}: {len(ds)} rows cannot be split into train and test")
    rng = np.random.default_rng([_check_seed(seed), _HOLDOUT_STREAM])
    groups = strata(ds)
    members = [np.flatnonzero(groups == g) for g in range(int(groups.max()) + 1)]
    total = min(max(round(fraction * len(ds)), 1), len(ds) - 1)
    counts = largest_remainder(total, np.array([len(m) for m in members]))
    test_mask = np.zeros(len(ds), dtype=bool)
    for rows, count in zip(members, counts, strict=True):
        test_mask[rng.permutation(rows)[:count]] = True
    return ds.subset(np.flatnonzero(~test_mask)), ds.subset(np.flatnonzero(test_mask))


def strata(ds: Dataset) -> np.ndarray:
    """A group index per row: the class, or the quantile bin of a regression target."""
    if ds.task == "classification":
        return ds.y
    edges = np.quantile(ds.y.astype(np.float64), np.linspace(0, 1, REGRESSION_STRATA + 1)[1:-1])
    return np.searchsorted(edges, ds.y, side="right").astype(np.int64)


def largest_remainder(total: int, sizes: np.ndarray) -> np.ndarray:
    """Integer shares of ``total`` proportional to ``sizes``, summing exactly to ``total``."""
    quotas = total * sizes.astype(np.float64) / float(sizes.sum())
    counts: np.ndarray = np.floor(quotas).astype(np.int64)
    leftover = total - int(counts.sum())
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[:leftover]] += 1
    return counts


def _dirichlet(
    groups: np.ndarray, alpha: float, num_shards: int, rng: np.random.Generator
) -> list[np.ndarray]:
    parts: list[list[np.ndarray]] = [[] for _ in range(num_shards)]
    for group in range(int(groups.max()) + 1):
        rows = rng.permutation(np.flatnonzero(groups == group))
        share = rng.dirichlet(np.full(num_shards, alpha))
        if not np.all(np.isfinite(share)) or share.sum() <= 0:  # guard against underflow
            share = np.eye(num_shards)[rng.integers(num_shards)]
        cuts = np.clip(np.round(np.cumsum(share)[:-1] * len(rows)), 0, len(rows)).astype(np.int64)
        for shard, piece in zip(parts, np.split(rows, cuts), strict=True):
            shard.append(piece)
    shards = [np.concatenate(p) if p else np.empty(0, np.int64) for p in parts]
    return _top_up(shards, min(MIN_SHARD_SIZE, len(groups) // num_shards))


def _top_up(shards: list[np.ndarray], minimum: int) -> list[np.ndarray]:
    """Move rows from the largest shard into each shard below ``minimum``, in shard order."""
    shards = list(shards)
    for small in range(len(shards)):
        while len(shards[small]) < minimum:
            donor = int(np.argmax([len(s) for s in shards]))
            give = min(minimum - len(shards[small]), len(shards[donor]) - minimum)
            shards[small] = np.concatenate([shards[small], shards[donor][-give:]])
            shards[donor] = shards[donor][:-give]
    return shards


def _column_index(ds: Dataset, column: int | str) -> int:
    if isinstance(column, int):
        if column < ds.num_features:
            return column
        raise UsageError(
            f"--partition feature:{column}: {ds.name} has {ds.num_features} features "
            f"(0..{ds.num_features - 1})"
        )
    if column in ds.feature_names:
        return ds.feature_names.index(column)
    if not ds.feature_names:
        raise UsageError(
            f"--partition feature:{column}: {ds.name} has no column names; "
            f"use an index 0..{ds.num_features - 1}"
        )
    shown = ", ".join(ds.feature_names[:12]) + (", ..." if ds.num_features > 12 else "")
    raise UsageError(f"--partition feature:{column}: no feature named {column!r} ({shown})")


def _check_seed(seed: int) -> int:
    if seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed}")
    return seed
