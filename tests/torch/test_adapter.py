"""A torch module behind the seam: its parameters are views into the gossiped vector (CPU)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import gossip
from gossip.adapters import adapt
from gossip.adapters.torch import TorchModel
from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.errors import UsageError
from gossip.node import Node
from gossip.trainable import Feed
from gossip.transport.memory import InMemoryNetwork
from tests.sim.conftest import resumed


def mlp(hidden: int = 32, batchnorm: bool = False) -> nn.Module:
    torch.manual_seed(0)
    norm: list[nn.Module] = [nn.BatchNorm1d(hidden)] if batchnorm else []
    return nn.Sequential(nn.Linear(64, hidden), *norm, nn.ReLU(), nn.Linear(hidden, 10))


def digits_model(hidden: int = 32, batchnorm: bool = False, copy: bool | None = None) -> TorchModel:
    module = mlp(hidden, batchnorm)
    return TorchModel(module, torch.optim.Adam(module.parameters(), lr=1e-2),
                      nn.CrossEntropyLoss(), copy=copy)  # fmt: skip


class Landing:
    """The replica lock, with an exchange that lands while the step runs (+1 everywhere)."""

    def __init__(self, params: np.ndarray) -> None:
        self.params = params

    def __enter__(self) -> None:
        self.params += 1.0  # before the optimizer writes: what an exchange thread may do

    def __exit__(self, *exc: object) -> None:
        pass


def batch(rows: int = 32) -> tuple[np.ndarray, np.ndarray]:
    train, _ = load_shard("digits", seed=0)
    return train.x[:rows], train.y[:rows]


def test_module_parameters_are_views_into_the_flat_vector() -> None:
    model = digits_model()
    first = next(model.module.parameters())
    model.params[0] = 42.0  # what an exchange does, in place
    assert float(first.detach().reshape(-1)[0]) == 42.0
    assert model.params.size == 64 * 32 + 32 + 32 * 10 + 10
    x, y = batch()
    before = model.params.copy()
    model.train_step(x, y, nullcontext())  # Adam writes through the views: same memory
    assert not np.array_equal(model.params, before)
    assert np.shares_memory(first.detach().numpy(), model.params)


def test_a_step_keeps_an_exchange_that_lands_meanwhile() -> None:
    x, y = batch()
    plain, landed = digits_model(), digits_model()
    plain.train_step(x, y, nullcontext())
    landed.train_step(x, y, Landing(landed.params))
    np.testing.assert_allclose(landed.params - plain.params, 1.0, atol=1e-5)


def test_what_it_cannot_gossip_is_refused_in_one_line() -> None:
    double = nn.Linear(3, 1).double()
    with pytest.raises(UsageError, match=r"float32 .*module\.float\(\).*weight \(torch\.float64"):
        TorchModel(double, torch.optim.SGD(double.parameters(), lr=0.1), nn.MSELoss())
    empty = nn.Linear(3, 1, device="meta")  # shapes without values
    with pytest.raises(UsageError, match="meta device, without values"):
        TorchModel(empty, torch.optim.SGD(empty.parameters(), lr=0.1), nn.MSELoss())
    with pytest.raises(
        UsageError,
        match="copy=False needs parameters in host memory; these are on meta",
    ):
        TorchModel(empty, torch.optim.SGD(empty.parameters(), lr=0.1), nn.MSELoss(), copy=False)
    mixed = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1, device="meta"))
    with pytest.raises(UsageError, match=r"several devices \(cpu, meta\)"):
        TorchModel(mixed, torch.optim.SGD(mixed.parameters(), lr=0.1), nn.MSELoss())
    with pytest.raises(UsageError, match="needs its optimizer and loss"):
        adapt(nn.Linear(3, 1))
    linear = nn.Linear(3, 1)
    with pytest.raises(UsageError, match="loss_fn"):
        TorchModel(linear, torch.optim.SGD(linear.parameters(), lr=0.1))


def test_parameters_moved_after_wrapping_stop_training_with_one_line() -> None:
    model = digits_model()
    model.module.double()  # new tensors: the flat vector would no longer be the model
    x, y = batch()
    with pytest.raises(UsageError, match="replaced after TorchModel wrapped them"):
        model.train_step(x.astype(np.float64), y, nullcontext())


def test_the_fingerprint_names_the_architecture() -> None:
    assert digits_model().fingerprint() == digits_model().fingerprint()
    assert digits_model(hidden=33).fingerprint() != digits_model().fingerprint()
    # the same parameter shapes in other layers are another model
    assert digits_model(batchnorm=True).fingerprint() != digits_model().fingerprint()


def test_batchnorm_statistics_stay_local_and_out_of_the_vector() -> None:
    model = digits_model(batchnorm=True)
    norm = model.module[1]
    assert model.params.size == 64 * 32 + 32 + 2 * 32 + 32 * 10 + 10  # weight, bias: averaged
    assert not np.shares_memory(norm.running_mean.numpy(), model.params)
    x, y = batch()
    model.train_step(x, y, nullcontext())
    assert int(norm.num_batches_tracked) == 1 and float(norm.running_mean.abs().sum()) > 0


def test_a_users_own_batch_loss_trains_and_evaluates() -> None:
    module = mlp()

    def batch_loss(net: Any, x: Any, y: Any) -> Any:  # e.g. a penalty on the weights
        return nn.functional.cross_entropy(net(x), y) + 1e-4 * net[0].weight.square().sum()

    model = TorchModel(module, torch.optim.Adam(module.parameters(), lr=1e-2),
                       batch_loss=batch_loss)  # fmt: skip
    x, y = batch(128)
    first = model.train_step(x, y, nullcontext())
    for _ in range(20):
        last = model.train_step(x, y, nullcontext())
    assert last < 0.5 * first
    assert set(model.evaluate(x, y)) == {"loss"}


def test_two_torch_peers_learn_digits_and_agree(network: InMemoryNetwork) -> None:
    peers = []
    for i in range(2):
        config = NodeConfig(id=f"t{i}", listen=f"sim{i}:1", shard=(i, 2), compression="none")
        data = load_shard("digits", shard=(i, 2), seed=0)
        peer = Node(
            config, transport=network.transport(), model=digits_model(batchnorm=True), data=data
        )
        peer.serve()
        peers.append(peer)
    for _ in range(150):
        for peer in peers:
            peer.trainer.step()
        assert peers[0].exchange_with(peers[1].id, peers[1].address)
    evaluation = peers[0].trainer.evaluate()
    assert evaluation.metric_name == "accuracy" and evaluation.metric > 0.9
    np.testing.assert_allclose(peers[0].replica.params, peers[1].replica.params, atol=0.05)
    means = [peer.model.module[1].running_mean for peer in peers]  # type: ignore[attr-defined]
    assert not torch.equal(means[0], means[1])  # local: each peer's own batches


def test_a_torch_dataloader_feeds_a_peer(network: InMemoryNetwork) -> None:
    train, test = load_shard("digits", seed=0)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(train.x), torch.from_numpy(train.y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)
    config = NodeConfig(id="t0", listen="sim0:1")
    peer = Node(config, transport=network.transport(), model=digits_model(),
                data=Feed(loader, [(test.x, test.y)], name="loader"))  # fmt: skip
    steps = -(-len(train) // 32)
    for _ in range(2 * steps):  # two epochs: the loader is iterated again when it ends
        assert peer.trainer.step() is not None
    assert peer.trainer.samples_seen == 2 * len(train)
    assert peer.trainer.evaluate().metric > 0.9


def test_adam_moments_and_buffers_survive_a_checkpoint(tmp_path: Path) -> None:
    first, again = resumed(tmp_path, lambda: digits_model(batchnorm=True),
                           load_shard("digits", seed=0))  # fmt: skip
    saved = first.model.optimizer_state()
    assert {"torch/0/exp_avg", "torch/0/exp_avg_sq", "torch/0/step"} <= saved.keys()
    assert {"buffer/1.running_mean", "buffer/1.num_batches_tracked"} <= saved.keys()
    again.trainer.step()  # Adam goes on from step 5 with the restored moments
    assert int(again.model.optimizer.state_dict()["state"][0]["step"]) == 6


def test_a_checkpoint_of_another_module_is_refused() -> None:
    state = digits_model(batchnorm=True).optimizer_state()
    with pytest.raises(ValueError, match="buffers are for another module"):
        digits_model().load_optimizer_state(state)


def test_gossip_fit_trains_a_torch_model_alone() -> None:
    train, test = load_shard("digits", seed=0)
    model = digits_model()
    status = gossip.fit(model, train.x, train.y, epochs=2, validation_data=(test.x, test.y),
                        listen="127.0.0.1:0", id="alone", bootstrap=False)  # fmt: skip
    assert status.step == 2 * (len(train) // 32) and (status.accuracy or 0.0) > 0.9
    with torch.no_grad():  # the module itself holds the peer's parameters: they are one memory
        predicted = model.module(torch.from_numpy(test.x)).argmax(dim=1).numpy()
    assert float((predicted == test.y).mean()) == pytest.approx(status.accuracy)
