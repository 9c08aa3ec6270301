"""PNG plots of a run from report dicts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from gossip.errors import UsageError
from gossip.plots import metric_name, plot_run, traffic_by_codec


def report(peer: int, metric: str = "accuracy") -> dict[str, Any]:
    history = [
        {"t": t, "step": 10 * t, "loss": 1.0 / (t + 1), metric: 0.5 + t / 40,
         "consensus_distance": None if t == 0 else 1.0 / t}
        for t in range(10)
    ]  # fmt: skip
    status = {"compression": "none", "bytes": {"sent": 1000 * (peer + 1), "received": 500}}
    return {"history": history, "status": status}


def test_plot_run_writes_a_png(tmp_path: Path) -> None:
    reports = {"node-0": report(0), "node-1": report(1), "node-2": None}
    path = plot_run(reports, tmp_path / "run" / "cluster.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert traffic_by_codec(reports) == {"none": (3000, 1000)}


def test_plot_run_copes_with_empty_histories_and_regression(tmp_path: Path) -> None:
    reports = {"node-0": {"history": [], "status": None}, "node-1": report(1, "r2")}
    assert metric_name(reports) == "r2"
    assert plot_run(reports, tmp_path / "x.png").exists()
    assert plot_run({}, tmp_path / "empty.png").exists()


def test_without_matplotlib_plotting_is_one_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(UsageError, match=r"^plots need matplotlib, not installed: "
                       r"pip install 'gossip-train\[plots\]'$"):  # fmt: skip
        plot_run({"node-0": report(0)}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
