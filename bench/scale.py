"""Training at scale in simulation: N real Nodes, a manual clock, four topologies, churn.

    python bench/scale.py                                  # N = 8, 64, 256, 1000
    python bench/scale.py --sizes 64 --topologies ring random --churn 0.5

Every peer is a real :class:`gossip.node.Node` (its model, optimizer, replica,
exchanger and codec) on the in-memory network (gossip.transport.memory: every
frame goes through the protobuf wire encoding and is counted in bytes), on
digits sharded over the N peers. Time is simulated, one event queue:

* peer i trains at its own speed (``--speed`` steps/s times a log-normal
  factor of spread ``--speed-spread``, fixed per peer); after
  ``--steps-per-exchange`` steps (default 1: gossip-node starts an exchange
  after every step) it makes one pairwise exchange (Node.exchange_with) with
  the partner its topology names. The exchange takes 2 x the link's latency
  plus its bytes over the link's bandwidth (latency uniform in ``--latency``
  per link, bandwidth ``--bandwidth`` MB/s per link, fixed per pair) and runs
  while the peer trains on, as gossip-node's gossip loop does beside its
  training loop: the peer's next exchange waits for it, so a peer makes an
  exchange every max(steps / speed, exchange time) seconds. ``--serial``
  adds the exchange time to the peer's steps instead (no overlap). The
  responder is not held up (a node answers exchanges while it trains);
* topologies over the live peers sorted by id, position p of m:
  ``pairs`` (what gossip-node does, gossip.pairing: rounds of disjoint pairs
  of the circle method, the round partner met least recently),
  ``random`` (a uniformly random live peer), ``ring`` (p-1 and p+1 by
  turns), ``exp`` (the exponential graph: p + 2^k for a random k < log2 m),
  ``one-peer-exp`` (p + 2^(t mod log2 m) at the peer's t-th exchange: SGP's
  time-varying one-peer exponential graph);
* churn (``--churn`` per simulated s): a random live peer crashes (never heard
  from again) and a new one joins with the crashed one's shard, starting from
  the initial model as a node without --bootstrap does.

Membership is perfect here (partners are drawn from the live set); its own
cost and timing at 1,000 members are bench/membership_scale.py's.

Reported per N and topology, every ``--points`` of the run: the peers' mean
held-out accuracy (``--eval-peers`` random live peers, their own models), the
mean model's accuracy, the consensus distance (mean over peers of the squared
distance to the mean model), simulated time and bytes sent per peer; and when
the peers' mean accuracy first came within 2 points of centralized training
(gossip.baseline.centralized, converged: ``--central-samples``). Writes
bench/results/scale.json and scale.png.
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import random
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import RESULTS_DIR, machine, write_result
from gossip.baseline import centralized
from gossip.clock import ManualClock
from gossip.config import NodeConfig
from gossip.data import Dataset, load_shard
from gossip.node import Node
from gossip.pairing import round_partners
from gossip.training import evaluate
from gossip.transport.memory import InMemoryNetwork

TOPOLOGIES = ("pairs", "random", "ring", "exp", "one-peer-exp")
GAP_POINTS = 2.0
"""The goal: the peers' mean accuracy within this many points of centralized."""


class Link:
    """Per-pair latency and bandwidth, fixed by the pair's ids (so a rerun draws the same)."""

    def __init__(self, latency: tuple[float, float], bandwidth: float) -> None:
        self.latency = latency
        self.bandwidth = bandwidth * 1e6

    def seconds(self, a: str, b: str, nbytes: int) -> float:
        pair = "|".join(sorted((a, b)))
        frac = (zlib.crc32(pair.encode()) & 0xFFFF) / 0xFFFF
        low, high = self.latency
        return 2 * (low + (high - low) * frac) + nbytes / self.bandwidth


