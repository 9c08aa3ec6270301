"""The baselines (centralized, synchronous data-parallel): good, reproducible, faithful."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gossip.baseline import (
    alone,
    averaged,
    centralized,
    concatenated,
    steps_to_reach,
    synchronous,
)
from gossip.config import NodeConfig
from gossip.errors import UsageError
from gossip.model import mlp
from gossip.recipe import load_data
from gossip.training import Batches


def without_seconds(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "seconds"}


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
    assert without_seconds(centralized(config, 5000)) == without_seconds(centralized(config, 5000))


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


# ------------------------------------------------------------ synchronous


def test_synchronous_with_one_worker_is_centralized_with_the_same_batches() -> None:
    config = NodeConfig(dataset="digits", batch_size=32, seed=5)
    sync = synchronous(config, workers=1, steps=120)
    central = centralized(config, total_samples=120 * 32)
    assert sync["steps"] == central["steps"] == 120
    assert sync["samples_seen"] == central["samples_seen"]
    assert sync["loss"] == central["loss"]  # same initial model, batches and optimizer steps
    assert sync["metric"] == central["metric"]


def test_the_concatenated_gradient_is_the_mean_of_the_workers_gradients() -> None:
    config = NodeConfig(dataset="digits", model="16", batch_size=8)
    shards = [load_data(config, shard=(i, 4))[0] for i in range(4)]
    model = mlp(shards[0].num_features, [16], shards[0].num_classes, "classification", seed=1)

    def batches() -> list[Batches]:
        return [Batches(len(s), 8, np.random.default_rng([0, i, 4])) for i, s in enumerate(shards)]

    one_loss, one_pass = concatenated(model, shards, batches())()
    mean_loss, mean = averaged(model, shards, batches())()
    assert one_loss == pytest.approx(mean_loss, rel=1e-5)
    np.testing.assert_allclose(one_pass, mean, rtol=1e-4, atol=1e-6)
    assert np.abs(mean).max() > 1e-3  # a real gradient, not two zeros


def test_synchronous_takes_a_global_batch_of_workers_times_batch() -> None:
    result = synchronous(NodeConfig(dataset="digits", batch_size=16), workers=4, steps=50)
    assert result["workers"] == 4
    assert result["global_batch"] == 64
    assert result["samples_seen"] == 50 * 64
    assert result["train_samples"] == centralized(NodeConfig(dataset="digits"), 1)["train_samples"]
    assert result["history"] == []


def test_synchronous_averages_when_a_shard_is_smaller_than_the_batch() -> None:
    # digits' 1438 train rows in 8 shards: 179 or 180 rows, each below the batch of 200
    result = synchronous(NodeConfig(dataset="digits", batch_size=200), workers=8, steps=60)
    assert 8 * 179 <= result["global_batch"] < 8 * 180
    assert result["accuracy"] >= 0.8


def test_synchronous_learns_digits_on_dirichlet_shards() -> None:
    config = NodeConfig(dataset="digits", partition="dirichlet:0.5")
    result = synchronous(config, workers=8, steps=400)
    assert result["accuracy"] >= 0.95


def test_synchronous_is_deterministic_and_seeded() -> None:
    config = NodeConfig(dataset="digits", seed=3, partition="dirichlet:0.5")
    a = synchronous(config, workers=3, steps=40, eval_every=10)
    assert without_seconds(a) == without_seconds(synchronous(config, 3, 40, eval_every=10))
    other = synchronous(NodeConfig(dataset="digits", seed=4, partition="dirichlet:0.5"), 3, 40)
    assert other["loss"] != a["loss"]


def test_history_every_eval_every_steps_and_at_the_end() -> None:
    result = synchronous(NodeConfig(dataset="digits"), workers=2, steps=105, eval_every=25)
    history = result["history"]
    assert [h["step"] for h in history] == [25, 50, 75, 100, 105]
    assert all(0.0 <= h["value"] <= 1.0 for h in history)
    assert history[-1]["value"] == result["accuracy"]
    assert history[-1]["value"] > history[0]["value"]  # it learns
    assert steps_to_reach(history, history[0]["value"]) == 25
    assert steps_to_reach(history, 1.01) is None


def test_synchronous_regression_reports_r2() -> None:
    result = synchronous(NodeConfig(dataset="diabetes"), workers=2, steps=300)
    assert result["accuracy"] is None
    assert result["metric"]["name"] == "r2"
    assert result["metric"]["value"] > 0.2


@pytest.mark.parametrize(
    ("workers", "steps", "eval_every"), [(0, 10, None), (2, 0, None), (2, 10, 0)]
)
def test_synchronous_refuses_bad_arguments(
    workers: int, steps: int, eval_every: int | None
) -> None:
    with pytest.raises(UsageError):
        synchronous(NodeConfig(dataset="digits"), workers, steps, eval_every)


def test_one_peer_of_eight_alone_is_worse_than_centralized_on_clusters() -> None:
    """An eighth of the data is not enough on clusters: the gap gossip can close."""
    samples = 300 * 32
    central = centralized(NodeConfig(dataset="clusters"), 8 * samples)
    single = alone(NodeConfig(dataset="clusters", shard=(0, 8)), samples)
    assert single["train_samples"] * 7 < central["train_samples"] < single["train_samples"] * 9
    assert single["accuracy"] + 0.1 < central["accuracy"] < 0.9


def test_alone_on_shard_0_of_1_is_centralized() -> None:
    config = NodeConfig(dataset="digits", seed=2)
    assert without_seconds(alone(config, 2000)) == without_seconds(centralized(config, 2000))


# ------------------------------------------------------------ a user's model (--model-factory)

FACTORY = """
from gossip.model import mlp

def narrow(config):
    return mlp(64, [16], 10, "classification", config.seed)

def with_data(config):
    from gossip.data import load_shard
    return narrow(config), load_shard("digits")
"""


@pytest.fixture
def factories(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "baseline_factories.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)  # --model-factory imports from the current directory


@pytest.mark.usefixtures("factories")
def test_centralized_trains_the_factory_model_through_the_seam() -> None:
    ours = centralized(NodeConfig(dataset="digits", model="mlp:16", seed=3), 1500)
    factory = NodeConfig(dataset="digits", model_factory="baseline_factories:narrow", seed=3)
    assert without_seconds(centralized(factory, 1500)) == without_seconds(ours)


@pytest.mark.usefixtures("factories")
def test_baselines_refuse_what_they_cannot_train_with_one_line() -> None:
    with pytest.raises(UsageError, match="returns its own data: the baselines train on --dataset"):
        centralized(NodeConfig(model_factory="baseline_factories:with_data"), 100)
    with pytest.raises(UsageError, match="not available with --model-factory"):
        synchronous(NodeConfig(model_factory="baseline_factories:narrow"), 2, 10)
