"""gossip-cluster --compare-centralized: both baselines in cluster.json and in the summary."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console

from gossip.cli.cluster import mean_steps, parse_plan, print_summary, run_baselines, summarize
from gossip.cli.launcher import Child, Launcher


def report(step: int, accuracy: float, batch: int = 32) -> dict[str, Any]:
    status = {"step": step, "samples_seen": step * batch, "accuracy": accuracy}
    return {"status": status, "history": [{"loss": 0.1}]}


def launcher_of(reports: dict[str, Any], run_dir: Path) -> Launcher:
    """A launcher whose children never started: summarize only reads who they were."""
    launcher = Launcher(len(reports), run_dir)
    for i, node_id in enumerate(reports):
        path = run_dir / node_id
        launcher.children.append(
            Child(node_id, f"127.0.0.1:{5000 + i}", [], path.with_suffix(".log"), path)
        )
    return launcher


def test_mean_steps_is_over_the_peers_that_reported() -> None:
    assert mean_steps({"a": report(100, 0.9), "b": report(51, 0.9), "c": None}) == 76
    assert mean_steps({"a": None}) == 0


def test_both_baselines_land_in_cluster_json_and_the_summary(tmp_path: Path) -> None:
    plan = parse_plan(
        ["--nodes", "2", "--dataset", "digits", "--run-dir", str(tmp_path), "--compare-centralized"]
    )
    reports: dict[str, Any] = {"node-0": report(80, 0.93), "node-1": report(80, 0.95)}
    central, sync = run_baselines(plan, reports, Console(file=io.StringIO()))
    assert central is not None and sync is not None
    assert central["samples_seen"] == 2 * 80 * 32
    assert (sync["workers"], sync["steps"], sync["global_batch"]) == (2, 80, 64)
    assert [h["step"] for h in sync["history"]] == list(range(4, 81, 4))  # 20 points

    summary = summarize(plan, launcher_of(reports, tmp_path), reports, None, central, sync)
    assert summary["centralized"] is central
    assert summary["synchronous"] is sync
    out = io.StringIO()
    print_summary(summary, reports, Console(file=out, width=300))
    text = out.getvalue()
    assert "centralized: accuracy" in text
    assert "whole train split, batch 32, 5120 samples" in text
    assert "synchronous data-parallel: accuracy" in text
    assert "2 workers x batch 32 = global batch 64, 80 steps" in text
    gap_central = 0.94 - central["metric"]["value"]
    gap_sync = 0.94 - sync["metric"]["value"]
    assert f"gossip mean - centralized: {gap_central:+.4f}" in text
    assert f"gossip mean - synchronous: {gap_sync:+.4f}" in text


def test_no_samples_no_baselines(tmp_path: Path) -> None:
    plan = parse_plan(["--nodes", "2", "--run-dir", str(tmp_path), "--compare-centralized"])
    out = io.StringIO()
    assert run_baselines(plan, {"node-0": None}, Console(file=out)) == (None, None)
    assert "baselines skipped" in out.getvalue()


def test_with_a_model_factory_only_the_centralized_baseline_runs(
    tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "cluster_factory.py").write_text(
        "from gossip.model import mlp\n\n"
        "def model():\n    return mlp(64, [8], 10, 'classification')\n"
    )
    monkeypatch.chdir(tmp_path)
    flags = ["--model-factory", "cluster_factory:model", "--compare-centralized"]
    plan = parse_plan(["--nodes", "2", "--dataset", "digits", "--run-dir", str(tmp_path), *flags])
    out = io.StringIO()
    reports: dict[str, Any] = {"node-0": report(20, 0.5), "node-1": report(20, 0.5)}
    central, sync = run_baselines(plan, reports, Console(file=out))
    assert sync is None and "synchronous baseline skipped" in out.getvalue()
    assert central is not None and central["samples_seen"] == 2 * 20 * 32
