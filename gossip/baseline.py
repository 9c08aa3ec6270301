"""The yardsticks a gossip run is compared against: centralized and synchronous training.

Both are built and stepped by the same code a peer uses (:mod:`gossip.recipe`,
the model's ``compute_gradients``/``apply_gradients``, a peer's batch order
from :class:`gossip.training.Batches`), with the same seed, initial model,
optimizer, learning rate and batch size, and are scored on the same held-out
set; so the only difference left is how the peers combine their work.

- :func:`centralized`: one model on the whole train split, batch B, for as
  many samples as all N peers together: small batches, N times the steps.
- :func:`synchronous`: synchronous data-parallel SGD (what an all-reduce
  strategy such as TensorFlow's MirroredStrategy does): every step each of N
  workers takes a batch of B from its own shard and all apply the mean
  gradient, a global batch of N*B, for the peers' number of steps. This is the
  fair yardstick for decentralized training: same shards, same steps, and the
  same large-batch effect at a fixed learning rate.

With ``--model-factory`` the centralized baseline trains the user's model
through the model seam (gossip.trainable); the synchronous one averages our
MLP's gradients and is not available.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from gossip.adapters import adapt
from gossip.config import NodeConfig
from gossip.data import Dataset
from gossip.errors import UsageError
from gossip.factory import load
from gossip.model import Sequential
from gossip.recipe import build_model, load_data
from gossip.replica import Replica
from gossip.training import ArrayBatches, Batches, Evaluation, Trainer, evaluate, whole

Gradient = Callable[[], tuple[float, np.ndarray]]
"""Draws the next step's batches and returns (mean loss, gradient) at the current parameters."""


def centralized(config: NodeConfig, total_samples: int) -> dict[str, Any]:
    """Train on the whole train split until ``total_samples`` samples are processed.

    Deterministic for a given config: batches come from a generator seeded like
    a peer's that holds shard 0/1. Returns held-out ``accuracy`` (None for
    regression), ``metric`` ({name, value}), ``loss``, ``steps``, ``batch_size``,
    ``samples_seen``, ``train_samples`` (size of the train split) and ``seconds``
    (wall time).
    """
    return alone(replace(config, shard=(0, 1), partition="iid"), total_samples)


def alone(config: NodeConfig, total_samples: int) -> dict[str, Any]:
    """Train ``config.shard`` of ``config.partition`` with no gossip: the floor gossip must beat.

    The same peer as ``gossip-node`` with this config (data, model, batches),
    minus every exchange; returns what :func:`centralized` does, for that shard.
    """
    if total_samples < 1:
        raise UsageError(f"training needs at least 1 sample, got {total_samples}")
    began = time.monotonic()
    train, test = load_data(config)
    given = user_model(config)
    model = adapt(build_model(config, train) if given is None else given, train.x)
    replica = Replica(model.params, model.fingerprint(), config.alpha)
    rng = np.random.default_rng([config.seed, *config.shard])  # as gossip.node seeds it
    feed = ArrayBatches(train.x, train.y, config.batch_size, rng)
    trainer = Trainer(model, replica, feed, whole(test))
    with blas_threads(config):
        while trainer.samples_seen < total_samples:
            trainer.step()
    return {
        **_scores(trainer.evaluate()),
        "steps": trainer.steps,
        "batch_size": feed.order.batch_size,
        "samples_seen": trainer.samples_seen,
        "train_samples": len(train),
        "seconds": round(time.monotonic() - began, 3),
    }


