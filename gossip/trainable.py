"""The model seam: what a peer needs from a model and its data, whatever trains it.

A peer gossips one flat float32 vector. Any model that exposes its trainable
parameters as such a vector (views into it, or copies kept in step with it)
and can take one training step on a batch can be gossip-trained: our numpy
:class:`~gossip.model.Sequential` does it natively, ``gossip.adapters.keras``
wraps a compiled Keras 3 model, ``gossip.adapters.torch`` an ``nn.Module``.

The node owns the threads and the replica lock; the model decides which part of
its step needs the lock (only the write into :attr:`Trainable.params`: the
averaging rule adds increments to the same vector from the exchange threads).

Data comes through a seam too: any iterable of ``(x, y)`` batches, so a
generator or a DataLoader works as well as arrays held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

Batch = tuple[Any, Any]
"""One minibatch ``(x, y)`` in whatever form the model's framework takes."""

OptimizerState = dict[str, "np.ndarray | int"]
"""Arrays and integer counters of an optimizer, as a checkpoint stores them."""


@runtime_checkable
class Trainable(Protocol):
    """Everything a peer asks of a model; implement it to gossip-train another framework."""

    @property
    def params(self) -> np.ndarray:
        """The trainable parameters as one flat, contiguous float32 vector.

        The same array for the model's whole life: the averaging rule reads it and
        adds increments to it in place under the replica lock, from other threads.
        Whatever the model trains must be (or be synced from) exactly this vector.
        """
        ...

    def fingerprint(self) -> str:
        """A short name of the architecture, equal across processes for the same model.

        Peers refuse to average vectors whose fingerprints differ; include the
        parameter count and the layers' shapes, not names a framework numbers per process.
        """
        ...

    def train_step(self, x: Any, y: Any, lock: AbstractContextManager[Any]) -> float:
        """One optimizer step on the batch ``(x, y)``; returns the batch loss.

        Hold ``lock`` while writing into :attr:`params`, and only then: the
        exchange threads wait on it.
        """
        ...

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """``{"loss": ..., <metric>: ...}`` on one held-out batch at the current parameters.

        The node averages the dicts of several batches weighted by ``len(x)``; it
        reports ``accuracy`` when present, else ``r2``, else the first other key.
        """
        ...

    def optimizer_state(self) -> OptimizerState:
        """Copies of what a checkpoint keeps besides :attr:`params`: the optimizer's state
        (moments, counters) and any state kept local to the peer (BatchNorm statistics)."""
        ...

    def load_optimizer_state(self, state: OptimizerState) -> None:
        """Restore what :meth:`optimizer_state` returned; ValueError when it does not fit."""
        ...


@runtime_checkable
class ReplicaAware(Protocol):
    """Optional: a model whose optimizer wants to know how many peers average its updates.

    Before every step the node sets ``replicas`` to 1 + its partners; our Adam
    uses it to normalise as synchronous Adam over the cluster would
    (gossip/model/optimizers.py). A model without the attribute just trains.
    """

    replicas: int


@runtime_checkable
class SharesNormalizer(Protocol):
    """Optional: a model whose optimizer divides by a normalizer the peers average.

    With ``--share-normalizer on`` the node sets ``share_normalizer`` and its
    exchanges carry blocks of :meth:`shared_normalizer` beside the parameters
    (gossip/averaging/normalizer.py). Our Adam has one: with one or two
    samples a peer, its own second-moment estimate is far off while the
    peers' mean is close (bench/scale_isolate.py). A model without it sends
    none and averages none.
    """

    share_normalizer: bool

    def shared_normalizer(self) -> np.ndarray | None:
        """The vector itself, written under the replica lock; None while there is none."""
        ...


@runtime_checkable
class Mirrored(Protocol):
    """Optional: a model that trains a copy of :attr:`Trainable.params` held elsewhere
    (a GPU, Keras's variables) and refreshes it before a step only when needed.

    The node calls :meth:`watch_writes` once with a reader of the replica's count
    of writes others made to the vector (exchanges' increments, a catch-up, a
    resume; not the model's own steps), to read under the replica lock. A model
    never told copies the vector in before every step (gossip/adapters/mirror.py).
    """

    def watch_writes(self, writes: Callable[[], int]) -> None: ...


@dataclass(frozen=True)
class Feed:
    """A peer's data as batches: ``train`` for the steps, ``test`` for the held-out metric.

    ``train`` is iterated again when it ends (an epoch) if it is an iterable such
    as a list or a DataLoader; a one-shot iterator (a generator) that ends, ends
    training: the peer goes on averaging. ``test`` is iterated in full at every
    evaluation, so it must be re-iterable (a list of one ``(x, y)`` is fine).
    """

    train: Iterable[Batch]
    test: Iterable[Batch]
    name: str = "custom"


REQUIRED = ("params", "fingerprint", "train_step", "evaluate", "optimizer_state",
            "load_optimizer_state")  # fmt: skip


def missing_members(model: object) -> list[str]:
    """What ``model``'s class lacks of :class:`Trainable` (empty: it is one).

    Checked on the class, so no property runs (an unbuilt model may raise).
    """
    return [name for name in REQUIRED if not hasattr(type(model), name)]
