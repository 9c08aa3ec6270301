"""--shard parsing, standardization and what load_shard hands one peer."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.data import load_dataset, load_shard, parse_shard, split_holdout, standardize
from gossip.errors import UsageError


@pytest.mark.parametrize(
    ("spec", "expected"), [("0/1", (0, 1)), ("2/8", (2, 8)), (" 7/8 ", (7, 8))]
)
def test_parse_shard(spec: str, expected: tuple[int, int]) -> None:
    assert parse_shard(spec) == expected


@pytest.mark.parametrize("spec", ["5/3", "3/3", "0/0", "-1/2", "1", "a/b", "1/2/3", "", "1.0/2"])
def test_parse_shard_errors(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_shard(spec)
    assert str(info.value) == f"--shard must be I/N with 0 <= I < N, got {spec!r}"


def test_standardize_uses_train_statistics_only() -> None:
    train, test = split_holdout(load_dataset("synthetic", samples=400, seed=2), 0.25, seed=0)
    scaled_train, scaled_test = standardize(train, test)
    assert np.allclose(scaled_train.x.mean(0), 0, atol=1e-5)
    assert np.allclose(scaled_train.x.std(0), 1, atol=1e-4)
    mean, std = train.x.astype(np.float64).mean(0), train.x.astype(np.float64).std(0)
    assert np.allclose(scaled_test.x, (test.x - mean) / std, atol=1e-5)
    assert scaled_train.x.dtype == np.float32 and np.array_equal(scaled_train.y, train.y)


def test_standardize_constant_column_gets_unit_std() -> None:
    ds = load_dataset("digits")  # pixel_0_0 is always 0
    train, test = standardize(*split_holdout(ds, 0.2, seed=0))
    assert np.all(train.x[:, 0] == 0) and np.all(test.x[:, 0] == 0)
    assert np.all(np.isfinite(train.x)) and np.all(np.isfinite(test.x))


def test_standardize_regression_targets_and_records_scale() -> None:
    train, test = split_holdout(load_dataset("diabetes"), 0.2, seed=0)
    scaled_train, scaled_test = standardize(train, test)
    assert abs(float(scaled_train.y.mean())) < 1e-5 and abs(float(scaled_train.y.std()) - 1) < 1e-4
    assert np.allclose(scaled_test.to_original_units(scaled_test.y), test.y, atol=1e-3)
    assert scaled_test.y_scale == scaled_train.y_scale > 1


def test_load_shard_shards_cover_train_and_share_the_test_set() -> None:
    shards = [
        load_shard("digits", partition="dirichlet:0.5", shard=(i, 4), seed=9) for i in range(4)
    ]
    test = shards[0][1]
    assert all(np.array_equal(t.x, test.x) for _, t in shards)
    train, held = split_holdout(load_dataset("digits"), 0.2, seed=9)
    assert sum(len(s) for s, _ in shards) == len(train) and len(test) == len(held)
    assert all(s.num_classes == 10 for s, _ in shards)
    # every shard is scaled with statistics of the full train split, not its own
    everything = np.concatenate([s.x for s, _ in shards])
    assert np.allclose(everything.astype(np.float64).mean(0), 0, atol=1e-4)
    assert not np.allclose(shards[0][0].x.mean(0), 0, atol=1e-2)


def test_load_shard_is_deterministic_and_accepts_the_flag_string() -> None:
    a, _ = load_shard("synthetic", shard="1/3", seed=4, samples=300)
    b, _ = load_shard("synthetic", shard=(1, 3), seed=4, samples=300)
    c, _ = load_shard("synthetic", shard=(1, 3), seed=5, samples=300)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_load_shard_rejects_a_bad_shard() -> None:
    with pytest.raises(UsageError, match="got '5/3'"):
        load_shard("digits", shard=(5, 3))
    with pytest.raises(UsageError, match="--partition must be"):
        load_shard("digits", partition="sorted")
