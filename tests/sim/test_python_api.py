"""A peer built in Python from the user's own arrays says so, and reports no loss before a step."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gossip.config import NodeConfig
from gossip.data import Dataset, from_arrays
from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork


def own_data() -> tuple[Dataset, Dataset]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return from_arrays(x[:60], y[:60], name="mine"), from_arrays(x[60:], y[60:], name="mine")


def test_status_names_the_data_given_in_python(network: InMemoryNetwork) -> None:
    node = Node(
        NodeConfig(id="p0", listen="sim0:1"), transport=network.transport(), data=own_data()
    )
    node.serve()
    status = node.status()
    assert status.dataset == "mine"
    assert status.loss is None  # no training step yet: null, not 0.0
    node.trainer.step()
    assert isinstance(node.status().loss, float)


def test_listening_line_names_the_data_given_in_python(
    network: InMemoryNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    config = NodeConfig(id="p0", listen="sim0:1", bootstrap=False)
    node = Node(config, transport=network.transport(), data=own_data())
    with caplog.at_level(logging.INFO, logger="gossip.node"):
        node.start()
        node.shutdown(grace=0.0)
    listening = [r.getMessage() for r in caplog.records if "listening on" in r.getMessage()]
    assert len(listening) == 1 and "of mine," in listening[0] and "digits" not in listening[0]
