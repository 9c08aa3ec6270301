"""Flags gossip-cluster must make per child: children share a host but not ports or state."""

from __future__ import annotations

from pathlib import Path

from gossip.cli.launcher import per_child_args


def test_metrics_port_is_offset_per_child_and_zero_stays_zero() -> None:
    assert per_child_args(["--metrics-port", "9100"], 3, "node-3") == ["--metrics-port", "9103"]
    assert per_child_args(["--metrics-port=9100"], 1, "node-1") == ["--metrics-port", "9101"]
    assert per_child_args(["--metrics-port", "0"], 2, "node-2") == []


def test_checkpoint_dir_gets_a_directory_per_child() -> None:
    args = per_child_args(["--checkpoint-dir", "ckpt", "--lr", "0.1"], 2, "node-2")
    assert args == ["--checkpoint-dir", str(Path("ckpt") / "node-2")]


def test_other_flags_need_nothing() -> None:
    assert per_child_args(["--dataset", "digits"], 0, "node-0") == []
