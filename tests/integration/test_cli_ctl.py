"""gossip-ctl against real gossip-node processes on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from gossip.cli.launcher import Launcher, free_ports

STATUS_KEYS = {
    "id", "address", "generation", "uptime_s", "step", "loss", "accuracy",
    "exchanges", "bytes", "model", "compression", "members",
}  # fmt: skip


def ctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gossip.cli.ctl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    run_dir = tmp_path_factory.mktemp("ctl")
    with Launcher(2, run_dir, ["--dataset", "digits"]) as launcher:
        launcher.wait_ready(timeout=60)
        yield launcher


@pytest.mark.slow
def test_status_json_has_the_readme_keys(two_nodes: Launcher) -> None:
    target = two_nodes.children[0].address
    result = ctl("status", "--target", target, "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert set(status) >= STATUS_KEYS
    assert status["id"] == "node-0"
    assert status["address"] == target
    assert set(status["exchanges"]) == {"ok", "failed", "refused"}
    assert set(status["bytes"]) >= {"sent", "received"}
    assert set(status["model"]) == {"params", "fingerprint"}
    for member in status["members"]:
        assert set(member) >= {"id", "address", "state", "generation", "last_heard_s"}
        assert member["state"] in ("alive", "suspect", "dead", "left")


@pytest.mark.slow
def test_status_table_names_the_node_and_its_members(two_nodes: Launcher) -> None:
    # membership converges in the background: poll until node-1 is in node-0's view
    target = two_nodes.children[0].address
    deadline = time.monotonic() + 60
    while True:
        result = ctl("status", "--target", target)
        assert result.returncode == 0, result.stderr
        if "node-1" in result.stdout or time.monotonic() > deadline:
            break
    assert "node node-0" in result.stdout
    assert "members" in result.stdout
    assert "node-1" in result.stdout


@pytest.mark.slow
def test_unreachable_target_is_one_line_and_exit_1() -> None:
    (port,) = free_ports(1)
    result = ctl("status", "--target", f"127.0.0.1:{port}", "--timeout", "2")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gossip-ctl: cannot get status")
    assert f"127.0.0.1:{port}" in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--target", "nohostport"],
        ["status", "--target", "127.0.0.1:99999"],
        ["status", "--target", "127.0.0.1:0"],
        ["status", "--target", "127.0.0.1:5000", "--timeout", "0"],
        ["status"],
        ["frobnicate"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str]) -> None:
    result = ctl(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
