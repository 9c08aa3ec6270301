"""Why N peers fall short of centralized: the optimizer apart from the mixing.

    python bench/scale_isolate.py --n 256 --mix exact               # zero consensus distance
    python bench/scale_isolate.py --n 256 --mix pairs --optimizer momentum

N copies of the ``--model`` MLP with our optimizer (Adam told ``replicas = N``,
as a node is), each on its shard of digits (batches of up to 32, as a peer),
all stepping together; after every ``--steps-per-mix`` steps either every
model is set to their mean (``exact``: what synchronous data-parallel training
keeps, consensus distance 0) or the peers average in disjoint random pairs
(``pairs``: one exchange per peer), or not at all (``none``). With
``--share-normalizer`` every Adam divides by its shared estimate of the
second moment (``Adam.share_normalizer``) and the mixing averages those
vectors as it averages the models (what an exchange carrying them would do).
No network, no clocks: what is left is the optimizer and the mixing. Prints and writes
(bench/results/NAME.json) the mean model's and the peers' held-out accuracy
and the consensus distance every 50 steps, and last the synchronous baseline's
accuracy for the same N and steps (gossip.baseline.synchronous) unless
``--no-synchronous``.

Every 50 steps it also compares peer 0's Adam normalizer ``d`` (what
gossip.model.optimizers.ClusterMoments estimates) with synchronous Adam's,
``sqrt(v)``, v the slow average (beta2) of the squared mean gradient of the N
peers: the median and 90th percentile of ``sqrt(v) / d`` over coordinates, and
the fraction of coordinates at the STEP_BOUND floor. ``--oracle`` gives every
peer synchronous Adam's v as its normalizer instead: with ``--mix exact`` the
models then follow synchronous Adam. With ``--share-normalizer`` the
comparison is with the shared estimate, the divisor then.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gossip.model.optimizers as optimizers
from bench._common import machine, write_result
from gossip.baseline import synchronous
from gossip.config import NodeConfig
from gossip.data import load_shard
from gossip.recipe import build_model
from gossip.training import ArrayBatches, evaluate

MIXES = ("exact", "pairs", "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="peers")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--steps-per-mix", type=int, default=1)
    parser.add_argument("--mix", choices=MIXES, default="exact")
    parser.add_argument("--mix-rounds", type=int, default=1,
                        help="rounds of pairs per mixing (pairs): exchanges per peer")  # fmt: skip
    parser.add_argument("--optimizer", default="adam", help="sgd | momentum | adam")
    parser.add_argument("--no-synchronous", action="store_true")
    parser.add_argument("--oracle", action="store_true",
                        help="every peer's Adam normalizes by synchronous Adam's v")  # fmt: skip
    parser.add_argument("--share-normalizer", action="store_true",
                        help="Adam divides by a shared estimate the mixing averages")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="scale_isolate")
    args = parser.parse_args()
    if args.n < 2 or args.steps < 1 or args.steps_per_mix < 1 or args.mix_rounds < 1:
        parser.error("--n >= 2, --steps >= 1, --steps-per-mix >= 1, --mix-rounds >= 1")
    config = NodeConfig(seed=args.seed, optimizer=args.optimizer)
    test = load_shard("digits", seed=args.seed)[1]
    models, feeds = [], []
    for i in range(args.n):
        train = load_shard("digits", shard=(i, args.n), seed=args.seed)[0]
        model = build_model(config, train)
        model.replicas = args.n
        if args.share_normalizer:
            model.optimizer.share_normalizer = True
        models.append(model)
        feeds.append(ArrayBatches(train.x, train.y, config.batch_size,
                                  np.random.default_rng([args.seed, i, args.n])))  # fmt: skip
    rng = np.random.default_rng(args.seed + 1)
    sync = Synchronous(models[0].params.size, args.oracle)
    history = []
    began = time.perf_counter()
    for step in range(1, args.steps + 1):
        pairs = zip(models, feeds, strict=True)
        grads = [model.compute_gradients(*next(feed))[1] for model, feed in pairs]
        sync.take(grads)
        for model, g in zip(models, grads, strict=True):
            model.apply_gradients(g)
        if step % args.steps_per_mix == 0:
            for _ in range(args.mix_rounds):
                mix(models, args.mix, rng)
        if step % 50 == 0 or step == args.steps:
            point = {"step": step, **measure(models, test, rng), **sync.compare(models[0])}
            history.append(point)
            print(point, flush=True)
    result: dict[str, object] = {"args": vars(args), "history": history,
                                 "wall_s": round(time.perf_counter() - began, 1)}  # fmt: skip
    if not args.no_synchronous:
        sync = synchronous(config, args.n, args.steps)
        result["synchronous_accuracy"] = sync["accuracy"]
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"] = machine()
    write_result(args.name, result)
    last = history[-1]
    print(f"N={args.n} {args.optimizer} mix {args.mix} every {args.steps_per_mix}: mean model "
          f"{last['mean_model_accuracy']:.4f}, synchronous "
          f"{result.get('synchronous_accuracy', '-')}")  # fmt: skip


class Synchronous:
    """Synchronous Adam's second moment of the mean gradient, tracked beside the peers."""

    def __init__(self, size: int, oracle: bool) -> None:
        self.v = np.zeros(size)
        self.t = 0
        self.oracle = oracle
        if oracle:
            estimate = optimizers.ClusterMoments.step

            def step(moments: optimizers.ClusterMoments, *args: object) -> np.ndarray:
                second: np.ndarray = estimate(moments, *args)  # type: ignore[arg-type]
                if self.t:
                    second[...] = self.v_hat()
                return second

            optimizers.ClusterMoments.step = step  # type: ignore[method-assign]

    def take(self, grads: list[np.ndarray]) -> None:
        mean = np.mean(grads, axis=0, dtype=np.float64)
        self.t += 1
        self.v *= 0.999
        self.v += 0.001 * mean * mean

    def v_hat(self) -> np.ndarray:
        return self.v * (1.0 / (1 - 0.999**self.t))

    def compare(self, model: object) -> dict[str, float]:
        adam = model.optimizer  # type: ignore[attr-defined]
        cluster = adam._cluster
        if cluster is None or cluster.second is None:
            return {}
        m_hat = adam._m / (1 - adam.beta1**adam._t)
        floor = m_hat * m_hat / optimizers.STEP_BOUND**2
        shared = adam.shared_normalizer()
        divisor = cluster.second if shared is None else shared
        ratio = np.sqrt(self.v_hat()) / np.sqrt(np.maximum(divisor, 1e-30))
        return {
            "sync_over_d_median": round(float(np.median(ratio)), 2),
            "sync_over_d_p90": round(float(np.percentile(ratio, 90)), 2),
            "at_floor": round(float(np.mean(divisor <= floor * 1.0001)), 3),
        }


