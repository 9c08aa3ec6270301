"""Compressed gossip: bytes on the wire to reach float32 accuracy, codec speed, mass kept.

All codecs run side by side in one run, on the same data, seeds and gossip
schedule: 8 peers on the in-memory network (every message goes through the
same protobuf encoding as gRPC; bytes are counted as protobuf frames plus
gRPC's 5-byte framing, as on a real wire), driven in a seeded order. Each
round every peer takes 2 training steps, then ``n/2`` random pairs exchange
(each peer exchanges about once per 2 steps). Reported per codec and task:
accuracy (the peers' mean held-out accuracy, averaged over the last quarter of
the run: single evaluations are noisy), and the total bytes all peers sent
until that mean, averaged over 3 consecutive evaluations, first reached the
float32 run's accuracy minus the loss the goal allows (0.5 point IID, 1.5
points dirichlet:0.5), and its ratio to float32 (bytes-to-accuracy).

Also: encode + decode throughput on 10M parameters, one exchange of a 10M
parameter model over gRPC on loopback with and without compression, and the
mean of all models with training frozen (must stay put under every codec).

    python bench/compression.py [--steps 3000] [--large-steps 600] [--quick]
    python bench/compression.py --schedules 1,2,10,20 [--codecs none,sign,topk:0.03:sign]
    python bench/compression.py --codec-speed [--codecs ...] [--size 10000000] [--repeats 5]

``--schedules`` instead runs digits (IID and dirichlet:0.5) with a peer
exchanging about once per 1, 2, 10 or 20 of its steps, to check that a codec
keeps float32's accuracy however often peers gossip (the choice of default).
``--codec-speed`` only times each codec's encode + decode (median of 5) and
writes ``bench/results/codec_speed.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, machine, median, write_result

from gossip.averaging.compressed import Mixing
from gossip.averaging.pairwise import Identity, Snapshot
from gossip.compression import parse_spec
from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.exchanger import Exchanger
from gossip.node import Node
from gossip.replica import Replica
from gossip.status import Status
from gossip.transport.base import ResponderSession
from gossip.transport.memory import InMemoryNetwork

CODECS = ["none", "fp16", "int8", "qsgd:7", "sign", "randk:0.1", "blocks:4+int8", "topk:0.1",
          "topk:0.03", "topk:0.01", "topk:0.03:sign", "topk:0.04:sign",
          "topk:0.01:sign"]  # fmt: skip
LARGE_CODECS = ["none", "int8", "sign", "topk:0.01", "topk:0.03:sign", "topk:0.04:sign",
                "topk:0.05:sign"]  # fmt: skip
PEERS = 8


def peers_for(codec: str, task: dict[str, Any], seed: int) -> list[Node]:
    network = InMemoryNetwork(seed=seed)
    peers = []
    for i in range(PEERS):
        config = NodeConfig(
            id=f"p{i}", listen=f"sim{i}:1", shard=(i, PEERS), compression=codec, seed=seed,
            dataset=task["dataset"], partition=task["partition"], model=task["model"],
            synthetic_samples=task.get("samples", 2000),
            synthetic_features=task.get("features", 20),
        )  # fmt: skip
        data = load_shard(
            config.dataset, partition=config.partition, shard=config.shard, seed=seed,
            samples=config.synthetic_samples, features=config.synthetic_features,
            classes=config.synthetic_classes,
        )  # fmt: skip
        node = Node(config, transport=network.transport(), data=data)
        node.serve()
        ready = getattr(node, "_ready", None)  # a catch-up phase in progress elsewhere
        if ready is not None:
            ready.set()
        peers.append(node)
    return peers


def train(codec: str, task: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    peers = peers_for(codec, task, args.seed)
    pick = random.Random(args.seed)
    curve: list[tuple[int, float]] = []
    began = time.perf_counter()
    rounds = task["steps"] // task["every"]
    for r in range(rounds):
        for peer in peers:
            for _ in range(task["every"]):
                peer.trainer.step()
        for _ in range(PEERS // 2):
            i, j = pick.sample(range(PEERS), 2)
            peers[i].exchange_with(peers[j].id, peers[j].address)
        if (r + 1) % task["eval_every"] == 0 or r == rounds - 1:
            accuracy = float(np.mean([p.trainer.evaluate().metric for p in peers]))
            curve.append((sum(p.transport.traffic.sent for p in peers), accuracy))
    by_codec: dict[str, int] = {}
    for p in peers:
        for key, counts in p.exchanger.bytes_by_codec().items():
            by_codec[key] = by_codec.get(key, 0) + counts["sent"]
    return {
        "codec": codec,
        "accuracy": curve[-1][1],
        "bytes_sent": curve[-1][0],
        "bytes_by_codec": by_codec,
        "curve": curve,
        "refused": sum(p.counts["refused"] for p in peers),
        "references_bytes_per_peer": max(p.exchanger.compression_status()["bytes"] for p in peers),
        "seconds": time.perf_counter() - began,
    }


def plateau(curve: list[tuple[int, float]]) -> float:
    """A run's accuracy: the mean over its last quarter of evaluations (one eval is noisy)."""
    tail = [a for _, a in curve[-max(1, len(curve) // 4) :]]
    return float(np.mean(tail))


def bytes_to(curve: list[tuple[int, float]], target: float, window: int = 3) -> int | None:
    """Bytes sent when the mean of the last ``window`` evaluations first reaches ``target``."""
    for i in range(window - 1, len(curve)):
        if np.mean([a for _, a in curve[i - window + 1 : i + 1]]) >= target:
            return curve[i][0]
    return None


def run_task(
    name: str, task: dict[str, Any], codecs: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    runs = [train(codec, task, args) for codec in codecs]
    reference = plateau(runs[0]["curve"])
    target = reference - task["margin"]
    base = bytes_to(runs[0]["curve"], target)
    for run in runs:
        run["plateau_accuracy"] = plateau(run["curve"])
        run["bytes_to_target"] = bytes_to(run["curve"], target)
        run["ratio_vs_float32"] = (
            base / run["bytes_to_target"] if base and run["bytes_to_target"] else None
        )
        run["loss_points"] = 100 * (reference - run["plateau_accuracy"])
        run["bytes_ratio_whole_run"] = runs[0]["bytes_sent"] / run["bytes_sent"]
        ratio = f"{run['ratio_vs_float32']:7.1f}x" if run["ratio_vs_float32"] else "  never "
        print(
            f"{name:22s} {run['codec']:14s} acc {run['plateau_accuracy']:.4f} "
            f"({-run['loss_points']:+.2f} pt)  bytes {run['bytes_sent'] / 1e6:8.2f} MB "
            f"({run['bytes_ratio_whole_run']:5.1f}x less)  to target {ratio}  "
            f"{run['seconds']:.0f}s",
            flush=True,
        )
    return {"task": name, **task, "reference": reference, "target": target, "runs": runs}


def mass(codecs: list[str], exchanges: int) -> dict[str, float]:
    out = {}
    for codec in codecs:
        peers = peers_for(codec, {"dataset": "digits", "partition": "iid", "model": "mlp:64,32"}, 0)
        rng = np.random.default_rng(0)
        for p in peers:
            p.replica.params[:] += rng.standard_normal(p.replica.num_params).astype(np.float32)
        before = np.mean([p.replica.params.astype(np.float64) for p in peers], axis=0)
        pick = random.Random(0)
        for _ in range(exchanges):
            i, j = pick.sample(range(PEERS), 2)
            peers[i].exchange_with(peers[j].id, peers[j].address)
        after = np.mean([p.replica.params.astype(np.float64) for p in peers], axis=0)
        out[codec] = float(np.linalg.norm(after - before) / np.linalg.norm(before))
    return out


def speed(codecs: list[str], size: int, repeats: int) -> dict[str, dict[str, float]]:
    """Encode + decode throughput per codec, GB/s of float32 (median of ``repeats``).

    ``blocks:K+CODEC`` times CODEC on one block (``size / K`` values), what one
    exchange encodes. Also the CPU time this process used: on a shared
    machine it shows what the wall time would be without the other tenants.
    Printed slowest last.
    """
    v = np.random.default_rng(0).standard_normal(size).astype(np.float32)
    out = {}
    for spec in codecs:
        parsed = parse_spec(spec)
        block = v[: size // parsed.blocks]
        encode, decode, cpu = [], [], []
        for r in range(repeats):
            cpu_start, start = time.process_time(), time.perf_counter()
            payload = parsed.codec.encode(block, r + 1)
            middle = time.perf_counter()
            parsed.codec.decode(payload, block.size, r + 1)
            decode.append(time.perf_counter() - middle)
            encode.append(middle - start)
            cpu.append(time.process_time() - cpu_start)
        total = median([e + d for e, d in zip(encode, decode, strict=True)])
        out[spec] = {
            "gb_per_s": 4 * block.size / total / 1e9,
            "cpu_gb_per_s": 4 * block.size / median(cpu) / 1e9,
            "encode_ms": 1000 * median(encode),
            "decode_ms": 1000 * median(decode),
            "payload_bytes": len(payload),
            "bytes_per_value": len(payload) / block.size,
        }
    for spec in sorted(out, key=lambda s: -out[s]["gb_per_s"]):
        row = out[spec]
        print(
            f"speed {spec:16s} encode+decode {row['gb_per_s']:5.2f} GB/s "
            f"(encode {row['encode_ms']:5.1f} ms, decode {row['decode_ms']:5.1f} ms; "
            f"CPU time {row['cpu_gb_per_s']:5.2f} GB/s; {row['bytes_per_value']:.4f} bytes/value)",
            flush=True,
        )
    return out


def codec_speed(args: argparse.Namespace) -> None:
    """``--codec-speed``: only the codecs' throughput, into bench/results/codec_speed.json."""
    codecs = args.codecs.split(",") if args.codecs else CODECS
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cpus")
    speeds = speed(codecs, args.size, args.repeats)
    result = {"codec_speed": speeds, "size": args.size, "repeats": args.repeats,
              "load_average_before": list(load), "load_average_after": list(os.getloadavg()),
              "machine": machine()}  # fmt: skip
    write_result("codec_speed", result)


class _Peer:
    """A bare responder for the loopback exchange timing (no training, no membership)."""

    def __init__(self, exchanger: Exchanger) -> None:
        self.exchanger = exchanger

    def check_header(self, offer: Snapshot) -> None:
        self.exchanger.check_header(offer)

    def on_exchange(self, offer: Snapshot) -> ResponderSession:
        return self.exchanger.on_exchange(offer)

    def on_refused(self, reason: str, detail: str) -> None:
        pass

    def on_push_pull(self, digest: Any) -> Any:
        raise NotImplementedError

    def on_status(self) -> Status:
        return Status()


def loopback(codecs: list[str], size: int, repeats: int) -> dict[str, float]:
    from gossip.clock import SystemClock
    from gossip.transport.grpc_transport import GrpcTransport

    out = {}
    for spec in codecs:
        sides = []
        for name in ("a", "b"):
            params = np.random.default_rng(len(name)).standard_normal(size).astype(np.float32)
            transport = GrpcTransport(max_payload_bytes=4 * size + 4096)
            exchanger = Exchanger(
                Replica(params, "fp"), transport, SystemClock(),
                identity=lambda n=name: Identity(n, 1, f"{n}:1"), step=lambda: 0, timeout=60,
                mixing=Mixing(parse_spec(spec)),
            )  # fmt: skip
            address = transport.serve("127.0.0.1:0", _Peer(exchanger))
            sides.append((exchanger, transport, address))
        (a, ta, _), (_, tb, address_b) = sides
        times = []
        for _ in range(repeats + 2):  # the first two start the references (base, then ...)
            t = time.perf_counter()
            assert a.exchange_with("b", address_b), a.refusals()
            times.append(time.perf_counter() - t)
        out[spec] = median(times[2:])
        print(f"loopback {spec:12s} one exchange of {size / 1e6:.0f}M params: {out[spec]:.3f} s")
        ta.stop(0)
        tb.stop(0)
    return out


def plot(tasks: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.8))
    names = list(dict.fromkeys(r["codec"] for task in tasks for r in task["runs"]))
    colors = {name: plt.get_cmap("tab20")(i % 20) for i, name in enumerate(names)}
    for ax, task in zip(np.atleast_1d(axes), tasks, strict=True):
        for run in task["runs"]:
            xs = [b / 1e6 for b, _ in run["curve"]]
            ys = [a for _, a in run["curve"]]
            ax.plot(xs, ys, linewidth=1, label=run["codec"], color=colors[run["codec"]])
        ax.axhline(task["target"], color="black", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_title(task["task"])
        ax.set_xlabel("MB sent by all peers")
        ax.set_ylim(task["target"] - 0.1, task["reference"] + 0.02)
        ax.legend(fontsize=7, loc="lower right")
    np.atleast_1d(axes)[0].set_ylabel("mean held-out accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def schedules(args: argparse.Namespace) -> None:
    """Digits under each gossip schedule: does a codec's accuracy depend on how often peers talk?"""
    codecs = (args.codecs or "none,sign,topk:0.03:sign").split(",")
    rows = []
    for every in (int(e) for e in args.schedules.split(",")):
        for partition, margin in (("iid", 0.005), ("dirichlet:0.5", 0.015)):
            task = {"dataset": "digits", "model": "mlp:64,32", "steps": args.steps,
                    "every": every, "eval_every": max(1, round(50 / every)),
                    "partition": partition, "margin": margin}  # fmt: skip
            result = run_task(f"every {every} {partition}", task, codecs, args)
            rows.append(result)
    write_result("compression_schedules", {"tasks": rows, "args": vars(args), "machine": machine()})
    for row in rows:  # within the goal's loss at every schedule, and at what ratio
        for run in row["runs"][1:]:
            ok = run["loss_points"] <= 100 * row["margin"]
            ratio = f"{run['ratio_vs_float32']:.1f}x" if run["ratio_vs_float32"] else "never"
            print(
                f"{row['task']:24s} {run['codec']:14s} {-run['loss_points']:+.2f} pt "
                f"({'within' if ok else 'BEYOND'} {100 * row['margin']:.1f}), {ratio} fewer bytes"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps per peer (digits)")
    parser.add_argument("--large-steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="digits IID only, no large model")
    parser.add_argument("--schedules", help="steps per peer between gossip rounds, e.g. 1,2,10,20")
    parser.add_argument(
        "--codecs",
        help="codecs for --schedules (the first is the reference; "
        "default none,sign,topk:0.03:sign) or --codec-speed (default: all)",
    )
    parser.add_argument(
        "--codec-speed",
        action="store_true",
        help="only encode + decode throughput of each codec on --size values",
    )
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.codec_speed:
        codec_speed(args)
        return
    if args.schedules:
        schedules(args)
        return
    digits = {"dataset": "digits", "model": "mlp:64,32", "steps": args.steps, "every": 2,
              "eval_every": 25}  # fmt: skip
    tasks = [run_task("digits iid", {**digits, "partition": "iid", "margin": 0.005}, CODECS, args)]
    if not args.quick:
        tasks.append(
            run_task(
                "digits dirichlet:0.5",
                {**digits, "partition": "dirichlet:0.5", "margin": 0.015},
                CODECS,
                args,
            )
        )
        large = {"dataset": "synthetic", "partition": "iid", "model": "mlp:1024,1024",
                 "samples": 20000, "features": 128, "steps": args.large_steps, "every": 2,
                 "eval_every": 10, "margin": 0.005}  # fmt: skip
        tasks.append(run_task("synthetic 1.19M params", large, LARGE_CODECS, args))
    drift = mass(CODECS, 300)
    for codec, value in drift.items():
        print(f"mass {codec:14s} relative drift of the mean after 300 exchanges {value:.1e}")
    speeds = speed(CODECS, 10_000_000, 5)
    try:
        exchange: Any = loopback(["none", "int8", "sign", "topk:0.01"], 10_000_000, 3)
    except Exception as exc:  # the gRPC carrier is shared work in progress; keep the rest
        exchange = {"error": repr(exc)}
        print(f"loopback exchange timing failed: {exc!r}")
    result = {"tasks": tasks, "mass_relative_drift": drift, "codec_speed": speeds,
              "loopback_exchange_s": exchange, "args": vars(args),
              "machine": machine()}  # fmt: skip
    write_result("compression", result)
    plot(tasks, RESULTS_DIR / "compression.png")
    for task in tasks:  # the goal: top-k >= 50x fewer bytes, within 0.5 pt (1.5 non-IID)
        for topk in (r for r in task["runs"] if r["codec"].startswith("topk")):
            ratio = f"{topk['ratio_vs_float32']:.1f}x" if topk["ratio_vs_float32"] else "never"
            print(
                f"{task['task']}: {topk['codec']} reached float32 accuracy - "
                f"{100 * task['margin']:.1f} pt with {ratio} fewer bytes, "
                f"{topk['loss_points']:.2f} pt below float32 at the end"
            )


if __name__ == "__main__":
    main()
