"""Centralized baseline: the yardstick must be good and reproducible."""

from __future__ import annotations

import pytest

from gossip.baseline import alone, centralized
from gossip.config import NodeConfig
from gossip.errors import UsageError


def test_reaches_high_accuracy_on_digits() -> None:
    result = centralized(NodeConfig(dataset="digits"), total_samples=30_000)
    assert result["accuracy"] is not None
    assert result["accuracy"] >= 0.95
    assert result["metric"] == {"name": "accuracy", "value": result["accuracy"]}


def test_processes_exactly_the_requested_samples_rounded_up_to_a_batch() -> None:
    result = centralized(NodeConfig(dataset="digits", batch_size=32), total_samples=1000)
    assert result["steps"] == 32  # ceil(1000 / 32)
    assert result["samples_seen"] == 32 * 32


def test_is_deterministic() -> None:
    config = NodeConfig(dataset="digits", seed=3)
    assert centralized(config, 5000) == centralized(config, 5000)


def test_seed_changes_the_run() -> None:
    a = centralized(NodeConfig(dataset="digits", seed=1), 3000)
    b = centralized(NodeConfig(dataset="digits", seed=2), 3000)
    assert a["loss"] != b["loss"]


def test_regression_reports_r2_and_no_accuracy() -> None:
    result = centralized(NodeConfig(dataset="diabetes"), total_samples=20_000)
    assert result["accuracy"] is None
    assert result["metric"]["name"] == "r2"
    assert result["metric"]["value"] > 0.2


def test_refuses_zero_samples() -> None:
    with pytest.raises(UsageError):
        centralized(NodeConfig(), 0)


def test_one_peer_of_eight_alone_is_worse_than_centralized_on_clusters() -> None:
    """An eighth of the data is not enough on clusters: the gap gossip can close."""
    samples = 300 * 32
    central = centralized(NodeConfig(dataset="clusters"), 8 * samples)
    single = alone(NodeConfig(dataset="clusters", shard=(0, 8)), samples)
    assert single["train_samples"] * 7 < central["train_samples"] < single["train_samples"] * 9
    assert single["accuracy"] + 0.1 < central["accuracy"] < 0.9


def test_alone_on_shard_0_of_1_is_centralized() -> None:
    config = NodeConfig(dataset="digits", seed=2)
    assert alone(config, 2000) == centralized(config, 2000)
