"""Convergence: gossip peers (real processes on 127.0.0.1) against both baselines, by default.

Two parts, each side by side with the baselines computed in the same run:

* **accuracy**: for every task, partition and per-peer compute speed
  (``--step-rate`` 20, 100, 500 and unlimited; unlimited is full speed, the
  others stand in for slower machines), N peers train ``--steps`` minibatch
  steps each with the defaults, then average a few seconds. Reported: the
  held-out accuracy of the peers against the synchronous data-parallel
  baseline (N workers, mean gradient, global batch N*B, the same steps) and
  the centralized one (batch B, the same samples), steps per completed
  exchange, steps per second and wall time.
* **efficiency**: at ``--step-rate S`` (each peer one machine of that speed),
  the time 2, 4 and 8 peers take to reach the synchronous baseline's final
  accuracy minus 2 points (slowest peer, from its first step), against the
  ideal time: the synchronous baseline's steps to that accuracy / S.

Goals (issue "converge at full speed"): 8 peers at full speed within 1 point
of synchronous (IID), 3 points (dirichlet:0.5), digits within 1 point of
centralized; time efficiency at 20 steps/s within 1.25x of ideal.

    python bench/convergence.py [--tasks digits,clusters] [--rates 0,500,100,20]
                                [--partitions iid,dirichlet:0.5] [--nodes 8] [--repeats 1]
                                [--efficiency-only | --accuracy-only]

Runs of one setting differ by a few points on skewed shards (the order in
which exchanges land changes the trajectory): ``--repeats R`` runs each
accuracy setting R times and the summary gives the median and the worst.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, machine, write_result

from gossip.baseline import centralized, steps_to_reach, synchronous
from gossip.cli.launcher import Launcher
from gossip.config import NodeConfig
from gossip.status import Status

BATCH = {"digits": 32, "clusters": 100}
"""Per-peer batch of each task: the default 32 on digits, 100 on the harder clusters."""
GOALS = {"iid": 1.0, "dirichlet:0.5": 3.0}
SETTLE_S = 3.0
"""Seconds of averaging after the last peer reached --steps, before they are stopped."""
EVAL_S = 0.25


def task_config(task: str, partition: str = "iid", seed: int = 0) -> NodeConfig:
    return NodeConfig(dataset=task, partition=partition, batch_size=BATCH.get(task, 32), seed=seed)


def node_args(config: NodeConfig, steps: int, rate: float) -> list[str]:
    """The defaults, plus only the task, partition, batch, steps and speed."""
    return [
        "--dataset", config.dataset, "--partition", config.partition, "--seed", str(config.seed),
        "--batch-size", str(config.batch_size), "--max-steps", str(steps),
        "--step-rate", str(rate), "--eval-interval", str(EVAL_S), "--log-level", "warning",
    ]  # fmt: skip


def run_peers(
    n: int, config: NodeConfig, steps: int, rate: float, run_dir: Path, until: Any, limit: float
) -> dict[str, dict[str, Any]]:
    """Launch ``n`` peers, poll until ``until(statuses)`` or ``limit`` s, stop them; reports."""
    with Launcher(n, run_dir, node_args(config, steps, rate)) as launcher:
        launcher.wait_ready(timeout=60)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            statuses = launcher.poll_status(timeout=2.0)
            if all(s is not None for s in statuses.values()) and until(statuses):
                break
            time.sleep(0.5)
        launcher.stop(15.0)
        reports = launcher.reports()
    missing = [name for name, r in reports.items() if r is None]
    if missing:
        raise SystemExit(f"{n} peers on {config.dataset}: no report from {missing}")
    return {name: r for name, r in reports.items() if r is not None}


def training_seconds(report: dict[str, Any], steps: int) -> float:
    """From the peer's first step to its last training step (history times)."""
    history = report["history"]
    first = history[0]["t"]
    done = next((h["t"] for h in history if h["step"] >= steps), history[-1]["t"])
    return float(done - first)


# ------------------------------------------------------------------ accuracy


