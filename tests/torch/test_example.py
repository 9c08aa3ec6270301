"""examples/torch_cnn.py: a PyTorch CNN as gossip-node peers (real processes) and centrally."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import node_command
from tests.integration.test_cli_errors import assert_usage_error

REPO = Path(__file__).resolve().parents[2]


def test_a_bare_module_from_a_factory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bare.py").write_text(
        "import torch\n\ndef model():\n    return torch.nn.Linear(64, 10)\n"
    )
    result = subprocess.run(
        node_command("--model-factory", "bare:model", "--duration", "5"),
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert_usage_error(result, "a torch module needs its optimizer and loss", "TorchModel(")


@pytest.mark.slow
def test_the_cnn_example_gossip_trains_two_peers_near_the_centralized_cnn() -> None:
    result = subprocess.run(
        [sys.executable, "examples/torch_cnn.py", "--peers", "2", "--steps", "150"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    peers = re.search(r"accuracy mean ([0-9.]+) .*, (\d+) exchanges", result.stdout)
    central = re.search(r"trained centrally on 9600 samples: ([0-9.]+)", result.stdout)
    assert peers and central, result.stdout
    assert int(peers[2]) >= 20  # they did gossip
    assert float(peers[1]) > 0.85 and float(central[1]) > 0.85
    assert abs(float(central[1]) - float(peers[1])) < 0.08  # 150 steps: far from the figure's 1500
