"""Cost of metrics and TensorBoard logging on training throughput (goal: at most 3%).

Two pairs of real ``gossip-node`` processes on 127.0.0.1 train digits as fast
as they can (no --step-rate) while gossiping every 0.2 s, for ``--duration``
seconds, *at the same time*, so both see the same machine load (these shared
2-core machines swing by 5x between runs a minute apart, which no sequential
A/B survives):

* ``off``: no --metrics-port, no --tensorboard-dir;
* ``on``: both, and this script scrapes each of its peers' /metrics every
  ``--scrape-interval`` seconds (Prometheus' default is 15 s; 1 s is harsher).

Throughput is each peer's final ``step / uptime_s`` from its report; a round's
ratio is the mean of the ``on`` pair over the mean of the ``off`` pair, and the
figure is the median ratio over ``--rounds``. A second, in-process figure
times one scrape and one TensorBoard write against one training step, which
bounds the cost without any scheduler noise. Prints the ratio last.

    python bench/observability.py [--rounds 5] [--duration 8] [--scrape-interval 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, machine, median, write_result

from gossip.cli.launcher import free_ports

GOAL = 0.03


def scraper(ports: list[int], interval: float, stop: threading.Event, seconds: list[float]) -> None:
    """Scrape every port each ``interval`` until ``stop``; record each scrape's duration."""
    while not stop.wait(interval):
        for port in ports:
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read()
            except OSError:
                continue  # not up yet, or already gone
            if b"gossip_steps_total" in body:
                seconds.append(time.perf_counter() - began)


def start_pair(mode: str, args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    run_dir.mkdir(parents=True)
    ports = free_ports(4)
    addresses = [f"127.0.0.1:{p}" for p in ports[:2]]
    metrics_ports = ports[2:]
    children = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for i in range(2):
        argv = [
            sys.executable, "-m", "gossip.cli.node", "--id", f"{mode}-{i}",
            "--listen", addresses[i], "--peers", addresses[1 - i], "--dataset", "digits",
            "--gossip-interval", "0.2", "--duration", str(args.duration),
            "--report", str(run_dir / f"node-{i}.json"), "--log-level", "warning",
        ]  # fmt: skip
        if mode == "on":
            argv += ["--metrics-port", str(metrics_ports[i])]
            argv += ["--tensorboard-dir", str(run_dir / "tb")]
        with (run_dir / f"node-{i}.log").open("wb") as log:
            children.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env))
    pair: dict[str, Any] = {"mode": mode, "dir": run_dir, "children": children, "scrapes": []}
    if mode == "on":
        pair["stop"] = threading.Event()
        pair["thread"] = threading.Thread(
            target=scraper,
            args=(metrics_ports, args.scrape_interval, pair["stop"], pair["scrapes"]),
            daemon=True,
        )
        pair["thread"].start()
    return pair


def finish_pair(pair: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    mode, run_dir = pair["mode"], pair["dir"]
    try:
        for child in pair["children"]:
            child.wait(timeout=args.duration + 60)
    finally:
        if "stop" in pair:
            pair["stop"].set()
            pair["thread"].join(timeout=5)
        for child in pair["children"]:
            if child.poll() is None:
                child.kill()
                child.wait()
    rates = []
    exchanges = 0
    for i in range(2):
        report = run_dir / f"node-{i}.json"
        if not report.exists():
            tail = (run_dir / f"node-{i}.log").read_text(errors="replace").strip().splitlines()
            raise SystemExit(f"{mode}: node-{i} wrote no report: {tail[-1] if tail else 'no log'}")
        status = json.loads(report.read_text())["status"]
        rates.append(status["step"] / status["uptime_s"])
        exchanges += status["exchanges"]["ok"]
    scrapes = pair["scrapes"]
    events = list((run_dir / "tb").glob("*/events.out.tfevents.*")) if mode == "on" else []
    return {
        "mode": mode,
        "steps_per_s": rates,
        "exchanges_ok": exchanges // 2,
        "scrapes": len(scrapes),
        "scrape_ms_median": 1000 * median(scrapes) if scrapes else None,
        "event_files": len(events),
    }


def in_process_costs(repeats: int = 200) -> dict[str, float]:
    """Seconds per training step, per scrape (collect + exposition) and per TensorBoard write."""
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from gossip.config import NodeConfig
    from gossip.metrics import NodeCollector
    from gossip.node import Node
    from gossip.tensorboard import ScalarWriter
    from gossip.transport.memory import InMemoryNetwork

    network = InMemoryNetwork()
    node = Node(NodeConfig(id="bench", listen="mem:1"), transport=network.transport())
    node.serve()
    for _ in range(50):  # warm up
        node.trainer.step()
    node.evaluation = node.trainer.evaluate()

    def per_call(call: Any, count: int) -> float:
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(count):
                call()
            best = min(best, (time.perf_counter() - began) / count)
        return best

    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node, node.transport.stats, now=node.clock.now))
    step = per_call(node.trainer.step, repeats)
    scrape = per_call(lambda: generate_latest(registry), repeats)
    node._record()
    entry = node.history[-1]
    with tempfile.TemporaryDirectory() as tmp:
        writer = ScalarWriter(tmp, "bench")
        write = per_call(lambda: writer.write(entry), repeats)
        writer.close()
    return {"step_s": step, "scrape_s": scrape, "tensorboard_write_s": write}