def accuracy_run(
    task: str, partition: str, rate: float, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    n, steps = args.nodes, args.steps
    config = task_config(task, partition, args.seed)
    sync = synchronous(config, n, steps)
    central = centralized(config, n * steps * config.batch_size)
    settled: dict[str, float] = {}

    def done(statuses: dict[str, Status]) -> bool:
        if min(s.step for s in statuses.values()) < steps:
            return False
        settled.setdefault("t", time.monotonic())
        return time.monotonic() - settled["t"] >= SETTLE_S

    limit = 120.0 + (steps / rate if rate else 0.0)
    began = time.monotonic()
    reports = run_peers(n, config, steps, rate, tmp / f"{task}-{partition}-{rate}", done, limit)
    wall = time.monotonic() - began
    finals = [r["status"] for r in reports.values()]
    accuracies = [s["accuracy"] for s in finals]
    mean = statistics.fmean(accuracies)
    spe = [s["schedule"]["steps_per_exchange"] for s in finals if s.get("schedule")]
    train_s = max(training_seconds(r, steps) for r in reports.values())
    return {
        "task": task,
        "partition": partition,
        "nodes": n,
        "step_rate": rate,
        "steps": steps,
        "batch": config.batch_size,
        "accuracy_mean": mean,
        "accuracy_min": min(accuracies),
        "accuracy_max": max(accuracies),
        "synchronous_accuracy": sync["accuracy"],
        "centralized_accuracy": central["accuracy"],
        "gap_synchronous_points": 100 * (sync["accuracy"] - mean),
        "gap_centralized_points": 100 * (central["accuracy"] - mean),
        "goal_points": GOALS.get(partition),
        "steps_per_exchange": statistics.fmean(spe) if spe else None,
        "training_seconds": train_s,
        "steps_per_second": steps / train_s if train_s > 0 else None,
        "wall_seconds": wall,
        "waiting_s_mean": statistics.fmean(s["schedule"]["waiting_s"] for s in finals),
        "refused": sum(s["exchanges"]["refused"] for s in finals),
        "exchanges_ok": sum(s["exchanges"]["ok"] for s in finals) // 2,
    }


# ------------------------------------------------------------------ efficiency


def reach_seconds(report: dict[str, Any], target: float) -> float | None:
    """Seconds from the peer's first step to its first evaluation at or above ``target``."""
    history = report["history"]
    first = history[0]["t"]
    return next((h["t"] - first for h in history if (h.get("accuracy") or 0) >= target), None)


def efficiency_run(task: str, n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    config = task_config(task, "iid", args.seed)
    rate, steps = args.efficiency_rate, args.steps
    sync = synchronous(config, n, steps, eval_every=5)
    target = sync["accuracy"] - 0.02
    sync_steps = steps_to_reach(sync["history"], target)
    assert sync_steps is not None  # its final accuracy is above the target
    ideal = sync_steps / rate
    reached: dict[str, float] = {}

    def done(statuses: dict[str, Status]) -> bool:
        return all((s.accuracy or 0) >= target for s in statuses.values())

    limit = 4 * ideal + 30
    reports = run_peers(n, config, steps, rate, tmp / f"eff-{task}-{n}", done, limit)
    for name, report in reports.items():
        seconds = reach_seconds(report, target)
        if seconds is not None:
            reached[name] = seconds
    slowest = max(reached.values()) if len(reached) == n else None
    return {
        "task": task,
        "nodes": n,
        "step_rate": rate,
        "target_accuracy": target,
        "synchronous_final": sync["accuracy"],
        "synchronous_steps_to_target": sync_steps,
        "ideal_seconds": ideal,
        "peer_seconds": reached,
        "slowest_seconds": slowest,
        "ratio_to_ideal": None if slowest is None else slowest / ideal,
    }


# ------------------------------------------------------------------ report


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["task"], r["partition"]) for r in runs})
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.4), squeeze=False)
    for ax, (task, partition) in zip(axes[0], groups, strict=True):
        rows = sorted(
            (r for r in runs if (r["task"], r["partition"]) == (task, partition)),
            key=lambda r: r["step_rate"] or 1e9,
        )
        labels = [f"{r['step_rate']:g}" if r["step_rate"] else "full" for r in rows]
        ax.bar(labels, [r["gap_synchronous_points"] for r in rows], label="vs synchronous")
        ax.plot(labels, [r["gap_centralized_points"] for r in rows], "ko--", label="vs centralized")
        goal = GOALS.get(partition)
        if goal is not None:
            ax.axhline(goal, color="red", linewidth=1, label="goal")
        ax.set_title(f"{task}, {partition}")
        ax.set_xlabel("steps/s per peer")
    axes[0][0].set_ylabel("gap, accuracy points (lower is better)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="digits,clusters")
    parser.add_argument("--partitions", default="iid,dirichlet:0.5")
    parser.add_argument("--rates", default="0,500,100,20", help="steps/s per peer (0: full)")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500, help="training steps per peer")
    parser.add_argument("--efficiency-rate", type=float, default=20.0)
    parser.add_argument("--efficiency-nodes", default="2,4,8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each accuracy setting")
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--accuracy-only", action="store_true")
    part.add_argument("--efficiency-only", action="store_true")
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    runs: list[dict[str, Any]] = []
    efficiency: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gossip-bench-") as tmp:
        if not args.efficiency_only:
            for task in tasks:
                for partition in args.partitions.split(","):
                    for rate, repeat in itertools.product(
                        (float(r) for r in args.rates.split(",")), range(args.repeats)
                    ):
                        run = accuracy_run(task, partition, rate, args, Path(tmp) / str(repeat))
                        runs.append(run)
                        speed = f"{rate:g}/s" if rate else "full"
                        print(
                            f"{task:8s} {partition:13s} {speed:>6s}: "
                            f"accuracy {run['accuracy_mean']:.4f} (min {run['accuracy_min']:.4f}) "
                            f"sync {run['synchronous_accuracy']:.4f} "
                            f"gap {run['gap_synchronous_points']:+.2f} pt, centralized "
                            f"{run['centralized_accuracy']:.4f} gap "
                            f"{run['gap_centralized_points']:+.2f} pt; "
                            f"{run['steps_per_exchange'] or 0:.2f} steps/exchange, "
                            f"{run['steps_per_second'] or 0:.0f} steps/s, "
                            f"{run['training_seconds']:.1f} s",
                            flush=True,
                        )
        if not args.accuracy_only:
            for task in tasks:
                for n in (int(k) for k in args.efficiency_nodes.split(",")):
                    eff = efficiency_run(task, n, args, Path(tmp))
                    efficiency.append(eff)
                    ratio = eff["ratio_to_ideal"]
                    print(
                        f"efficiency {task:8s} {n} peers at {eff['step_rate']:g}/s: target "
                        f"{eff['target_accuracy']:.4f} (sync {eff['synchronous_steps_to_target']} "
                        f"steps = {eff['ideal_seconds']:.1f} s ideal), slowest peer "
                        + (
                            f"{eff['slowest_seconds']:.1f} s: {ratio:.2f}x ideal"
                            if ratio is not None
                            else "did not reach it"
                        ),
                        flush=True,
                    )
    name = "convergence" if not args.efficiency_only else "convergence_efficiency"
    write_result(name, {"runs": runs, "efficiency": efficiency, "args": vars(args),
                        "machine": machine()})  # fmt: skip
    if runs:
        plot(runs, RESULTS_DIR / "convergence.png")
        full = [r for r in runs if not r["step_rate"] and r["nodes"] == args.nodes]
        for partition in GOALS:
            gaps = [r["gap_synchronous_points"] for r in full if r["partition"] == partition]
            if gaps:
                print(
                    f"full speed, {args.nodes} peers, {partition}: gap to synchronous over "
                    f"{len(gaps)} runs: median {statistics.median(gaps):+.2f} pt, worst "
                    f"{max(gaps):+.2f} pt (goal <= {GOALS[partition]})"
                )
    ratios = [e["ratio_to_ideal"] for e in efficiency if e["nodes"] == 8]
    if ratios:
        worst = None if None in ratios else max(r for r in ratios if r is not None)
        print(
            f"time efficiency, 8 peers at {args.efficiency_rate:g} steps/s: worst "
            + (f"{worst:.2f}x ideal (goal <= 1.25x)" if worst is not None else "never reached")
        )


if __name__ == "__main__":
    main()