def partner(topology: str, me: str, live: list[str], exchanges: int, rng: random.Random) -> str:
    """The partner of ``me`` at its ``exchanges``-th exchange among ``live`` (sorted ids)."""
    m = len(live)
    p = live.index(me)
    if topology == "random":
        q = rng.randrange(m - 1)
        return live[q if q < p else q + 1]
    if topology == "ring":
        return live[(p + (1 if exchanges % 2 == 0 else -1)) % m]
    hops = max(1, int(math.log2(m - 1)) + 1) if m > 2 else 1
    if topology == "exp":
        k = rng.randrange(hops)
    elif topology == "one-peer-exp":
        k = exchanges % hops
    else:
        raise ValueError(f"unknown topology {topology!r}")
    q = (p + (1 << k)) % m
    return live[q if q != p else (p + 1) % m]


class Pairs:
    """gossip-node's partner choice (gossip.schedule.Schedule.choose): the round partner met least
    recently, ties in round order; both sides of an exchange count it as met."""

    def __init__(self) -> None:
        self.ids: list[str] = []  # the live peers the rounds are for, sorted
        self.rank: dict[str, int] = {}
        self.rounds: dict[str, np.ndarray] = {}  # id -> partner ranks in round order
        self.met: dict[str, np.ndarray] = {}  # id -> when it last met each of those; -1: never
        self.ended: dict[str, int] = {}  # id -> exchanges it took part in

    def choose(self, me: str, live: list[str]) -> str:
        if live != self.ids:
            self.reset(live)
        return live[int(self.rounds[me][int(np.argmin(self.met[me]))])]

    def reset(self, live: list[str]) -> None:
        """Ranks change with the live set: new rounds, the last meetings kept by id."""
        old = {
            me: {self.ids[int(r)]: int(t) for r, t in zip(rounds, self.met[me], strict=True)}
            for me, rounds in self.rounds.items()
            if me in live
        }
        self.ids = list(live)
        self.rank = {me: p for p, me in enumerate(live)}
        self.rounds = {me: np.array(round_partners(p, len(live))) for p, me in enumerate(live)}
        self.met = {
            me: np.array([old.get(me, {}).get(live[int(r)], -1) for r in rounds], dtype=np.int64)
            for me, rounds in self.rounds.items()
        }

    def met_now(self, a: str, b: str) -> None:
        for me, other in ((a, b), (b, a)):
            if me not in self.rounds or other not in self.rank:
                continue
            self.ended[me] = self.ended.get(me, 0) + 1
            where = np.flatnonzero(self.rounds[me] == self.rank[other])
            self.met[me][where] = self.ended[me]


