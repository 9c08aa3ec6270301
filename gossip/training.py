"""Local training of one peer: batches from its data, steps on the shared replica.

No threads and no clock here; the node calls :meth:`Trainer.step` in its
training loop and :meth:`Trainer.evaluate` now and then.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gossip.data import Dataset
from gossip.errors import UsageError
from gossip.model import Sequential
from gossip.replica import Replica
from gossip.trainable import Batch, Trainable


@dataclass(frozen=True)
class Evaluation:
    """Held-out loss and the task's metric (``accuracy`` or ``r2``)."""

    loss: float
    metric_name: str
    metric: float

    @property
    def accuracy(self) -> float | None:
        return self.metric if self.metric_name == "accuracy" else None


class Batches:
    """A shard's minibatch indices: a fresh seeded permutation every epoch, a remainder dropped.

    One definition of "a peer's batch order", shared by :class:`Trainer` and the
    baselines, so a worker holding shard I/N draws exactly the batches peer I would.
    """

    def __init__(self, rows: int, batch_size: int, rng: np.random.Generator) -> None:
        self.rows = rows
        self.batch_size = min(batch_size, rows)
        self.rng = rng
        self._order = np.empty(0, dtype=np.int64)
        self._cursor = 0

    def next(self) -> np.ndarray:
        """The row indices of the next minibatch."""
        if self._cursor + self.batch_size > self._order.size:
            self._order = self.rng.permutation(self.rows)
            self._cursor = 0
        batch = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += self.batch_size
        return batch


class ArrayBatches:
    """Arrays as an endless stream of ``(x, y)`` minibatches, in :class:`Batches` order.

    Any arrays that index by rows: a shard's, or a user's images for a Keras model.
    """

    def __init__(self, x: Any, y: Any, batch_size: int, rng: np.random.Generator) -> None:
        if len(x) == 0:
            raise ValueError("this peer's shard is empty")
        if len(x) != len(y):
            raise UsageError(f"x has {len(x)} samples but y has {len(y)}")
        self.x, self.y = x, y
        self.order = Batches(len(x), batch_size, rng)

    def __iter__(self) -> ArrayBatches:
        return self

    def __next__(self) -> Batch:
        rows = self.order.next()
        return self.x[rows], self.y[rows]


def whole(data: Dataset) -> list[Batch]:
    """A held-out set as one batch: the metric over all of it, exactly."""
    return [(data.x, data.y)]


class Trainer:
    """Steps on a stream of batches; every write to the parameters goes under the replica's lock."""

    def __init__(
        self,
        model: Trainable,
        replica: Replica,
        batches: Iterable[Batch],
        test: Iterable[Batch],
    ) -> None:
        self.model = model
        self.replica = replica
        self.batches = batches
        self.test = test
        self._stream: Iterator[Batch] = iter(batches)
        self.exhausted = False
        """The data ended (a one-shot iterator ran out): no more steps, only averaging."""
        self.steps = 0
        self.samples_seen = 0
        self.loss = float("nan")

    def step(self) -> float | None:
        """One optimizer step on the next batch; its loss, or None when the data has ended."""
        batch = self._next()
        if batch is None:
            return None
        x, y = batch
        loss = float(self.model.train_step(x, y, self.replica.lock))
        self.steps += 1
        self.samples_seen += len(x)
        self.loss = loss if self.steps == 1 else 0.98 * self.loss + 0.02 * loss
        return loss

    def _next(self) -> Batch | None:
        """The next batch, starting a new epoch of a re-iterable data source when one ends."""
        for _ in range(2):
            try:
                return next(self._stream)
            except StopIteration:
                self._stream = iter(self.batches)  # an iterator returns itself: still empty
        self.exhausted = True
        return None

    def evaluate(self) -> Evaluation:
        """Loss and metric on the held-out batches (live parameters: an exchange may land)."""
        totals: dict[str, float] = {}
        count = 0
        for x, y in self.test:
            rows = len(x)
            for key, value in self.model.evaluate(x, y).items():
                totals[key] = totals.get(key, 0.0) + float(value) * rows
            count += rows
        if count == 0:
            raise ValueError("the held-out data has no samples")
        return scores({key: total / count for key, total in totals.items()})


def scores(result: Mapping[str, float]) -> Evaluation:
    """The loss and the metric to report from a model's metric dict."""
    others = [key for key in result if key != "loss"]
    name = next((k for k in ("accuracy", "r2") if k in result), others[0] if others else "loss")
    return Evaluation(float(result["loss"]), name, float(result[name]))


def evaluate(model: Sequential, test: Dataset) -> Evaluation:
    """``model``'s loss and task metric on ``test``."""
    return scores(model.evaluate(test.x, test.y))
