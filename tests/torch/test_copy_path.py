"""The copy path a GPU takes (the flat vector the truth, the module a copy), forced on the CPU."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from gossip.adapters.torch import TorchModel
from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.node import Node
from gossip.replica import Replica
from gossip.transport.memory import InMemoryNetwork
from tests.sim.conftest import resumed
from tests.torch.test_adapter import batch, digits_model, mlp


def module_vector(model: TorchModel) -> np.ndarray:
    """What the module itself holds (its copy, on the copy path), as one vector."""
    return torch.cat([p.detach().reshape(-1) for p in model.module.parameters()]).numpy()


def watched(model: TorchModel) -> Replica:
    """A replica of ``model``'s vector that tells the model of others' writes, as a node does."""
    replica = Replica(model.params, model.fingerprint())
    model.watch_writes(lambda: replica.writes)
    return replica


class Landing:
    """A lock under which an exchange adds ``+1`` through the replica at the ``at``-th entry."""

    def __init__(self, replica: Replica, at: int) -> None:
        self.replica, self.at, self.entered = replica, at, 0

    def __enter__(self) -> None:
        self.entered += 1
        if self.entered == self.at:
            self.replica.add(np.ones_like(self.replica.params), [slice(0, self.replica.num_params)])

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.mark.parametrize("watch", [True, False], ids=["watched", "unwatched"])
def test_the_copy_path_trains_as_the_views_do(watch: bool) -> None:
    views, copies = digits_model(batchnorm=True), digits_model(batchnorm=True, copy=True)
    assert not views.copies and copies.copies and copies.mirror is not None
    assert not np.shares_memory(module_vector(copies), copies.params)
    np.testing.assert_array_equal(copies.params, views.params)
    if watch:
        watched(copies)
    x, y = batch(64)
    for start in range(0, 64, 16):
        losses = [m.train_step(x[start:start + 16], y[start:start + 16], nullcontext())
                  for m in (views, copies)]  # fmt: skip
        assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    # watched and nothing else wrote: the copy read back is the vector, bit for bit
    if watch:
        np.testing.assert_array_equal(copies.params, views.params)
    np.testing.assert_allclose(copies.params, views.params, atol=1e-6)
    np.testing.assert_array_equal(module_vector(copies), copies.params)
    assert copies.mirror.copies_out == 4  # one transfer back per step
    assert copies.mirror.copies_in == (1 if watch else 4)  # in: only when others wrote
    assert copies.evaluate(x, y) == pytest.approx(views.evaluate(x, y), rel=1e-5)


def test_an_increment_reaches_the_module_before_the_next_step() -> None:
    seen: list[np.ndarray] = []

    def batch_loss(net: Any, x: Any, y: Any) -> Any:  # records what the module computes with
        seen.append(torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy().copy())
        return nn.functional.cross_entropy(net(x), y)

    module = mlp()
    model = TorchModel(module, torch.optim.SGD(module.parameters(), lr=0.1),
                       batch_loss=batch_loss, copy=True)  # fmt: skip
    replica = watched(model)
    x, y = batch()
    model.train_step(x, y, replica.lock)
    increment = np.linspace(-1.0, 1.0, replica.num_params, dtype=np.float32)
    replica.add(increment, [slice(0, replica.num_params)])  # an exchange, between two steps
    expected = model.params.copy()
    model.train_step(x, y, replica.lock)
    np.testing.assert_array_equal(seen[-1], expected)
    assert model.mirror is not None and model.mirror.copies_in == 2
    model.train_step(x, y, replica.lock)  # no exchange since: no copy in
    assert model.mirror.copies_in == 2 and model.mirror.copies_out == 3
    replica.assign(np.zeros_like(model.params))  # a catch-up, then an evaluation
    model.evaluate(x, y)
    np.testing.assert_array_equal(module_vector(model), 0.0)


def test_a_step_keeps_an_exchange_that_lands_meanwhile() -> None:
    x, y = batch()
    plain, landed = digits_model(copy=True), digits_model(copy=True)
    replicas = [watched(plain), watched(landed)]
    plain.train_step(x, y, replicas[0].lock)
    landed.train_step(x, y, Landing(replicas[1], at=2))  # after the copy out, before the write
    np.testing.assert_allclose(landed.params - plain.params, 1.0, atol=1e-5)
    assert landed.mirror is not None and landed.mirror.copies_in == 1
    landed.train_step(x, y, replicas[1].lock)  # the module has the +1 before this step
    assert landed.mirror.copies_in == 2
    plain.train_step(x, y, replicas[0].lock)
    assert plain.mirror is not None and plain.mirror.copies_in == 1


def test_adam_moments_and_buffers_survive_a_checkpoint(tmp_path: Path) -> None:
    data = load_shard("digits", seed=0)
    _, again = resumed(tmp_path, lambda: digits_model(batchnorm=True, copy=True), data)
    assert isinstance(again.model, TorchModel) and again.model.copies
    # the same checkpoint resumed through views: the next step is the same step
    config = NodeConfig(id="c0", listen="sim0:1", checkpoint_dir=str(tmp_path))
    views = Node(config, transport=InMemoryNetwork(seed=2).transport(),
                 model=digits_model(batchnorm=True), data=data)  # fmt: skip
    np.testing.assert_array_equal(views.replica.params, again.replica.params)
    again.trainer.step()  # from the resumed vector, copied in: a write the model was told of
    views.trainer.step()
    assert int(again.model.optimizer.state_dict()["state"][0]["step"]) == 6
    np.testing.assert_allclose(again.replica.params, views.replica.params, atol=1e-6)
    np.testing.assert_array_equal(module_vector(again.model), again.replica.params)


def test_two_peers_on_the_copy_path_keep_the_mass_of_an_exchange(
    network: InMemoryNetwork,
) -> None:
    peers = []
    for i in range(2):
        config = NodeConfig(id=f"t{i}", listen=f"sim{i}:1", shard=(i, 2), compression="none")
        data = load_shard("digits", shard=(i, 2), seed=0)
        model = digits_model(copy=True)
        peer = Node(config, transport=network.transport(), model=model, data=data)
        peer.serve()
        peers.append(peer)
    models = [peer.model for peer in peers]
    assert all(isinstance(m, TorchModel) and m.mirror is not None for m in models)
    for _ in range(100):
        for peer in peers:
            peer.trainer.step()
        before = [peer.replica.params.copy() for peer in peers]
        assert peers[0].exchange_with(peers[1].id, peers[1].address)
        assert not np.array_equal(peers[0].replica.params, before[0])
        after = peers[0].replica.params + peers[1].replica.params
        np.testing.assert_allclose(after, before[0] + before[1], atol=1e-5)  # the mass kept
    for model in models:  # every step after an exchange copied the vector in
        assert model.mirror.copies_in == 100 and model.mirror.copies_out == 100  # type: ignore[attr-defined]
    evaluation = peers[0].trainer.evaluate()
    assert evaluation.metric > 0.9
    np.testing.assert_allclose(peers[0].replica.params, peers[1].replica.params, atol=0.05)