def plot(rounds: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    xs = range(len(rounds))
    off = [statistics.fmean(r["off"]["steps_per_s"]) for r in rounds]
    on = [statistics.fmean(r["on"]["steps_per_s"]) for r in rounds]
    ax.bar([x - 0.2 for x in xs], off, width=0.4, label="off")
    ax.bar([x + 0.2 for x in xs], on, width=0.4, label="metrics + TensorBoard")
    ax.set_xticks(list(xs), [f"round {i}" for i in xs])
    ax.set_ylabel("training steps/s per peer")
    ax.set_title("both pairs run at the same time in each round")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--scrape-interval", type=float, default=1.0)
    args = parser.parse_args()
    costs = in_process_costs()
    per_second = 1.0 / args.scrape_interval
    # per second of training: one scrape per --scrape-interval, one TB write per --eval-interval
    bound = costs["scrape_s"] * per_second + costs["tensorboard_write_s"] * 1.0
    print(
        f"in process: step {1e3 * costs['step_s']:.3f} ms, "
        f"scrape {1e3 * costs['scrape_s']:.3f} ms, "
        f"TensorBoard write {1e3 * costs['tensorboard_write_s']:.3f} ms: "
        f"{100 * bound:.3f}% of one core per second at a {args.scrape_interval:g} s scrape"
    )
    rounds = []
    with tempfile.TemporaryDirectory(prefix="gossip-bench-obs-") as tmp:
        for index in range(args.rounds):
            # alternate which pair starts first, so neither always gets the head start
            modes = ["off", "on"] if index % 2 == 0 else ["on", "off"]
            pairs = [start_pair(m, args, Path(tmp) / f"{index}-{m}") for m in modes]
            done = {pair["mode"]: finish_pair(pair, args) for pair in pairs}
            ratio = statistics.fmean(done["on"]["steps_per_s"]) / statistics.fmean(
                done["off"]["steps_per_s"]
            )
            rounds.append({**done, "ratio": ratio})
            on = done["on"]
            print(
                f"round {index}: steps/s off {statistics.fmean(done['off']['steps_per_s']):.0f}, "
                f"on {statistics.fmean(on['steps_per_s']):.0f}, ratio {ratio:.4f}; "
                f"{on['scrapes']} scrapes (median {on['scrape_ms_median'] or 0:.1f} ms), "
                f"{on['event_files']} event files"
            )
    ratio = median([r["ratio"] for r in rounds])
    result = {
        "rounds": rounds,
        "ratio_on_over_off_median": ratio,
        "overhead": 1 - ratio,
        "in_process": {**costs, "cpu_share_bound": bound},
        "goal_overhead_at_most": GOAL,
        "args": vars(args),
        "machine": machine(),
    }
    write_result("observability", result)
    plot(rounds, RESULTS_DIR / "observability.png")
    print(
        f"in-process bound: {100 * bound:.3f}% of training time "
        f"(scrape every {args.scrape_interval:g} s, one TensorBoard write per second)"
    )
    print(
        f"throughput with metrics+TensorBoard / without, same time, median of {len(rounds)} "
        f"rounds: {ratio:.4f} (overhead {100 * (1 - ratio):+.2f}%, goal <= {100 * GOAL:.0f}%)"
    )


if __name__ == "__main__":
    main()