class Run:
    """N nodes on one in-memory network and one manual clock; an event per peer."""

    def __init__(self, n: int, topology: str, args: argparse.Namespace, test: Dataset) -> None:
        self.n, self.topology, self.args, self.test = n, topology, args, test
        self.rng = random.Random(args.seed)
        self.clock = ManualClock()
        self.network = InMemoryNetwork(seed=args.seed)
        self.link = Link((args.latency[0] / 1000, args.latency[1] / 1000), args.bandwidth)
        self.nodes: dict[str, Node] = {}
        self.speed: dict[str, float] = {}
        self.exchanges: dict[str, int] = {}
        self.shard: dict[str, int] = {}
        self.pairs = Pairs()
        self.queue: list[tuple[float, int, str]] = []
        self.seq = 0
        self.now = 0.0
        self.sent_gone = 0  # bytes sent by peers that crashed
        self.failed = 0
        self.joined = 0
        for i in range(n):
            self.add(f"p{i:04d}", i)

    def add(self, node_id: str, shard: int) -> None:
        config = NodeConfig(
            id=node_id,
            listen=f"{node_id}:1",
            shard=(shard, self.n),
            seed=self.args.seed,
            compression=self.args.codec,
            share_normalizer=self.args.share_normalizer,
        )
        data = load_shard(config.dataset, partition=config.partition, shard=config.shard,
                          seed=config.seed)  # fmt: skip
        node = Node(config, transport=self.network.transport(), clock=self.clock, data=data)
        node.serve()
        self.nodes[node_id] = node
        self.shard[node_id] = shard
        self.exchanges[node_id] = 0
        spread = self.args.speed_spread
        self.speed[node_id] = self.args.speed * math.exp(self.rng.gauss(0.0, spread))
        self.schedule(node_id, self.now + self.rng.uniform(0, 1 / self.speed[node_id]))

    def schedule(self, node_id: str, when: float) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, node_id))

    def live(self) -> list[str]:
        return sorted(self.nodes)

    def bytes_sent(self) -> int:
        return self.sent_gone + sum(n.transport.traffic.sent for n in self.nodes.values())

    def crash_and_join(self) -> None:
        victim = self.rng.choice(self.live())
        node = self.nodes.pop(victim)
        self.sent_gone += node.transport.traffic.sent
        node.transport.stop(0.0)
        self.joined += 1
        self.add(f"j{self.joined:04d}", self.shard.pop(victim))

    def step(self, node_id: str) -> None:
        """One event of a peer: its local steps, then one exchange."""
        node = self.nodes.get(node_id)
        if node is None:
            return  # crashed since it was scheduled
        live = self.live()
        node.model.replicas = len(live)  # as its membership would tell it
        k = self.args.steps_per_exchange
        for _ in range(k):
            node.trainer.step()
        busy = k / self.speed[node_id]
        exchanging = 0.0
        for _ in range(self.args.exchanges_per_step if len(live) > 1 else 0):
            exchanging += self.exchange(node, live)
        # overlapped (gossip-node's two loops): the next exchange waits for this one
        busy = busy + exchanging if self.args.serial else max(busy, exchanging)
        self.schedule(node_id, self.now + busy)

    def exchange(self, node: Node, live: list[str]) -> float:
        """One exchange ``node`` starts with its topology's next partner; its link seconds."""
        node_id = node.id
        if self.topology == "pairs":
            other = self.pairs.choose(node_id, live)
        else:
            other = partner(self.topology, node_id, live, self.exchanges[node_id], self.rng)
        self.exchanges[node_id] += 1
        before = node.transport.traffic.sent + node.transport.traffic.received
        self.clock.advance(max(0.0, self.now - self.clock.now()))
        if not node.exchange_with(other, self.nodes[other].address):
            self.failed += 1
        self.pairs.met_now(node_id, other)
        moved = node.transport.traffic.sent + node.transport.traffic.received - before
        return self.link.seconds(node_id, other, moved)

    def measure(self) -> dict[str, float]:
        nodes = list(self.nodes.values())
        params = np.stack([n.replica.params.astype(np.float64) for n in nodes])
        mean = params.mean(axis=0)
        distance = float(((params - mean) ** 2).sum(axis=1).mean())
        sample = self.rng.sample(nodes, min(self.args.eval_peers, len(nodes)))
        peers = float(np.mean([evaluate(n.model, self.test).accuracy or 0.0 for n in sample]))
        probe = sample[0].model
        saved = probe.params.copy()
        probe.params[...] = mean.astype(probe.params.dtype)
        mean_model = evaluate(probe, self.test).accuracy or 0.0
        probe.params[...] = saved
        return {
            "t": round(self.now, 3),
            "accuracy": round(peers, 4),
            "mean_model_accuracy": round(mean_model, 4),
            "consensus_distance": distance,
            "bytes_per_peer": self.bytes_sent() / self.n,
            "steps_per_peer": float(np.mean([n.trainer.steps for n in nodes])),
        }

    def run(self) -> list[dict[str, float]]:
        args = self.args
        duration = args.steps / args.speed
        marks = [duration * (i + 1) / args.points for i in range(args.points)]
        churn_at = self.rng.expovariate(args.churn) if args.churn > 0 else math.inf
        history = [self.measure()]
        while marks:
            when, _, node_id = self.queue[0]
            if min(marks[0], churn_at) <= when:
                self.now = min(marks[0], churn_at)
                if churn_at <= marks[0]:
                    self.crash_and_join()
                    churn_at += self.rng.expovariate(args.churn)
                else:
                    marks.pop(0)
                    history.append(self.measure())
                    print(f"  {history[-1]}", flush=True)  # a long run shows its progress
                continue
            heapq.heappop(self.queue)
            self.now = when
            self.step(node_id)
        return history


