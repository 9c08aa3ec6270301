"""Local training of one peer: batches from its shard, steps on the shared replica.

No threads and no clock here; the node calls :meth:`Trainer.step` in its
training loop and :meth:`Trainer.evaluate` now and then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.averaging.pairwise import Replica
from gossip.data import Dataset
from gossip.model import Sequential


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


class Trainer:
    """Minibatch SGD on a shard; every write to the parameters goes through the replica's lock."""

    def __init__(
        self,
        model: Sequential,
        replica: Replica,
        train: Dataset,
        test: Dataset,
        batch_size: int,
        rng: np.random.Generator,
    ) -> None:
        if len(train) == 0:
            raise ValueError("this peer's shard is empty")
        self.model = model
        self.replica = replica
        self.train = train
        self.test = test
        self.batches = Batches(len(train), batch_size, rng)
        self.steps = 0
        self.samples_seen = 0
        self.loss = float("nan")

    def step(self) -> float:
        """One optimizer step on the next minibatch; returns its loss."""
        batch = self.batches.next()
        loss, grads = self.model.compute_gradients(self.train.x[batch], self.train.y[batch])
        with self.replica.lock:
            self.model.apply_gradients(grads)
        self.steps += 1
        self.samples_seen += batch.size
        self.loss = loss if self.steps == 1 else 0.98 * self.loss + 0.02 * loss
        return loss

    def evaluate(self) -> Evaluation:
        """Loss and metric on the held-out set (live parameters: an exchange may land mid-way)."""
        return evaluate(self.model, self.test)


def evaluate(model: Sequential, test: Dataset) -> Evaluation:
    """``model``'s loss and task metric on ``test``."""
    result = model.evaluate(test.x, test.y)
    name = "accuracy" if "accuracy" in result else "r2"
    return Evaluation(float(result["loss"]), name, float(result[name]))
