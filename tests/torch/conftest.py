"""The torch tier: PyTorch models as peers (gossip-train[torch]; ``make torch`` installs it).

Skipped as a whole, with one line, when PyTorch is not installed.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="PyTorch not installed: pip install 'gossip-train[torch]'")

import torch

from tests.sim.conftest import network  # noqa: F401  (the in-memory network)

torch.set_num_threads(1)  # the tests share a small machine (the example's peers: one each)
