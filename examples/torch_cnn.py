"""A PyTorch CNN gossip-trained on the built-in 8x8 digits, against the same CNN trained centrally.

As a factory, one peer per command (any number of them, on any hosts), or N
peers on this machine with their live table::

    gossip-node --model-factory examples.torch_cnn:model --dataset digits --shard 0/2 ...
    gossip-cluster --nodes 4 --model-factory examples.torch_cnn:model --max-steps 1000 \
        --duration 40 --compare-centralized

As a script: N peers (real processes on 127.0.0.1) train ``--steps`` each,
then the same CNN from the same initial weights is trained centrally on as
many samples (batch 32, N times the steps), and both held-out accuracies are
printed, the gap last::

    python examples/torch_cnn.py --peers 8 --steps 1500
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gossip.adapters.torch import TorchModel
from gossip.config import NodeConfig

REPO = Path(__file__).resolve().parents[1]
"""Where ``examples.torch_cnn`` imports from: the peers and the baseline load it as a module."""
FACTORY = "examples.torch_cnn:model"


def cnn() -> nn.Module:
    """Two 3x3 convolutions on the 8x8 image (BatchNorm after the first), then a linear layer."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),  # the data sets hand rows of 64 pixels
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),  # its running statistics stay local to each peer
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10),
    )


def model(config: NodeConfig) -> TorchModel:
    """The CNN, Adam and cross-entropy; seeded so that every peer starts from the same weights."""
    if config.blas_threads:  # several peers share this host's cores: one thread each by default
        torch.set_num_threads(config.blas_threads)
    torch.manual_seed(config.seed)
    net = cnn()
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr or 1e-3)
    return TorchModel(net, optimizer, nn.CrossEntropyLoss())


def gossip_peers(peers: int, steps: int, run_dir: Path) -> dict[str, Any]:
    """``peers`` gossip-node processes on digits until each took ``steps``; their reports."""
    from gossip.cli.launcher import Launcher

    flags = ["--model-factory", FACTORY, "--dataset", "digits", "--max-steps", str(steps),
             "--eval-interval", "0.5", "--log-level", "warning"]  # fmt: skip
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    began = time.monotonic()
    with Launcher(peers, run_dir, flags, env={"PYTHONPATH": path}) as launcher:
        launcher.wait_ready(timeout=120)
        if not launcher.wait_steps(steps, settle=3.0, timeout=600):  # then 3 s of averaging
            raise SystemExit(f"the peers did not reach {steps} steps within 600 s")
        launcher.stop(15.0)
        reports = launcher.reports()
    finals = [r["status"] for r in reports.values() if r]
    if len(finals) != peers:
        raise SystemExit(f"only {len(finals)} of {peers} peers wrote a report (logs: {run_dir})")
    accuracies = [s["accuracy"] for s in finals]
    return {
        "accuracy_mean": statistics.fmean(accuracies),
        "accuracy_min": min(accuracies),
        "accuracy_max": max(accuracies),
        "samples": sum(s["samples_seen"] for s in finals),
        "exchanges_ok": sum(s["exchanges"]["ok"] for s in finals) // 2,
        "seconds": time.monotonic() - began,
    }


def compare(peers: int, steps: int, run_dir: Path) -> dict[str, Any]:
    """The gossip peers' mean held-out accuracy against the centralized CNN's, same samples."""
    from gossip.baseline import centralized

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    gossip = gossip_peers(peers, steps, run_dir)
    central = centralized(NodeConfig(dataset="digits", model_factory=FACTORY), gossip["samples"])
    return {
        "peers": peers,
        "steps": steps,
        "gossip": gossip,
        "centralized_accuracy": central["accuracy"],
        "centralized_steps": central["steps"],
        "gap_points": 100 * (central["accuracy"] - gossip["accuracy_mean"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--peers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500, help="training steps per peer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="torch-cnn-") as tmp:
        result = compare(args.peers, args.steps, Path(tmp))
    gossip = result["gossip"]
    print(f"{args.peers} gossip peers, {args.steps} steps each: held-out accuracy mean "
          f"{gossip['accuracy_mean']:.4f} (min {gossip['accuracy_min']:.4f}, "
          f"max {gossip['accuracy_max']:.4f}), {gossip['exchanges_ok']} exchanges")  # fmt: skip
    print(f"the same CNN trained centrally on {gossip['samples']} samples: "
          f"{result['centralized_accuracy']:.4f}")  # fmt: skip
    print(f"gap: {result['gap_points']:.2f} points")


if __name__ == "__main__":
    main()
