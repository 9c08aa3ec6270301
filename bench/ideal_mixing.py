"""How much of the gap to synchronous training is the averaging rule, not the system.

N models train in one process, in lockstep, on the peers' shards with a peer's
batches, model and optimizer (Adam told ``replicas = N``, as a node does), and
after every ``--steps-per-exchange`` steps each model is averaged exactly with
its partner of the next round (:mod:`gossip.pairing`): no network, no codec,
no timing. What is left between this and the synchronous baseline is what the
rule itself costs; a real cluster can only add to it.

Two references run beside it, on the same shards and rounds:

* ``true-second-moment``: each peer keeps its own first moment but divides by
  the synchronous run's second moment (the mean gradient's, computed here from
  all peers' gradients, which no peer can see). It tells what a better
  estimate of that moment would win.
* ``gossiped-second-moment``: our Adam with ``share_normalizer``: each peer
  divides by a running mean (Adam's beta2 average) of its estimate that pairs
  average at every exchange, as they average parameters: the divisor is
  nearly the same on every peer, so averaging models averages the steps. It tells what sharing
  that estimate (twice the values per exchange) would win.
* ``momentum``: heavy-ball momentum against synchronous momentum. Momentum is
  linear in the gradient, so averaging models averages its updates exactly.

Accuracy is reported for the peers (mean of their own models, as a cluster
stopped mid-training holds them) and for the mean model (what averaging after
training converges to).

    python bench/ideal_mixing.py [--task clusters] [--partition dirichlet:0.5]
                                 [--seeds 0,1,2] [--steps-per-exchange 2] [--rules adam,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result

from gossip.baseline import synchronous
from gossip.config import NodeConfig
from gossip.model import Sequential
from gossip.model.optimizers import Adam
from gossip.pairing import round_partners
from gossip.recipe import build_model, load_data
from gossip.training import Batches, evaluate

BATCH = {"clusters": 100}


class TrueSecondMoment(Adam):
    """Adam with its own first moment over the synchronous second moment ``shared[0]``."""

    def __init__(self, shared: list[np.ndarray], lr: float) -> None:
        super().__init__(lr)
        self.shared = shared

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        if self._m is None:
            self._m = np.zeros_like(params)
        self._t += 1
        self._m *= self.beta1
        self._m += (1 - self.beta1) * grads
        v_hat = self.shared[0] / (1 - self.beta2**self._t)
        m_hat = self._m / (1 - self.beta1**self._t)
        params -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(params.dtype)


RULES = ("adam", "true-second-moment", "gossiped-second-moment", "momentum")


def gossip(config: NodeConfig, n: int, steps: int, every: int, rule: str) -> dict[str, float]:
    """Peers' and mean model's held-out accuracy after ``steps`` lockstep steps."""
    loaded = [load_data(config, shard=(i, n)) for i in range(n)]
    test = loaded[0][1]
    models: list[Sequential] = [build_model(config, train) for train, _ in loaded]
    second = [np.zeros_like(models[0].params)]
    for model in models:
        if rule == "true-second-moment":
            model.compile(TrueSecondMoment(second, model.optimizer.lr), model.loss)
        model.replicas = n
        if rule == "gossiped-second-moment" and isinstance(model.optimizer, Adam):
            model.optimizer.share_normalizer = True
    batches = [
        Batches(len(train), config.batch_size, np.random.default_rng([config.seed, i, n]))
        for i, (train, _) in enumerate(loaded)
    ]
    vectors = [model.params for model in models]
    partners = [round_partners(i, n) for i in range(n)]
    for step in range(steps):
        grads = []
        for (train, _), model, order in zip(loaded, models, batches, strict=True):
            rows = order.next()
            grads.append(model.compute_gradients(train.x[rows], train.y[rows])[1])
        mean = np.mean(grads, axis=0)
        second[0] *= 0.999  # Adam's default beta2, as TrueSecondMoment's bias correction
        second[0] += 0.001 * mean * mean
        for model, grad in zip(models, grads, strict=True):
            model.apply_gradients(grad)
        if (step + 1) % every == 0:
            r = (step // every) % (n - 1)
            for i in range(n):
                j = partners[i][r]
                if i < j:
                    middle = (vectors[i] + vectors[j]) / 2
                    vectors[i][...] = middle
                    vectors[j][...] = middle
                    pair = [shared_normalizer(models[i]), shared_normalizer(models[j])]
                    if pair[0] is not None and pair[1] is not None:
                        pair[0][...] = pair[1][...] = (pair[0] + pair[1]) / 2
    peers = statistics.fmean(evaluate(m, test).accuracy or 0.0 for m in models)
    models[0].params[...] = np.mean([m.params for m in models], axis=0)
    return {"peers": peers, "mean_model": evaluate(models[0], test).accuracy or 0.0}


def shared_normalizer(model: Sequential) -> np.ndarray | None:
    """Adam's shared estimate when it divides by one (the rule), else None."""
    optimizer = model.optimizer
    return optimizer.shared_normalizer() if isinstance(optimizer, Adam) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="clusters")
    parser.add_argument("--partition", default="dirichlet:0.5")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--steps-per-exchange", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rules", default=",".join(RULES), help="of: " + ", ".join(RULES))
    args = parser.parse_args()
    if args.nodes < 2 or args.nodes % 2:
        parser.error("--nodes must be even and at least 2 (every peer in a pair every round)")
    n, steps, every = args.nodes, args.steps, args.steps_per_exchange
    rules = args.rules.split(",")
    if not rules or not set(rules) <= set(RULES):
        parser.error(f"--rules takes some of {', '.join(RULES)}, got {args.rules!r}")
    rows: list[dict[str, Any]] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        base = NodeConfig(dataset=args.task, partition=args.partition, seed=seed,
                          batch_size=BATCH.get(args.task, 32))  # fmt: skip
        for rule in rules:
            config = replace(base, optimizer="momentum" if rule == "momentum" else "adam")
            sync = synchronous(config, n, steps)["accuracy"]
            got = gossip(config, n, steps, every, rule)
            row = {"seed": seed, "rule": rule, "synchronous": sync, **got,
                   "gap_mean_model_points": 100 * (sync - got["mean_model"]),
                   "gap_peers_points": 100 * (sync - got["peers"])}  # fmt: skip
            rows.append(row)
            print(f"seed {seed} {rule:18s} sync {sync:.4f}  mean model {got['mean_model']:.4f} "
                  f"(gap {row['gap_mean_model_points']:+.2f} pt)  peers {got['peers']:.4f} "
                  f"(gap {row['gap_peers_points']:+.2f} pt)", flush=True)  # fmt: skip
    write_result("ideal_mixing", {"args": vars(args), "rows": rows, "machine": machine()})
    for rule in rules:
        gaps = [r["gap_mean_model_points"] for r in rows if r["rule"] == rule]
        print(f"{rule}: mean model's gap to synchronous, mean over seeds "
              f"{statistics.fmean(gaps):+.2f} pt (worst {max(gaps):+.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