def mix(models: list, how: str, rng: np.random.Generator) -> None:
    """Exact mean, or one round of disjoint random pairs averaging, or nothing.

    The shared normalizers (``--share-normalizer``) are averaged the same way."""
    vectors = [[m.params for m in models]]
    shared = [getattr(m.optimizer, "shared_normalizer", lambda: None)() for m in models]
    if all(v is not None for v in shared):
        vectors.append(shared)
    if how == "exact":
        for group in vectors:
            mean = np.mean(group, axis=0)
            for v in group:
                v[...] = mean
    elif how == "pairs":
        order = rng.permutation(len(models))
        for a, b in zip(order[0::2], order[1::2], strict=False):
            for group in vectors:
                group[a][...] = group[b][...] = (group[a] + group[b]) / 2


def measure(models: list, test: object, rng: np.random.Generator) -> dict[str, float]:
    params = np.stack([m.params for m in models]).astype(np.float64)
    mean = params.mean(axis=0)
    probe = models[0]
    saved = probe.params.copy()
    probe.params[...] = mean
    mean_model = evaluate(probe, test).accuracy or 0.0
    probe.params[...] = saved
    sample = rng.choice(len(models), min(32, len(models)), replace=False)
    peers = float(np.mean([evaluate(models[i], test).accuracy or 0.0 for i in sample]))
    return {
        "mean_model_accuracy": round(mean_model, 4),
        "peers_accuracy": round(peers, 4),
        "consensus_distance": float(((params - mean) ** 2).sum(axis=1).mean()),
    }


if __name__ == "__main__":
    main()
