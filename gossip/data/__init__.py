"""Data for gossip training: built-in and file data sets, held-out split, partitions, shards.

Typical use by a peer::

    train, test = load_shard("digits", partition="dirichlet:0.3", shard=(2, 8), seed=7)
"""

from __future__ import annotations

from gossip.data.datasets import Dataset, Task, from_arrays, load_dataset, synthetic
from gossip.data.partition import Partition, parse_partition, partition_indices, split_holdout
from gossip.data.shard import load_shard, parse_shard, standardize

__all__ = [
    "Dataset",
    "Partition",
    "Task",
    "from_arrays",
    "load_dataset",
    "load_shard",
    "parse_partition",
    "parse_shard",
    "partition_indices",
    "split_holdout",
    "standardize",
    "synthetic",
]
