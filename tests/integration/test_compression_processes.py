"""Real gossip-node processes with top-k: they learn while sending a small fraction of the bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossip.exchanger import ROUTINE_REFUSALS

from .conftest import Processes, free_port, wait_for

pytestmark = pytest.mark.slow

FAST = ["--gossip-interval", "0.05", "--heartbeat-interval", "0.2", "--eval-interval", "0.5"]


def test_topk_peers_learn_with_a_fraction_of_the_bytes(procs: Processes, tmp_path: Path) -> None:
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    for i, address in enumerate(addresses):
        procs.node(
            f"k{i}", "--listen", address, "--peers", addresses[(i + 1) % 3], "--shard", f"{i}/3",
            "--compression", "topk:0.01", *FAST,
        )  # fmt: skip

    def learned() -> bool:
        views = [procs.status(a) for a in addresses]
        return all(
            v is not None and v["exchanges"]["ok"] >= 30 and (v["accuracy"] or 0) >= 0.9
            for v in views
        )

    wait_for(learned, 90, "every top-k peer to exchange 30 times and reach 90% accuracy")
    for address in addresses:
        view = procs.status(address)
        assert view is not None and view["compression"] == "topk:0.01"
        assert set(view["protection"]["refusals"]) <= set(ROUTINE_REFUSALS)
        topk = view["bytes"]["by_codec"]["topk:0.01"]
        float32_message = 4 * view["model"]["params"]
        # one message per exchange (our offer or our reply); framing included
        assert topk["sent"] / view["exchanges"]["ok"] < float32_message / 40, topk
        assert view["references"]["count"] >= 1
