"""gossip-cluster end to end: real peers on 127.0.0.1, reports, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLUSTER = [sys.executable, "-m", "gossip.cli.cluster"]


def node_pids(run_dir: Path) -> set[int]:
    """gossip-node processes whose command line names this run dir (their --report)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        if "gossip.cli.node" in cmdline and str(run_dir) in cmdline:
            pids.add(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def poll(condition: object, timeout: float, what: str) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after ``timeout`` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_three_peers_on_digits_learn_and_leave_nothing_behind(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [*CLUSTER, "--nodes", "3", "--duration", "8", "--dataset", "digits",
         "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "cluster.json").read_text())
    assert summary["nodes"] == 3
    assert summary["stopped_early"] is None
    assert summary["metric_name"] == "accuracy"
    assert summary["metric"]["mean"] >= 0.9
    assert summary["total_samples"] > 0
    for peer in summary["peers"]:
        assert peer["exit_code"] == 0
        report = json.loads(Path(peer["report"]).read_text())
        assert report["status"]["exchanges"]["ok"] > 0
        assert report["status"]["id"] == peer["id"]
        assert not alive(peer["pid"])
    assert node_pids(run_dir) == set()
    assert "held-out accuracy over 3 peers: mean" in result.stdout


@pytest.mark.slow
def test_compare_centralized_adds_both_baselines(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [*CLUSTER, "--nodes", "2", "--duration", "3", "--max-steps", "300",
         "--run-dir", str(run_dir), "--compare-centralized"],
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "cluster.json").read_text())
    central = summary["centralized"]
    assert central["samples_seen"] >= summary["total_samples"]
    assert central["samples_seen"] - summary["total_samples"] < 32  # at most one batch more
    assert 0.0 <= central["accuracy"] <= 1.0
    sync = summary["synchronous"]
    steps = [peer["status"]["step"] for peer in summary["peers"]]
    assert sync["steps"] == round(sum(steps) / len(steps))  # 300 when both reached --max-steps
    assert sync["global_batch"] == 2 * 32
    assert 0.0 <= sync["accuracy"] <= 1.0
    assert "gossip mean - centralized" in result.stdout
    assert "gossip mean - synchronous" in result.stdout


@pytest.mark.slow
def test_sigint_stops_every_child_and_still_summarizes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*CLUSTER, "--nodes", "3", "--dataset", "digits", "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def all_listening() -> bool:
            logs = [run_dir / f"node-{i}.log" for i in range(3)]
            return all(p.exists() and "listening on" in p.read_text() for p in logs)

        poll(all_listening, 60, "three peers listening")
        pids = node_pids(run_dir)
        assert len(pids) == 3
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert not any(alive(pid) for pid in pids)
    assert "interrupted" in stderr
    summary = json.loads((run_dir / "cluster.json").read_text())
    assert summary["stopped_early"].startswith("interrupted")
    # every child was reaped; 0 when it left gracefully, -9 if it outlived --stop-grace
    assert all(p["exit_code"] is not None for p in summary["peers"])
    assert "final, per peer" in stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--nodes", "0"], "--nodes"),
        (["--nodes", "2", "--bogus"], "unrecognized"),
        (["--nodes", "2", "--peers", "127.0.0.1:1"], "--peers"),
        (["--nodes", "2", "--shard", "1/2"], "--shard"),
        (["--nodes", "2", "--optimizer", "nope"], "--optimizer"),
        (["--duration", "3"], "--nodes"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLUSTER, *args, "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert lines[0].startswith("gossip-cluster")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("where", ["under-a-file", "a-file"])
def test_unusable_run_dir_is_one_line(where: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    run_dir = blocker / "run" if where == "under-a-file" else blocker
    result = subprocess.run(
        [*CLUSTER, "--nodes", "2", "--duration", "1", "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("gossip-cluster: error: ") and str(run_dir) in lines[0]


@pytest.mark.slow
def test_every_peer_failing_is_an_error_that_says_why(tmp_path: Path) -> None:
    """The peers' one-line errors are in their logs; gossip-cluster must repeat the first."""
    missing = tmp_path / "missing.csv"
    result = subprocess.run(
        [*CLUSTER, "--nodes", "2", "--dataset", str(missing), "--duration", "3",
         "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    failed = [line for line in result.stderr.splitlines() if "exited with code 2" in line]
    assert len(failed) == 1, result.stderr
    assert str(missing) in failed[0] and "no such file" in failed[0]
    assert "Traceback" not in result.stderr