def synchronous(
    config: NodeConfig, workers: int, steps: int, eval_every: int | None = None
) -> dict[str, Any]:
    """Synchronous data-parallel SGD: ``workers`` shards, one model, the mean gradient per step.

    Worker I holds shard I/``workers`` of ``config.partition`` (the shard peer I
    trains on) and draws its batches in peer I's order. Deterministic for a
    given config. Returns what :func:`centralized` does (``batch_size`` is per
    worker, ``train_samples`` the whole split) plus ``workers``, ``global_batch``
    (the samples per step, less than workers * batch_size when a shard is smaller
    than a batch), and ``history``: the held-out metric every
    ``eval_every`` steps and at the end, as ``[{"step", "value"}]`` (empty when
    ``eval_every`` is None).
    """
    if workers < 1:
        raise UsageError(f"synchronous training needs at least 1 worker, got {workers}")
    if steps < 1:
        raise UsageError(f"synchronous training needs at least 1 step, got {steps}")
    if eval_every is not None and eval_every < 1:
        raise UsageError(f"eval_every must be at least 1, got {eval_every}")
    if config.model_factory:
        raise UsageError(
            "the synchronous baseline averages the --model MLP's gradients: "
            "not available with --model-factory"
        )
    began = time.monotonic()
    loaded = [load_data(config, shard=(i, workers)) for i in range(workers)]
    shards = [train for train, _ in loaded]
    test = loaded[0][1]
    model = build_model(config, shards[0])
    batches = [
        Batches(len(shard), config.batch_size, np.random.default_rng([config.seed, i, workers]))
        for i, shard in enumerate(shards)
    ]
    equal = len({b.batch_size for b in batches}) == 1
    gradient = (concatenated if equal else averaged)(model, shards, batches)
    history: list[dict[str, float]] = []
    with blas_threads(config):
        for step in range(1, steps + 1):
            _, grads = gradient()
            model.apply_gradients(grads)
            if eval_every is not None and (step % eval_every == 0 or step == steps):
                history.append({"step": step, "value": evaluate(model, test).metric})
    global_batch = sum(b.batch_size for b in batches)
    return {
        **_scores(evaluate(model, test)),
        "steps": steps,
        "samples_seen": steps * global_batch,
        "train_samples": sum(len(shard) for shard in shards),
        "workers": workers,
        "batch_size": config.batch_size,
        "global_batch": global_batch,
        "history": history,
        "seconds": round(time.monotonic() - began, 3),
    }


def concatenated(
    model: Sequential, shards: Sequence[Dataset], batches: Sequence[Batches]
) -> Gradient:
    """One gradient on the workers' batches stacked together.

    With equal batch sizes the mean loss over the stack is the mean of the
    workers' mean losses, so its gradient is the mean of their gradients, at
    the cost of one pass instead of N.
    """
    x = np.concatenate([shard.x for shard in shards])
    y = np.concatenate([shard.y for shard in shards])
    offsets = np.cumsum([0, *(len(shard) for shard in shards[:-1])])

    def gradient() -> tuple[float, np.ndarray]:
        rows = np.concatenate(
            [offset + b.next() for offset, b in zip(offsets, batches, strict=True)]
        )
        return model.compute_gradients(x[rows], y[rows])

    return gradient


def averaged(model: Sequential, shards: Sequence[Dataset], batches: Sequence[Batches]) -> Gradient:
    """The mean of the workers' gradients, each on its own batch (needed when sizes differ)."""

    def gradient() -> tuple[float, np.ndarray]:
        total_loss, total = 0.0, np.zeros_like(model.params)
        for shard, b in zip(shards, batches, strict=True):
            rows = b.next()
            loss, grads = model.compute_gradients(shard.x[rows], shard.y[rows])
            total_loss += loss
            total += grads
        return total_loss / len(shards), total / len(shards)

    return gradient


def user_model(config: NodeConfig) -> object | None:
    """The ``--model-factory`` model, for the centralized baseline (None: the ``--model`` MLP).

    The baseline trains it on the config's data set; a factory's own data is not sharded
    the way the baselines need it.
    """
    if not config.model_factory:
        return None
    model, data = load(config.model_factory, config)
    if data is not None:
        raise UsageError(
            f"--model-factory {config.model_factory} returns its own data: "
            "the baselines train on --dataset only"
        )
    return model


def steps_to_reach(history: Sequence[dict[str, float]], target: float) -> int | None:
    """The first evaluated step whose metric is at least ``target``; None if none is."""
    return next((int(h["step"]) for h in history if h["value"] >= target), None)


@contextmanager
def blas_threads(config: NodeConfig) -> Iterator[None]:
    """Run the block with a peer's ``--blas-threads`` (0: numpy's default).

    On a busy host more BLAS threads slow these small matrices down: a
    256-row batch on digits took ten times longer with 2 threads than with 1.
    """
    if config.blas_threads > 0:
        with threadpool_limits(limits=config.blas_threads, user_api="blas"):
            yield
    else:
        yield


def _scores(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "accuracy": evaluation.accuracy,
        "metric": {"name": evaluation.metric_name, "value": evaluation.metric},
        "loss": evaluation.loss,
    }
