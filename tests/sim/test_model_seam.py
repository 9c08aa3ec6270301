"""Any model behind gossip.trainable trains and gossips; data comes as any iterable of batches."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pytest

from gossip.adapters import adapt
from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.errors import UsageError
from gossip.model import mlp
from gossip.node import Node
from gossip.trainable import Feed, OptimizerState, ReplicaAware, Trainable, missing_members
from gossip.training import scores
from gossip.transport.memory import InMemoryNetwork


class LinearRegression:
    """A model written against the seam alone: y = x @ w + b, plain SGD, no gossip code."""

    def __init__(self, features: int) -> None:
        self._params = np.zeros(features + 1, dtype=np.float32)
        self.lr = 0.1

    @property
    def params(self) -> np.ndarray:
        return self._params

    def fingerprint(self) -> str:
        return hashlib.sha256(f"linear|{self._params.size}".encode()).hexdigest()[:16]

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ self._params[:-1] + self._params[-1], dtype=np.float32)

    def train_step(self, x: Any, y: Any, lock: AbstractContextManager[Any]) -> float:
        error = self._predict(x) - y
        grad = np.append(x.T @ error, error.sum()) * (2.0 / len(x))
        with lock:
            self._params -= self.lr * grad.astype(np.float32)
        return float((error**2).mean())

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        return {"loss": float(((self._predict(x) - y) ** 2).mean())}

    def optimizer_state(self) -> OptimizerState:
        return {}

    def load_optimizer_state(self, state: OptimizerState) -> None:
        pass


def regression_batches(seed: int, count: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A generator, as a user's own data pipeline would be: y = 2 x0 - x1 + 0.5."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        x = rng.normal(size=(16, 2)).astype(np.float32)
        yield x, (2 * x[:, 0] - x[:, 1] + 0.5).astype(np.float32)


def test_our_sequential_is_a_trainable_that_knows_the_cluster_size() -> None:
    model = mlp(4, [8], 3, "classification", seed=0)
    assert missing_members(model) == []
    assert isinstance(model, Trainable) and isinstance(model, ReplicaAware)
    model.replicas = 4
    assert model.optimizer.replicas == 4
    assert adapt(model) is model
    assert not isinstance(LinearRegression(2), ReplicaAware)


def test_what_is_not_a_model_is_refused_in_one_line() -> None:
    with pytest.raises(UsageError, match=r"dict is not a model .*lacks params, fingerprint"):
        adapt({"weights": [1.0]})


def test_two_peers_with_their_own_model_and_generators_train_and_average(
    network: InMemoryNetwork,
) -> None:
    test_x, test_y = next(regression_batches(99, 1))
    peers = []
    for i in range(2):
        feed = Feed(regression_batches(i, 40), [(test_x, test_y)], name="lines")
        config = NodeConfig(id=f"p{i}", listen=f"sim{i}:1", compression="none")
        peers.append(
            Node(config, transport=network.transport(), model=LinearRegression(2), data=feed)
        )
    for peer in peers:
        peer.serve()
    assert peers[0].status().dataset == "lines"
    while any(p.trainer.step() is not None for p in peers):
        assert peers[0].exchange_with(peers[1].id, peers[1].address)
    assert [p.trainer.steps for p in peers] == [40, 40]
    assert all(p.trainer.exhausted for p in peers)  # a generator that ends, ends training
    assert peers[0].exchange_with(peers[1].id, peers[1].address)  # averaging goes on
    assert np.allclose(peers[0].replica.params, peers[1].replica.params, atol=1e-3)
    np.testing.assert_allclose(peers[0].replica.params, [2.0, -1.0, 0.5], atol=0.05)
    evaluation = peers[0].trainer.evaluate()
    assert evaluation.metric_name == "loss" and evaluation.loss < 1e-2


def test_a_list_of_batches_is_a_new_epoch_each_time_it_ends(network: InMemoryNetwork) -> None:
    batches = list(regression_batches(0, 3))
    config = NodeConfig(id="p0", listen="sim0:1")
    feed = Feed(batches, batches[:1])
    node = Node(config, transport=network.transport(), model=LinearRegression(2), data=feed)
    for _ in range(7):
        assert node.trainer.step() is not None
    assert node.trainer.samples_seen == 7 * 16 and not node.trainer.exhausted


def test_batches_without_a_model_are_refused(network: InMemoryNetwork) -> None:
    with pytest.raises(UsageError, match="needs a model"):
        Node(NodeConfig(id="p0"), transport=network.transport(), data=Feed([], []))


def test_held_out_metrics_are_averaged_over_batches_by_size() -> None:
    train, test = load_shard("digits", seed=0)
    model = mlp(train.num_features, [16], train.num_classes, "classification", seed=0)
    whole = model.evaluate(test.x, test.y)
    config = NodeConfig(id="p0")
    halves = [(test.x[:100], test.y[:100]), (test.x[100:], test.y[100:])]
    node = Node(config, transport=InMemoryNetwork(seed=0).transport(), model=model,
                data=Feed([(train.x, train.y)], halves))  # fmt: skip
    evaluation = node.trainer.evaluate()
    assert evaluation.metric_name == "accuracy"
    assert evaluation.metric == pytest.approx(whole["accuracy"], abs=1e-6)
    assert evaluation.loss == pytest.approx(whole["loss"], rel=1e-5)


@pytest.mark.parametrize(
    ("result", "name"),
    [({"loss": 1.0, "r2": 0.5}, "r2"), ({"mae": 2.0, "loss": 1.0}, "mae"), ({"loss": 1.0}, "loss")],
)
def test_the_reported_metric_is_accuracy_else_r2_else_the_first_other(
    result: dict[str, float], name: str
) -> None:
    assert scores(result).metric_name == name
