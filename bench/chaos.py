"""Chaos: real peers killed and restarted (T3), and a straggler (T4), against a no-fault run.

Every run starts ``--nodes`` ``gossip-node`` processes on 127.0.0.1 training
digits at ``--step-rate`` steps/s, each with its own ``--checkpoint-dir``, and
polls every peer's status twice a second. The time of a run is the moment
every watched peer has reached ``--target`` held-out accuracy.

* baseline: no faults;
* T3 (restart): SIGKILL two peers ``--kill-at`` seconds in, start them again
  (same id, port and checkpoint dir) ``--down`` seconds later; they resume
  from their last checkpoint and catch up from a neighbour. Reports how far
  back each was (steps lost to the kill, the donor's lead) and how long the
  catch-up took. Goal: all peers at the target in at most 1.1 x the baseline.
* T4 (straggler): one peer runs with ``--slowdown 4``. Goal: the others reach
  the target in at most 1.2 x the time they take in the baseline.

Writes ``bench/results/chaos.json`` and prints both ratios last.

    .venv/bin/python bench/chaos.py [--nodes 8] [--step-rate 5] [--target 0.95]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result

from gossip.cli.launcher import free_ports, spawn
from gossip.errors import GossipError
from gossip.transport.grpc_transport import GrpcTransport


@dataclass
class Peer:
    id: str
    address: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    reached: float | None = None
    history: list[tuple[float, int, float | None]] = field(default_factory=list)

    def start(self) -> None:
        self.process = spawn(self.argv, self.log, append=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(signum)


class Cluster:
    """N peers with their own checkpoint dirs; stopped (TERM, then KILL) on exit."""

    def __init__(
        self, n: int, run_dir: Path, args: argparse.Namespace, extra: dict[int, list[str]]
    ):
        run_dir.mkdir(parents=True, exist_ok=True)
        addresses = [f"127.0.0.1:{p}" for p in free_ports(n)]
        self.peers: list[Peer] = []
        for i, address in enumerate(addresses):
            argv = [
                sys.executable, "-m", "gossip.cli.node", "--id", f"node-{i}",
                "--listen", address, "--shard", f"{i}/{n}",
                "--peers", ",".join(a for a in addresses if a != address),
                "--dataset", "digits", "--seed", str(args.seed),
                "--step-rate", str(args.step_rate), "--gossip-interval", str(args.gossip_interval),
                "--eval-interval", "0.5", "--log-level", "info",
                "--checkpoint-dir", str(run_dir / f"ckpt-{i}"),
                "--checkpoint-interval", str(args.checkpoint_interval),
                *extra.get(i, []),
            ]  # fmt: skip
            self.peers.append(Peer(f"node-{i}", address, argv, run_dir / f"node-{i}.log"))
        self.client = GrpcTransport()
        self.pool = ThreadPoolExecutor(max_workers=n)

    def __enter__(self) -> Cluster:
        for peer in self.peers:
            peer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for peer in self.peers:
            peer.signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while any(p.running for p in self.peers) and time.monotonic() < deadline:
            time.sleep(0.1)
        for peer in self.peers:
            peer.signal(signal.SIGKILL)
            if peer.process is not None:
                peer.process.wait()
        self.client.stop(0)
        self.pool.shutdown()

    def poll(self) -> dict[str, dict[str, Any] | None]:
        """Each peer's status JSON (as gossip-ctl --json prints it); None: no answer."""

        def ask(peer: Peer) -> dict[str, Any] | None:
            if not peer.running:
                return None
            try:
                return self.client.status(peer.address, 1.0).as_json()
            except GossipError:
                return None

        answers = list(self.pool.map(ask, self.peers))
        return {p.id: a for p, a in zip(self.peers, answers, strict=True)}


