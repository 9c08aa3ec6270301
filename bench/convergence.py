"""Convergence: gossip peers (real processes on 127.0.0.1) against centralized training.

For 4 and 8 peers on digits, IID and dirichlet:0.5, every peer trains
``--steps`` minibatch steps on its shard while gossiping, then keeps averaging
until ``--duration`` ends. The centralized yardstick is the same model trained
on the whole train split with the same total number of samples. Prints the
gap in accuracy points last (goal: within 1 point IID, 3 points dirichlet).

    python bench/convergence.py [--steps 1500] [--step-rate 200] [--duration 14]
                                [--compression SPEC]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, machine, write_result

from gossip.baseline import centralized
from gossip.cli.launcher import Launcher
from gossip.config import NodeConfig

SETUPS = [(4, "iid"), (8, "iid"), (4, "dirichlet:0.5"), (8, "dirichlet:0.5")]
GOALS = {"iid": 1.0, "dirichlet:0.5": 3.0}


def run_cluster(n: int, partition: str, args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    node_args = [
        "--dataset", "digits", "--partition", partition, "--seed", str(args.seed),
        "--max-steps", str(args.steps), "--step-rate", str(args.step_rate),
        "--gossip-interval", str(args.gossip_interval), "--duration", str(args.duration),
        "--eval-interval", "0.5", "--log-level", "warning",
    ]  # fmt: skip
    if args.compression:
        node_args += ["--compression", args.compression]
    with Launcher(n, run_dir, node_args) as launcher:
        if not launcher.wait(timeout=args.duration + 60):
            raise SystemExit(f"{n} peers on {partition}: nodes did not finish in time")
        reports = launcher.reports()
    finals = [r["status"] for r in reports.values() if r is not None]
    if len(finals) != n:
        raise SystemExit(f"{n} peers on {partition}: only {len(finals)} reports")
    total_samples = sum(s["samples_seen"] for s in finals)
    config = NodeConfig(dataset="digits", seed=args.seed)
    central = centralized(config, total_samples)
    accuracies = [s["accuracy"] for s in finals]
    return {
        "nodes": n,
        "partition": partition,
        "accuracy_mean": statistics.fmean(accuracies),
        "accuracy_min": min(accuracies),
        "accuracy_max": max(accuracies),
        "centralized_accuracy": central["accuracy"],
        "gap_points": 100 * (central["accuracy"] - statistics.fmean(accuracies)),
        "goal_points": GOALS[partition],
        "samples_total": total_samples,
        "exchanges_ok": sum(s["exchanges"]["ok"] for s in finals) // 2,
        "exchanges_failed": sum(s["exchanges"]["failed"] for s in finals),
        "exchanges_refused": sum(s["exchanges"]["refused"] for s in finals),
        "bytes_sent": sum(s["bytes"]["sent"] for s in finals),
        "history": {
            name: [(h["t"], h.get("accuracy")) for h in r["history"]]
            for name, r in reports.items()
            if r is not None
        },
    }


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.4), sharey=True)
    for ax, run in zip(axes, runs, strict=True):
        for name, points in run["history"].items():
            xs = [t for t, a in points if a is not None]
            ys = [a for _, a in points if a is not None]
            ax.plot(xs, ys, linewidth=1, label=name)
        ax.axhline(run["centralized_accuracy"], color="black", linestyle="--", label="centralized")
        ax.set_title(f"{run['nodes']} peers, {run['partition']}")
        ax.set_xlabel("seconds")
        ax.set_ylim(0.8, 1.0)
    axes[0].set_ylabel("held-out accuracy")
    axes[0].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps per peer")
    parser.add_argument("--step-rate", type=float, default=200.0)
    parser.add_argument("--gossip-interval", type=float, default=0.1)
    parser.add_argument("--duration", type=float, default=14.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compression", help="codec of every peer (default: gossip-node's)")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="gossip-bench-") as tmp:
        for n, partition in SETUPS:
            run = run_cluster(n, partition, args, Path(tmp) / f"{n}-{partition}")
            runs.append(run)
            print(
                f"{n} peers {partition:14s} accuracy {run['accuracy_mean']:.4f} "
                f"(min {run['accuracy_min']:.4f})  centralized {run['centralized_accuracy']:.4f}"
                f"  gap {run['gap_points']:+.2f} pt (goal <= {run['goal_points']})"
                f"  exchanges {run['exchanges_ok']}"
            )
    write_result("convergence", {"runs": runs, "args": vars(args), "machine": machine()})
    plot(runs, RESULTS_DIR / "convergence.png")
    worst = {p: max(r["gap_points"] for r in runs if r["partition"] == p) for p in GOALS}
    print(
        "worst gap to centralized, points: " + ", ".join(f"{p} {g:+.2f}" for p, g in worst.items())
    )


if __name__ == "__main__":
    main()
