"""PNG plots of a run from the peers' ``--report`` JSON (gossip-cluster, benchmarks).

One figure, four panels: held-out metric (accuracy or r2) and held-out loss
against time per peer, the consensus distance estimate against time per peer
(log scale; see :mod:`gossip.transport.metered`), and bytes sent and received
per codec summed over the peers. Reports only need ``history`` entries with
``t`` and the keys :meth:`gossip.node.Node._record` writes; what is missing
leaves its panel saying so. matplotlib is imported here only, with the Agg
backend (no display needed); it is an optional dependency
(``pip install 'gossip-train[plots]'``), and without it :func:`plot_run`
raises a UsageError of one line that says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gossip.errors import UsageError
from gossip.metrics import bytes_by_codec
from gossip.status import Status

Report = Mapping[str, Any]

INSTALL_HINT = "pip install 'gossip-train[plots]'"
"""What a user runs to get matplotlib (the package's ``plots`` extra)."""


def _series(report: Report, key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for entry in report.get("history") or []:
        value = entry.get(key)
        if value is None or "t" not in entry:
            continue
        value = float(value)
        if math.isfinite(value):
            xs.append(float(entry["t"]))
            ys.append(value)
    return xs, ys


def metric_name(reports: Mapping[str, Report | None]) -> str:
    """``accuracy`` unless the histories carry ``r2`` (regression)."""
    for report in reports.values():
        for entry in (report or {}).get("history") or []:
            if "r2" in entry:
                return "r2"
            if "accuracy" in entry:
                return "accuracy"
    return "accuracy"


def traffic_by_codec(reports: Mapping[str, Report | None]) -> dict[str, tuple[int, int]]:
    """Bytes (sent, received) per codec over all peers, from their final status."""
    total: dict[str, tuple[int, int]] = {}
    for report in reports.values():
        status = (report or {}).get("status")
        if not status:
            continue
        for codec, (sent, received) in bytes_by_codec(Status.from_json(status)).items():
            s, r = total.get(codec, (0, 0))
            total[codec] = (s + sent, r + received)
    return total


def plot_run(reports: Mapping[str, Report | None], path: Path | str, title: str = "") -> Path:
    """Write the four-panel PNG of a run to ``path``; return it.

    UsageError (one line, naming the extra) when matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise UsageError(f"plots need matplotlib, not installed: {INSTALL_HINT}") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    name = metric_name(reports)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = [
        (axes[0][0], name, f"held-out {name}", False),
        (axes[0][1], "loss", "held-out loss", False),
        (axes[1][0], "consensus_distance", "consensus distance (estimate, squared)", True),
    ]
    for ax, key, label, log_scale in panels:
        drawn = False
        for peer, report in sorted(reports.items()):
            if report is None:
                continue
            xs, ys = _series(report, key)
            if log_scale:  # a log axis cannot show 0 (identical models)
                kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
                xs, ys = [x for x, _ in kept], [y for _, y in kept]
            if xs:
                ax.plot(xs, ys, linewidth=1, label=peer)
                drawn = True
        ax.set_title(label)
        ax.set_xlabel("seconds since the peer started")
        if log_scale and drawn:
            ax.set_yscale("log")
        if not drawn:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        elif len(reports) <= 12:
            ax.legend(fontsize=7)
    ax = axes[1][1]
    traffic = traffic_by_codec(reports)
    if traffic:
        codecs = sorted(traffic)
        positions = range(len(codecs))
        sent = [traffic[c][0] / 1e6 for c in codecs]
        received = [traffic[c][1] / 1e6 for c in codecs]
        ax.bar([p - 0.2 for p in positions], sent, width=0.4, label="sent")
        ax.bar([p + 0.2 for p in positions], received, width=0.4, label="received")
        ax.set_xticks(list(positions), codecs)
        ax.set_ylabel("MB, all peers")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("bytes on the wire per codec")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
