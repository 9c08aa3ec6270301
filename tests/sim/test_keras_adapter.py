"""The seed's Keras model, handed to peers with one call, trains and gossips (JAX on the CPU)."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
# one thread for XLA: the tests share a small machine
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
keras = pytest.importorskip(
    "keras", reason="Keras not installed: pip install 'gossip-train[keras]'"
)

import gossip  # noqa: E402
from gossip.adapters import adapt  # noqa: E402
from gossip.adapters.keras import KerasModel  # noqa: E402
from gossip.config import NodeConfig  # noqa: E402
from gossip.data import load_shard  # noqa: E402
from gossip.errors import UsageError  # noqa: E402
from gossip.node import Node  # noqa: E402
from gossip.replica import Replica  # noqa: E402
from gossip.transport.memory import InMemoryNetwork  # noqa: E402
from tests.sim.conftest import resumed  # noqa: E402


def seed_model(hidden: int = 10) -> Any:
    """The seed's example, as written there (one seed so peers start alike)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(hidden, "relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


def regression(samples: int = 256) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32) + 0.3).astype(np.float32)


class Interrupting(AbstractContextManager[None]):
    """The replica lock, with an exchange that lands while the step runs (+1 everywhere)."""

    def __init__(self, params: np.ndarray) -> None:
        self.params = params
        self.entered = 0

    def __enter__(self) -> None:
        self.entered += 1
        if self.entered == 2:  # after the copy out, before the write back
            self.params += 1.0

    def __exit__(self, *exc: object) -> None:
        pass


def test_a_step_keeps_an_exchange_that_lands_meanwhile() -> None:
    x, y = regression(32)
    plain, interrupted = KerasModel(seed_model(), x), KerasModel(seed_model(), x)
    np.testing.assert_array_equal(plain.params, interrupted.params)
    plain.train_step(x, y, Interrupting(np.zeros(1, np.float32)))
    interrupted.train_step(x, y, Interrupting(interrupted.params))
    np.testing.assert_allclose(interrupted.params - plain.params, 1.0, atol=1e-5)


def test_the_variables_are_copied_in_only_after_others_wrote_the_vector() -> None:
    x, y = regression(32)
    model = KerasModel(seed_model(), x)
    replica = Replica(model.params, model.fingerprint())
    model.watch_writes(lambda: replica.writes)  # as the node does
    for _ in range(2):
        model.train_step(x, y, replica.lock)
    assert (model.mirror.copies_in, model.mirror.copies_out) == (1, 2)  # in once, at the start
    replica.add(np.ones_like(model.params), [slice(0, replica.num_params)])  # an exchange
    model.train_step(x, y, replica.lock)
    assert model.mirror.copies_in == 2
    variables = [np.asarray(v.value).reshape(-1) for v in model.model.trainable_variables]
    np.testing.assert_array_equal(np.concatenate(variables), model.params)


def test_the_fingerprint_names_the_architecture_not_keras_numbering() -> None:
    x, _ = regression(2)
    first, second = adapt(seed_model(), x), adapt(seed_model(), x)  # dense, dense_2, ...
    assert first.fingerprint() == second.fingerprint()
    assert adapt(seed_model(hidden=11), x).fingerprint() != first.fingerprint()
    assert first.params.size == 4 * 10 + 10 + 10 + 1


def test_models_it_cannot_gossip_are_refused_in_one_line() -> None:
    model = keras.Sequential([keras.layers.Dense(1)])
    with pytest.raises(UsageError, match="not compiled"):
        adapt(model)
    model.compile("sgd", "mse")
    with pytest.raises(UsageError, match="not built"):
        adapt(model)


def test_two_keras_peers_train_the_seed_example_and_agree(network: InMemoryNetwork) -> None:
    train, test = load_shard("diabetes", seed=0)
    peers = []
    for i in range(2):
        config = NodeConfig(id=f"k{i}", listen=f"sim{i}:1", shard=(i, 2), compression="none")
        data = load_shard("diabetes", shard=(i, 2), seed=0)
        peer = Node(config, transport=network.transport(), model=adapt(seed_model(), train.x),
                    data=data)  # fmt: skip
        peer.serve()
        peers.append(peer)
    before = peers[0].trainer.evaluate().loss
    for _ in range(60):
        for peer in peers:
            peer.trainer.step()
        assert peers[0].exchange_with(peers[1].id, peers[1].address)
    after = [peer.trainer.evaluate() for peer in peers]
    assert after[0].metric_name == "loss"  # compiled without metrics: the loss is the metric
    assert after[0].loss < 0.8 * before, (before, after)
    gap = np.abs(peers[0].replica.params - peers[1].replica.params).max()
    assert gap < 0.05 * np.abs(peers[0].replica.params).max()
    assert test.x.shape[1] == 10


def test_optimizer_state_and_parameters_survive_a_checkpoint(tmp_path: Path) -> None:
    train, test = load_shard("diabetes", seed=0)
    resumed(tmp_path, lambda: adapt(seed_model(), train.x), (train, test))


def test_gossip_fit_is_the_one_call_that_replaces_model_fit() -> None:
    x, y = regression()
    model = seed_model()
    status = gossip.fit(model, x, y, epochs=2, listen="127.0.0.1:0", id="alone",
                        validation_data=(x[:64], y[:64]), bootstrap=False)  # fmt: skip
    assert status.step == 2 * len(x) // 32 and status.dataset == "arrays"
    # the Keras model holds the peer's parameters afterwards
    assert float(model.evaluate(x[:64], y[:64], verbose=0)) == pytest.approx(
        status.metric.value, rel=1e-4
    )
