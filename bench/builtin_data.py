"""How hard each built-in classification task is for the default peer model.

For digits, clusters and synthetic (defaults): centralized held-out accuracy
after as many samples as 8 peers take in 100, 500, 1500 and 4000 steps at
batch 32, and in 1500 steps at batch 100; and peer 0 of 8 trained alone for
1500 steps (no gossip). These are the figures of the README's built-in table.

    python bench/builtin_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result

from gossip.baseline import alone, centralized
from gossip.config import NodeConfig

DATASETS = ("digits", "clusters", "synthetic")
PEERS = 8
STEPS = (100, 500, 1500, 4000)
PEER_STEPS = 1500


def measure(name: str) -> dict[str, Any]:
    at_32 = NodeConfig(dataset=name, batch_size=32)
    at_100 = NodeConfig(dataset=name, batch_size=100)
    curve = {steps: centralized(at_32, PEERS * steps * 32)["accuracy"] for steps in STEPS}
    return {
        "centralized_batch32_by_peer_steps": curve,
        "centralized_batch100": centralized(at_100, PEERS * PEER_STEPS * 100)["accuracy"],
        "alone_batch32": alone(NodeConfig(dataset=name, shard=(0, PEERS)), PEER_STEPS * 32)[
            "accuracy"
        ],
        "alone_batch100": alone(
            NodeConfig(dataset=name, batch_size=100, shard=(0, PEERS)), PEER_STEPS * 100
        )["accuracy"],
    }


def main() -> int:
    results = {}
    for name in DATASETS:
        results[name] = measure(name)
        row = results[name]
        curve = ", ".join(
            f"{s}: {a:.4f}" for s, a in row["centralized_batch32_by_peer_steps"].items()
        )
        print(
            f"{name}: centralized batch 32 by steps of {PEERS} peers {{{curve}}}; "
            f"batch 100 at {PEER_STEPS}: {row['centralized_batch100']:.4f}; "
            f"peer 0/{PEERS} alone {PEER_STEPS} steps: {row['alone_batch32']:.4f} "
            f"(batch 100: {row['alone_batch100']:.4f})",
            flush=True,
        )
    write_result("builtin_data", {"machine": machine(), "datasets": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
