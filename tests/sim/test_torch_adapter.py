"""A torch module behind the seam: its parameters are views into the gossiped vector (CPU).

Not run in CI today: PyTorch is not installed there (see the README's Tests section).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch not installed: pip install 'gossip-train[torch]'"
)

from gossip.adapters.torch import TorchModel  # noqa: E402
from gossip.config import NodeConfig  # noqa: E402
from gossip.data import load_shard  # noqa: E402
from gossip.errors import UsageError  # noqa: E402
from gossip.node import Node  # noqa: E402
from gossip.transport.memory import InMemoryNetwork  # noqa: E402


def digits_model(features: int = 64, classes: int = 10) -> TorchModel:
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(features, 32), torch.nn.ReLU(), torch.nn.Linear(32, classes)
    )
    return TorchModel(module, torch.optim.Adam(module.parameters(), lr=1e-2),
                      torch.nn.CrossEntropyLoss())  # fmt: skip


def test_module_parameters_are_views_into_the_flat_vector() -> None:
    model = digits_model()
    first = next(model.module.parameters())
    model.params[0] = 42.0  # what an exchange does, in place
    assert float(first.reshape(-1)[0]) == 42.0
    assert model.params.size == 64 * 32 + 32 + 32 * 10 + 10


def test_float64_parameters_are_refused_in_one_line() -> None:
    module = torch.nn.Linear(3, 1).double()
    with pytest.raises(UsageError, match="float32"):
        TorchModel(module, torch.optim.SGD(module.parameters(), lr=0.1), torch.nn.MSELoss())


def test_two_torch_peers_learn_digits_and_agree(network: InMemoryNetwork) -> None:
    peers = []
    for i in range(2):
        config = NodeConfig(id=f"t{i}", listen=f"sim{i}:1", shard=(i, 2), compression="none")
        data = load_shard("digits", shard=(i, 2), seed=0)
        peer = Node(config, transport=network.transport(), model=digits_model(), data=data)
        peer.serve()
        peers.append(peer)
    for _ in range(150):
        for peer in peers:
            peer.trainer.step()
        assert peers[0].exchange_with(peers[1].id, peers[1].address)
    evaluation = peers[0].trainer.evaluate()
    assert evaluation.metric_name == "accuracy" and evaluation.metric > 0.9
    np.testing.assert_allclose(peers[0].replica.params, peers[1].replica.params, atol=0.05)


def test_adam_moments_survive_a_checkpoint(network: InMemoryNetwork, tmp_path: Path) -> None:
    data = load_shard("digits", seed=0)
    config = NodeConfig(id="t0", listen="sim0:1", checkpoint_dir=str(tmp_path))
    first = Node(config, transport=network.transport(), model=digits_model(), data=data)
    for _ in range(5):
        first.trainer.step()
    saved = first.model.optimizer_state()
    assert first.save_checkpoint() is not None
    again = Node(config, transport=InMemoryNetwork(seed=1).transport(), model=digits_model(),
                 data=data)  # fmt: skip
    assert again.recovery.resumed and again.trainer.steps == 5
    np.testing.assert_array_equal(again.replica.params, first.replica.params)
    loaded = again.model.optimizer_state()
    assert saved.keys() == loaded.keys()
    for key in saved:
        np.testing.assert_allclose(np.asarray(loaded[key]).reshape(-1),
                                   np.asarray(saved[key]).reshape(-1))  # fmt: skip