def reached(history: list[dict[str, float]], target: float) -> dict[str, float] | None:
    """The first point at which the peers' mean accuracy is at least ``target``."""
    return next((h for h in history if h["accuracy"] >= target), None)


def dash(value: object) -> str:
    return "-" if value is None else str(value)


def plot(rows: list[dict[str, Any]], central: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(len(sizes), 3, figsize=(15, 3.6 * len(sizes)), squeeze=False)
    for row_axes, n in zip(axes, sizes, strict=True):
        for r in (r for r in rows if r["n"] == n):
            h = r["history"]
            t = [p["t"] for p in h]
            mb = [p["bytes_per_peer"] / 1e6 for p in h]
            acc = [p["accuracy"] for p in h]
            row_axes[0].plot(t, acc, label=r["topology"])
            row_axes[1].plot(mb, acc, label=r["topology"])
            row_axes[2].semilogy(t, [max(p["consensus_distance"], 1e-12) for p in h],
                                 label=r["topology"])  # fmt: skip
        for ax in row_axes[:2]:
            ax.axhline(central - GAP_POINTS / 100, color="grey", linestyle=":", linewidth=1)
            ax.set_ylabel(f"N={n}: peers' accuracy")
            ax.set_ylim(0.5, 1.0)
        row_axes[0].set_xlabel("simulated s")
        row_axes[1].set_xlabel("MB sent per peer")
        row_axes[2].set_xlabel("simulated s")
        row_axes[2].set_ylabel("consensus distance")
        row_axes[0].legend(fontsize=8)
    fig.suptitle(f"bench/scale.py: digits, centralized {central:.3f} (dotted: 2 points below)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 64, 256, 1000])
    parser.add_argument("--topologies", nargs="+", default=list(TOPOLOGIES))
    parser.add_argument("--steps", type=int, default=300, help="mean local steps per peer")
    parser.add_argument("--steps-per-exchange", type=int, default=1,
                        help="local steps between two exchanges a peer starts "
                        "(default: 1, as gossip-node)")  # fmt: skip
    parser.add_argument("--exchanges-per-step", type=int, default=1,
                        help="exchanges a peer starts after its steps, one after the other, "
                        "with its next partners (default: 1, as gossip-node)")  # fmt: skip
    parser.add_argument("--serial", action="store_true",
                        help="a peer waits for its exchange to end (no overlap)")  # fmt: skip
    parser.add_argument("--speed", type=float, default=20.0, help="mean steps/s of a peer")
    parser.add_argument("--speed-spread", type=float, default=0.3,
                        help="sigma of the log-normal factor on each peer's speed")  # fmt: skip
    parser.add_argument("--latency", type=float, nargs=2, default=[0.2, 5.0],
                        metavar=("MIN_MS", "MAX_MS"), help="one-way latency per link")  # fmt: skip
    parser.add_argument("--bandwidth", type=float, default=12.5, help="MB/s per link")
    parser.add_argument("--codec", default="none", help="--compression of every peer")
    parser.add_argument("--share-normalizer", choices=("on", "off"), default="off",
                        help="gossip-node's --share-normalizer for every peer")  # fmt: skip
    parser.add_argument("--churn", type=float, default=0.0,
                        help="crash+join pairs per simulated second")  # fmt: skip
    parser.add_argument("--points", type=int, default=20, help="measurements per run")
    parser.add_argument("--eval-peers", type=int, default=32)
    parser.add_argument("--central-samples", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="scale",
                        help="results as bench/results/NAME.json and NAME.png")  # fmt: skip
    args = parser.parse_args()
    bad = [t for t in args.topologies if t not in TOPOLOGIES]
    if (bad or min(args.sizes) < 2 or args.steps < 1 or args.steps_per_exchange < 1
            or args.exchanges_per_step < 1):  # fmt: skip
        parser.error(f"--topologies from {', '.join(TOPOLOGIES)}; --sizes >= 2; --steps >= 1; "
                     "--steps-per-exchange and --exchanges-per-step >= 1")  # fmt: skip
    if args.speed <= 0 or args.bandwidth <= 0 or args.churn < 0 or args.points < 1:
        parser.error("--speed and --bandwidth must be positive, --churn >= 0, --points >= 1")
    test = load_shard("digits", seed=args.seed)[1]
    central = centralized(NodeConfig(seed=args.seed), args.central_samples)["accuracy"]
    target = central - GAP_POINTS / 100
    print(f"centralized accuracy {central:.4f}; target {target:.4f}", flush=True)
    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        for topology in args.topologies:
            began = time.perf_counter()
            run = Run(n, topology, args, test)
            history = run.run()
            hit = reached(history, target)
            last = history[-1]
            row = {
                "n": n,
                "topology": topology,
                "history": history,
                "final_accuracy": last["accuracy"],
                "final_mean_model_accuracy": last["mean_model_accuracy"],
                "final_consensus_distance": last["consensus_distance"],
                "reached_s": hit["t"] if hit else None,
                "reached_mb_per_peer": round(hit["bytes_per_peer"] / 1e6, 3) if hit else None,
                "failed_exchanges": run.failed,
                "joined": run.joined,
                "wall_s": round(time.perf_counter() - began, 1),
            }
            rows.append(row)
            print(f"N={n:5d} {topology:13s} acc {last['accuracy']:.4f} mean-model "
                  f"{last['mean_model_accuracy']:.4f} consensus {last['consensus_distance']:.3g} "
                  f"within 2 pt at {row['reached_s']} s / {row['reached_mb_per_peer']} MB "
                  f"({row['wall_s']} s wall)", flush=True)  # fmt: skip
            report(rows, args, central, target)  # after every run: a partial table survives


def report(rows: list[dict[str, Any]], args: argparse.Namespace, central: float,
           target: float) -> None:  # fmt: skip
    """Print the table, write NAME.json and NAME.png."""
    best: dict[str, Any] = {}
    for n in sorted({r["n"] for r in rows}):
        hits = [r for r in rows if r["n"] == n and r["reached_s"] is not None]
        if hits:
            best[str(n)] = {
                "least_time": min(hits, key=lambda r: r["reached_s"])["topology"],
                "fewest_bytes": min(hits, key=lambda r: r["reached_mb_per_peer"])["topology"],
            }
    print(f"\n{'N':>5} {'topology':13s} {'acc':>6} {'mean':>6} {'consensus':>10} "
          f"{'2pt s':>7} {'2pt MB':>7}")  # fmt: skip
    for r in rows:
        print(f"{r['n']:>5} {r['topology']:13s} {r['final_accuracy']:>6.3f} "
              f"{r['final_mean_model_accuracy']:>6.3f} {r['final_consensus_distance']:>10.3g} "
              f"{dash(r['reached_s']):>7} {dash(r['reached_mb_per_peer']):>7}")  # fmt: skip
    print(f"best (within 2 points of centralized): {best}")
    write_result(args.name, {
        "args": vars(args), "centralized_accuracy": central, "target": target, "rows": rows,
        "best": best, "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
    })  # fmt: skip
    try:
        plot(rows, central, RESULTS_DIR / f"{args.name}.png")
    except ImportError:
        print("scale.png not drawn: matplotlib is missing (pip install 'gossip-train[plots]')")


if __name__ == "__main__":
    main()
