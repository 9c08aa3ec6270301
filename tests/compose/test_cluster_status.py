"""``make cluster-status`` (scripts/cluster_status.py) with a peer whose container is gone."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster_status.py"
DAEMON_ERROR = "Error response from daemon: Container 1c143048c59c is not running"


@pytest.fixture
def cluster_status() -> ModuleType:
    return load_script("cluster_status", SCRIPT)


def status(node_id: str, loss: float | None) -> dict[str, Any]:
    return {
        "id": node_id, "step": 579, "loss": loss, "accuracy": 0.9554,
        "exchanges": {"ok": 45, "failed": 0, "refused": 0},
        "members": [{"state": "alive"}, {"state": "alive"}, {"state": "dead"}],
    }  # fmt: skip


def fake_docker(returncode: int, stdout: str, stderr: str) -> Any:
    def run(container: str) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(["docker"], returncode, stdout, stderr)

    return run


def test_a_killed_container_keeps_its_error_out_of_the_columns(
    cluster_status: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_status, "_exec_status", fake_docker(1, "", DAEMON_ERROR + "\n"))
    killed = cluster_status.peer_status("gossip_peer_4")
    assert killed == {"error": DAEMON_ERROR}
    lines = cluster_status.table(
        ["gossip_peer_1", "gossip_peer_2", "gossip_peer_4"],
        [status("a1", 0.013), status("b2", None), killed],
    )
    head, one, two, four = lines[:4]
    assert head.split() == cluster_status.HEAD
    # every row has one cell per column: nothing of the daemon's text inside the table
    assert one.split() == [
        "gossip_peer_1",
        "a1",
        "579",
        "0.0130",
        "0.9554",
        "45/0/0",
        "2/3",
        "dead",
    ]
    assert two.split()[3] == "-"  # no training step yet: no loss
    assert four.split() == ["gossip_peer_4", *["-"] * 6, "no", "answer"]
    assert lines[4] == f"gossip_peer_4: {DAEMON_ERROR}"
    assert lines[5].startswith("2/3 peers answer")
    assert all("daemon" not in line for line in lines[:4])


def test_output_that_is_not_json_is_one_error(
    cluster_status: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_status, "_exec_status", fake_docker(0, "Traceback (most", ""))
    assert cluster_status.peer_status("gossip_peer_1") == {
        "error": "gossip-ctl printed no status JSON"
    }
