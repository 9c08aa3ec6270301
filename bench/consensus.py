"""Consensus with training frozen: the mean is kept, disagreement shrinks per exchange.

Side by side in one run: the in-memory simulation (exact per-exchange ratios)
and real processes gossiping over gRPC on 127.0.0.1 (the geometric mean of the
shrink factor over all exchanges of the run). Theory for random pairwise
averaging among n peers: the squared consensus distance shrinks by about
1 - 1/(n-1) per exchange. Prints measured/theory last.

    python bench/consensus.py [--nodes 8] [--seconds 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result

from gossip.cli.launcher import free_ports
from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.model import mlp
from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork


def distance(models: list[np.ndarray]) -> float:
    stacked = np.stack([m.astype(np.float64) for m in models])
    return float(((stacked - stacked.mean(axis=0)) ** 2).sum())


EXACT: dict[str, Any] = {"compression": "none", "bootstrap": False}
"""The float32 rule this bench measures (codecs: bench/compression.py), and no catch-up:
a peer that copied a neighbour's model at start would hide the disagreement to shrink."""


def frozen_node(config: NodeConfig, model_seed: int, transport: Any = None) -> Node:
    """A node that only averages; each starts from its own random model."""
    train, test = load_shard("digits", shard=config.shard, seed=config.seed)
    model = mlp(train.num_features, [64, 32], train.num_classes, "classification", model_seed)
    return Node(config, model=model, data=(train, test), transport=transport)


def simulate(n: int, exchanges: int, seed: int) -> dict[str, Any]:
    network = InMemoryNetwork(seed=seed)
    nodes = []
    for i in range(n):
        config = NodeConfig(**EXACT, id=f"s{i}", listen=f"sim{i}:1", shard=(i, n), max_steps=0)
        node = frozen_node(config, model_seed=100 + i, transport=network.transport())
        node.serve()
        nodes.append(node)
    models = [node.replica.params for node in nodes]
    mean0 = np.mean([m.astype(np.float64) for m in models], axis=0)
    pick = random.Random(seed)
    d = distance(models)
    ratios = []
    for _ in range(exchanges):
        i, j = pick.sample(range(n), 2)
        nodes[i].exchange_with(nodes[j].id, nodes[j].address)
        after = distance(models)
        ratios.append(after / d)
        d = after
    mean1 = np.mean([m.astype(np.float64) for m in models], axis=0)
    return {
        "exchanges": exchanges,
        "shrink_per_exchange_mean": float(np.mean(ratios)),
        "mean_drift_relative": float(np.linalg.norm(mean1 - mean0) / np.linalg.norm(mean0)),
    }


def process_peer(config: NodeConfig, model_seed: int, conn: Connection) -> None:
    node = frozen_node(config, model_seed)
    conn.send(node.replica.params.copy())
    node.start()
    conn.recv()  # the coordinator says stop: all peers stop at the same moment
    status = node.shutdown()
    conn.send((node.replica.params.copy(), status.as_json()["exchanges"]))


def real_processes(n: int, seconds: float) -> dict[str, Any]:
    addresses = [f"127.0.0.1:{p}" for p in free_ports(n)]
    ctx = mp.get_context("spawn")
    pipes, children = [], []
    try:
        for i in range(n):
            config = NodeConfig(
                **EXACT,
                id=f"c{i}",
                listen=addresses[i],
                peers=tuple(a for a in addresses if a != addresses[i]),
                shard=(i, n),
                max_steps=0,
                gossip_interval=1.0,
                heartbeat_interval=0.2,
            )
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=process_peer, args=(config, 100 + i, child), daemon=True)
            proc.start()
            pipes.append(parent)
            children.append(proc)
        initial = [p.recv() for p in pipes]
        # let membership form and gossip run (a benchmark may wait; tests poll instead)
        time.sleep(seconds)
        for pipe in pipes:
            pipe.send("stop")
        finals = [p.recv() for p in pipes]
    finally:
        for proc in children:
            proc.join(timeout=20)
            if proc.is_alive():
                proc.kill()
    models = [f[0] for f in finals]
    ok = sum(f[1]["ok"] for f in finals)
    failed = sum(f[1]["failed"] for f in finals)
    exchanges = ok // 2  # each exchange counts as ok on both of its sides
    d0, d1 = distance(initial), distance(models)
    mean0 = np.mean([m.astype(np.float64) for m in initial], axis=0)
    mean1 = np.mean([m.astype(np.float64) for m in models], axis=0)
    return {
        "seconds": seconds,
        "exchanges": exchanges,
        "failed": failed,
        "distance_start": d0,
        "distance_end": d1,
        "shrink_per_exchange_geomean": (d1 / d0) ** (1 / max(exchanges, 1)),
        "mean_drift_relative": float(np.linalg.norm(mean1 - mean0) / np.linalg.norm(mean0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    n = args.nodes
    theory = 1 - 1 / (n - 1)
    sim = simulate(n, exchanges=int(np.log(1e-4) / np.log(theory)), seed=0)
    print(
        f"sim   n={n}: shrink/exchange {sim['shrink_per_exchange_mean']:.4f} (theory {theory:.4f})"
        f", mean drift {sim['mean_drift_relative']:.2e}"
    )
    real = real_processes(n, args.seconds)
    print(
        f"real  n={n}: {real['exchanges']} exchanges, shrink/exchange "
        f"{real['shrink_per_exchange_geomean']:.4f}, mean drift {real['mean_drift_relative']:.2e}"
    )
    result = {"nodes": n, "theory": theory, "sim": sim, "real": real, "machine": machine()}
    write_result("consensus", result)
    print(f"mean drift (real) {real['mean_drift_relative']:.1e} (goal < 1e-6)")
    print(f"shrink per exchange, real / theory: {real['shrink_per_exchange_geomean'] / theory:.3f}")


if __name__ == "__main__":
    main()