def run(name: str, args: argparse.Namespace, run_dir: Path, mode: str) -> dict[str, Any]:
    n = args.nodes
    extra: dict[int, list[str]] = {}
    if mode == "straggler":
        extra[n - 1] = ["--slowdown", str(args.slowdown)]
    killed = [1, 2] if mode == "restart" else []
    watched = [f"node-{i}" for i in range(n) if not (mode == "straggler" and i == n - 1)]
    result: dict[str, Any] = {"name": name, "mode": mode, "watched": watched}
    with Cluster(n, run_dir, args, extra) as cluster:
        deadline = time.monotonic() + 60
        while not all(cluster.poll().values()):
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: peers not ready after 60 s (logs in {run_dir})")
            time.sleep(0.2)
        t0 = time.monotonic()
        restarted_at: float | None = None
        kill_state: dict[str, dict[str, Any]] = {}
        last: dict[str, dict[str, Any]] = {}
        while True:
            now = time.monotonic() - t0
            if now > args.timeout:
                result["timed_out"] = True
                break
            statuses = cluster.poll()
            for peer in cluster.peers:
                status = statuses[peer.id]
                if status is None:
                    continue
                last[peer.id] = status
                accuracy = status.get("accuracy")
                peer.history.append((round(now, 2), int(status["step"]), accuracy))
                down = peer.id in kill_state and restarted_at is None
                at_target = accuracy is not None and accuracy >= args.target
                if peer.reached is None and at_target and not down:
                    peer.reached = now
            if killed and not kill_state and now >= args.kill_at:
                for i in killed:
                    peer = cluster.peers[i]
                    step = int(last.get(peer.id, {}).get("step", 0))
                    peer.signal(signal.SIGKILL)
                    peer.reached = None  # it must reach the target again after its restart
                    kill_state[peer.id] = {"killed_at_s": round(now, 2), "step_at_kill": step}
            if kill_state and restarted_at is None and now >= args.kill_at + args.down:
                for i in killed:
                    cluster.peers[i].start()
                restarted_at = now
            waiting = killed and restarted_at is None
            if not waiting and all(p.reached is not None for p in cluster.peers if p.id in watched):
                break
            time.sleep(0.5)
        for peer_id, info in kill_state.items():
            recovery = last.get(peer_id, {}).get("recovery", {})
            info.update(
                restarted_at_s=restarted_at,
                resumed_step=recovery.get("resumed_step"),
                steps_lost_to_kill=info["step_at_kill"] - int(recovery.get("resumed_step", 0)),
                catchup_state=recovery.get("catchup_state"),
                catchup_donor=recovery.get("catchup_donor"),
                donor_step=recovery.get("catchup_step"),
                donor_lead_steps=int(recovery.get("catchup_step", 0))
                - int(recovery.get("resumed_step", 0)),
                catchup_s=recovery.get("catchup_s"),
                reached_target_s=next(p.reached for p in cluster.peers if p.id == peer_id),
            )
        reached = {p.id: p.reached for p in cluster.peers}
        times = [reached[w] for w in watched]
        result.update(
            time_to_target_s=None if None in times else max(t for t in times if t is not None),
            reached_s=reached,
            restarts=kill_state,
            final_accuracy={k: v.get("accuracy") for k, v in last.items()},
            exchanges={k: v["exchanges"] for k, v in last.items()},
            history={p.id: p.history for p in cluster.peers},
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--step-rate", type=float, default=5.0)
    parser.add_argument("--gossip-interval", type=float, default=0.2)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--kill-at", type=float, default=8.0)
    parser.add_argument("--down", type=float, default=10.0)
    parser.add_argument("--slowdown", type=float, default=4.0)
    parser.add_argument("--checkpoint-interval", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up the children too
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gossip-chaos-") as tmp:
        for r in range(args.repeats):
            for mode in ("baseline", "restart", "straggler"):
                name = f"{mode}-{r}"
                result = run(name, args, Path(tmp) / name, mode)
                runs.append(result)
                print(f"{name:12s} all watched peers at {args.target}: "
                      f"{result['time_to_target_s']} s", flush=True)  # fmt: skip
                for peer_id, info in result["restarts"].items():
                    print(
                        f"  {peer_id}: killed at step {info['step_at_kill']}, resumed at "
                        f"{info['resumed_step']} ({info['steps_lost_to_kill']} steps lost), "
                        f"caught up from {info['catchup_donor']} at step {info['donor_step']} "
                        f"(+{info['donor_lead_steps']}) in {info['catchup_s']} s"
                    )

    def median_time(mode: str, watched_others: bool = False) -> float | None:
        values = []
        for run_ in runs:
            if run_["mode"] != mode:
                continue
            if watched_others:  # the baseline's time for the peers a straggler run watches
                ids = [f"node-{i}" for i in range(args.nodes - 1)]
                times = [run_["reached_s"][i] for i in ids]
            else:
                times = [run_["reached_s"][i] for i in run_["watched"]]
            if None in times:
                return None
            values.append(max(times))
        return statistics.median(values) if values else None

    base_all = median_time("baseline")
    base_others = median_time("baseline", watched_others=True)
    restart = median_time("restart")
    straggler = median_time("straggler")
    t3 = restart / base_all if restart and base_all else None
    t4 = straggler / base_others if straggler and base_others else None
    write_result(
        "chaos",
        {
            "args": vars(args),
            "machine": machine(),
            "runs": runs,
            "baseline_s": base_all,
            "baseline_others_s": base_others,
            "restart_s": restart,
            "straggler_s": straggler,
            "t3_ratio": t3,
            "t4_ratio": t4,
        },
    )
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    print(f"T3 restart / baseline: {fmt(t3)} (goal <= 1.10); "
          f"T4 straggler others / baseline: {fmt(t4)} (goal <= 1.20)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
