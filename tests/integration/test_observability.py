"""Real gossip-node processes: /metrics, TensorBoard files, gossip-ctl cluster, start-up errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from gossip.cli.launcher import free_ports

from .conftest import Processes, node_command, wait_for

REQUIRED = (
    "gossip_steps_total", "gossip_loss", "gossip_accuracy", "gossip_exchanges_total",
    "gossip_bytes_sent_total", "gossip_bytes_received_total",
    "gossip_exchange_duration_seconds_bucket", "gossip_members", "gossip_consensus_distance",
    "gossip_neighbour_staleness_seconds", "gossip_checkpoint_age_seconds",
)  # fmt: skip


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gossip.cli.ctl", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.slow
def test_three_peers_seen_through_metrics_tensorboard_and_ctl(
    procs: Processes, tmp_path: Path
) -> None:
    ports = free_ports(6)
    addresses = [f"127.0.0.1:{p}" for p in ports[:3]]
    tb = tmp_path / "tb"
    for i in range(3):
        procs.node(
            f"n{i}", "--listen", addresses[i], "--peers", addresses[0],
            "--metrics-port", str(ports[3 + i]), "--tensorboard-dir", str(tb),
            "--step-rate", "100", "--eval-interval", "0.3", "--gossip-interval", "0.1",
            "--compression", "none",  # the distance estimate needs full snapshots (metered.py)
        )  # fmt: skip

    def distance_known() -> str | None:
        text = scrape(ports[3])
        line = next(
            (x for x in text.splitlines() if x.startswith("gossip_consensus_distance ")), ""
        )
        return text if line and "NaN" not in line else None

    text = wait_for(distance_known, 120, "a finite consensus distance on n0's /metrics")
    for name in REQUIRED:
        assert name in text, name

    def all_answering() -> dict[str, object] | None:
        result = ctl("cluster", "--target", addresses[1], "--json")
        doc = json.loads(result.stdout) if result.returncode == 0 else {}
        return doc if doc.get("answering") == 3 else None

    doc = wait_for(all_answering, 120, "gossip-ctl cluster to see 3 answering peers")
    assert {p["id"] for p in doc["peers"]} == {"n0", "n1", "n2"}

    wait_for(lambda: len(list(tb.glob("n*/events.out.tfevents.*"))) == 3, 60, "3 event files")

    procs.children[2].send_signal(signal.SIGKILL)
    procs.children[2].wait()

    def n2_unreachable() -> bool:
        result = ctl("cluster", "--target", addresses[0], "--json", "--timeout", "1")
        peers = {p["id"]: p for p in json.loads(result.stdout)["peers"]}
        return "n2" in peers and not peers["n2"]["reachable"]

    wait_for(n2_unreachable, 30, "n2 shown unreachable")
    table = ctl("cluster", "--target", addresses[0], "--timeout", "1")
    assert table.returncode == 0 and "n2" in table.stdout and "unreachable" in table.stdout


@pytest.mark.slow
def test_start_up_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    listen, metrics = free_ports(2)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = {
        "--tensorboard-dir": [
            "--listen", f"127.0.0.1:{listen}", "--tensorboard-dir", str(blocker / "tb"),
        ],
        "unknown key": ["--config", str(tmp_path / "bad.toml")],
    }  # fmt: skip
    (tmp_path / "bad.toml").write_text("gossip-intreval = 1\n")
    for needle, args in cases.items():
        result = subprocess.run(node_command(*args, "--duration", "5"), capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", metrics))
        busy.listen()
        args = ["--listen", f"127.0.0.1:{listen}", "--metrics-port", str(metrics)]
        result = subprocess.run(node_command(*args, "--duration", "5"), capture_output=True,
                                text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--metrics-port {metrics}" in lines[0], result.stderr
