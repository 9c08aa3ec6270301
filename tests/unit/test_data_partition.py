"""Partitioners and the held-out split: disjoint, covering, deterministic, and skewed on purpose."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gossip.data import (
    Dataset,
    Partition,
    load_dataset,
    parse_partition,
    partition_indices,
    split_holdout,
)
from gossip.data.partition import MIN_SHARD_SIZE, largest_remainder
from gossip.errors import DataError, UsageError

SPECS = ["iid", "dirichlet:0.1", "dirichlet:100", "feature:3"]


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def label_entropy(ds: Dataset, rows: np.ndarray) -> float:
    counts = np.bincount(ds.y[rows], minlength=ds.num_classes)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mean_entropy(ds: Dataset, spec: str, shards: int = 8, seed: int = 0) -> float:
    return float(np.mean([label_entropy(ds, r) for r in partition_indices(ds, spec, shards, seed)]))


def test_parse_partition_valid_forms() -> None:
    assert parse_partition("iid") == Partition("iid")
    assert parse_partition("dirichlet:0.5") == Partition("dirichlet", alpha=0.5)
    assert parse_partition("dirichlet:1e-2").alpha == 0.01
    assert parse_partition("feature:3") == Partition("feature", column=3)
    assert parse_partition("feature:bmi") == Partition("feature", column="bmi")


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "IID",
        "iid:1",
        "dirichlet",
        "dirichlet:",
        "dirichlet:0",
        "dirichlet:-1",
        "dirichlet:abc",
        "dirichlet:nan",
        "dirichlet:inf",
        "feature",
        "feature:",
        "random",
    ],
)
def test_parse_partition_rejects_bad_specs_naming_valid_forms(spec: str) -> None:
    with pytest.raises(UsageError, match=r"iid, dirichlet:ALPHA .* feature:COLUMN") as info:
        parse_partition(spec)
    assert repr(spec) in str(info.value)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shards", [1, 3, 8])
def test_partitions_are_disjoint_and_cover_everything(
    digits: Dataset, spec: str, shards: int
) -> None:
    parts = partition_indices(digits, spec, shards, seed=5)
    assert len(parts) == shards
    assert all(len(p) > 0 and p.dtype == np.int64 for p in parts)
    joined = np.concatenate(parts)
    assert len(joined) == len(digits)
    assert np.array_equal(np.sort(joined), np.arange(len(digits)))


@pytest.mark.parametrize("spec", SPECS)
def test_partitions_are_deterministic_per_seed(digits: Dataset, spec: str) -> None:
    first = partition_indices(digits, spec, 5, seed=11)
    again = partition_indices(digits, spec, 5, seed=11)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    if spec != "feature:3":  # sorting by a feature does not use the seed
        other = partition_indices(digits, spec, 5, seed=12)
        assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_iid_shards_have_near_equal_sizes(digits: Dataset) -> None:
    sizes = [len(p) for p in partition_indices(digits, "iid", 7, seed=0)]
    assert max(sizes) - min(sizes) <= 1


def test_small_alpha_skews_labels_and_large_alpha_does_not(digits: Dataset) -> None:
    iid = mean_entropy(digits, "iid")
    skewed = mean_entropy(digits, "dirichlet:0.1")
    uniform = mean_entropy(digits, "dirichlet:1000")
    assert iid > 0.95 * np.log(10)
    assert skewed < 0.5 * iid
    assert uniform > 0.95 * iid


def test_dirichlet_tops_up_every_shard_to_the_minimum(digits: Dataset) -> None:
    for seed in range(5):
        parts = partition_indices(digits, "dirichlet:0.01", 20, seed=seed)
        assert min(len(p) for p in parts) >= MIN_SHARD_SIZE


def test_dirichlet_minimum_shrinks_for_tiny_data(digits: Dataset) -> None:
    tiny = digits.subset(np.arange(30))
    parts = partition_indices(tiny, "dirichlet:0.05", 10, seed=0)
    assert [len(p) for p in parts] == [3] * 10


def test_dirichlet_on_regression_uses_target_bins() -> None:
    ds = load_dataset("diabetes")
    parts = partition_indices(ds, "dirichlet:0.1", 4, seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(ds)))
    means = [float(ds.y[p].mean()) for p in parts]
    assert max(means) - min(means) > 0.3 * float(ds.y.std())


def test_feature_partition_ranges_are_sorted(digits: Dataset) -> None:
    column = 21
    parts = partition_indices(digits, f"feature:{column}", 6, seed=0)
    values = [digits.x[p, column] for p in parts]
    for lower, upper in itertools.pairwise(values):
        assert lower.max() <= upper.min()
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


def test_feature_partition_by_name() -> None:
    ds = load_dataset("diabetes")
    by_name = partition_indices(ds, "feature:bmi", 3, seed=0)
    by_index = partition_indices(ds, "feature:2", 3, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(by_name, by_index, strict=True))


def test_feature_partition_unknown_column(digits: Dataset) -> None:
    with pytest.raises(UsageError, match="has 64 features"):
        partition_indices(digits, "feature:64", 2, seed=0)
    with pytest.raises(UsageError, match="no feature named 'height'"):
        partition_indices(digits, "feature:height", 2, seed=0)
    synthetic = load_dataset("synthetic", samples=40, features=3)
    with pytest.raises(UsageError, match="no column names"):
        partition_indices(synthetic, "feature:height", 2, seed=0)


def test_more_shards_than_rows_or_no_shards(digits: Dataset) -> None:
    with pytest.raises(DataError, match="5 rows cannot fill 6 shards"):
        partition_indices(digits.subset(np.arange(5)), "iid", 6, seed=0)
    with pytest.raises(UsageError, match="at least 1"):
        partition_indices(digits, "iid", 0, seed=0)
    with pytest.raises(UsageError, match="non-negative"):
        partition_indices(digits, "iid", 2, seed=-1)


def test_holdout_is_disjoint_stratified_and_deterministic(digits: Dataset) -> None:
    train, test = split_holdout(digits, 0.2, seed=3)
    assert len(train) + len(test) == len(digits)
    assert len(test) == round(0.2 * len(digits))
    rows = {tuple(r) for r in digits.x.tolist()}
    assert len(rows) == len(digits)  # digits rows are unique, so rows identify samples
    assert not {tuple(r) for r in train.x.tolist()} & {tuple(r) for r in test.x.tolist()}
    full = np.bincount(digits.y) / len(digits)
    held = np.bincount(test.y, minlength=10) / len(test)
    assert np.abs(full - held).max() < 0.01
    again_train, again_test = split_holdout(digits, 0.2, seed=3)
    assert np.array_equal(test.x, again_test.x) and np.array_equal(train.y, again_train.y)
    _, other_test = split_holdout(digits, 0.2, seed=4)
    assert not np.array_equal(test.x, other_test.x)


def test_holdout_of_regression_data() -> None:
    ds = load_dataset("diabetes")
    train, test = split_holdout(ds, 0.25, seed=0)
    assert (len(train), len(test)) == (len(ds) - 110, 110)
    assert train.task == test.task == "regression"


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_holdout_fraction_must_be_a_proper_fraction(digits: Dataset, fraction: float) -> None:
    with pytest.raises(UsageError, match="between 0 and 1"):
        split_holdout(digits, fraction)


def test_largest_remainder_sums_exactly() -> None:
    counts = largest_remainder(10, np.array([1, 1, 1]))
    assert counts.sum() == 10 and counts.tolist() == [4, 3, 3]
    assert largest_remainder(3, np.array([0, 5, 5, 0])).tolist() == [0, 2, 1, 0]
