"""Losses over a batch: value, gradient w.r.t. the model output, and a metric.

Cross-entropy takes *logits* and fuses the softmax into the loss: its gradient
is simply ``softmax - target``, which is exact and never divides by a tiny
probability. A model whose last layer says ``softmax`` has that activation
skipped during training for the same reason (see ``fused_activation``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from numpy.typing import ArrayLike

from gossip.errors import UsageError
from gossip.model.activations import log_softmax, softmax

Array = np.ndarray


class Loss(ABC):
    """A loss on a batch. Targets are first normalised by :meth:`targets`."""

    name: str = ""
    metric_name: str = ""
    fused_activation: str | None = None
    """An activation of the last layer that this loss applies itself."""

    @abstractmethod
    def targets(self, y: ArrayLike, outputs: int, dtype: np.dtype) -> Array:
        """Check ``y`` against an output width and convert it to the form used here."""

    @abstractmethod
    def value_and_grad(self, out: Array, t: Array) -> tuple[float, Array]:
        """Mean loss over the batch and its gradient w.r.t. ``out`` (same dtype)."""

    @abstractmethod
    def value(self, out: Array, t: Array) -> float:
        """Mean loss over the batch."""

    @abstractmethod
    def metric(self, out: Array, t: Array) -> float:
        """The human-facing score (accuracy, R²) of raw outputs against targets."""

    def predict(self, out: Array) -> Array:
        """Turn raw outputs into predictions (probabilities for cross-entropy)."""
        return out


class MeanSquaredError(Loss):
    """Mean over samples and outputs of the squared error; metric is R²."""

    name = "mse"
    metric_name = "r2"

    def targets(self, y: ArrayLike, outputs: int, dtype: np.dtype) -> Array:
        t = np.asarray(y, dtype=dtype)
        if t.ndim == 1:
            t = t.reshape(-1, 1)
        if t.ndim != 2 or t.shape[1] != outputs:
            raise UsageError(
                f"mse targets must have shape (n,) or (n, {outputs}) "
                f"for a model with {outputs} outputs, got {np.shape(y)}"
            )
        return t

    def value_and_grad(self, out: Array, t: Array) -> tuple[float, Array]:
        diff: Array = out - t
        size = int(diff.size)
        loss = float(np.vdot(diff, diff)) / size
        diff *= 2.0 / size
        return loss, diff

    def value(self, out: Array, t: Array) -> float:
        diff: Array = out - t
        return float(np.vdot(diff, diff)) / int(diff.size)

    def metric(self, out: Array, t: Array) -> float:
        """R² averaged over outputs; a constant target column scores 0 unless fit exactly."""
        o = out.astype(np.float64)
        y = t.astype(np.float64)
        ss_res = ((y - o) ** 2).sum(axis=0)
        ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
        safe = np.where(ss_tot > 0, ss_tot, 1.0)
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / safe, np.where(ss_res == 0, 1.0, 0.0))
        return float(r2.mean())


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits; targets are class indices or one-hot rows.

    Class indices stay a 1-D int array (cheap); one-hot or soft-label rows stay
    a 2-D float array. Metric is accuracy.
    """

    name = "ce"
    metric_name = "accuracy"
    fused_activation = "softmax"

    def targets(self, y: ArrayLike, outputs: int, dtype: np.dtype) -> Array:
        if outputs < 2:
            raise UsageError(f"cross-entropy needs at least 2 outputs, the model has {outputs}")
        t = np.asarray(y)
        if t.ndim == 1:
            integral = np.issubdtype(t.dtype, np.integer) or (
                np.issubdtype(t.dtype, np.floating) and bool(np.all(t == np.round(t)))
            )
            if not integral:
                raise UsageError("ce targets of shape (n,) must be integer class indices")
            idx = t.astype(np.intp)
            if idx.size and (idx.min() < 0 or idx.max() >= outputs):
                raise UsageError(
                    f"class index out of range [0, {outputs}): got {idx.min()}..{idx.max()}"
                )
            return idx
        if t.ndim == 2 and t.shape[1] == outputs:
            return t.astype(dtype, copy=False)
        raise UsageError(
            f"ce targets must be class indices (n,) or one-hot (n, {outputs}), got {t.shape}"
        )

    def value_and_grad(self, out: Array, t: Array) -> tuple[float, Array]:
        n = int(out.shape[0])
        logp = log_softmax(out)
        grad = np.exp(logp)
        if t.ndim == 1:
            rows = np.arange(n)
            loss = -float(logp[rows, t].sum()) / n
            grad[rows, t] -= 1
        else:
            loss = -float(np.vdot(t, logp)) / n
            grad *= t.sum(axis=1, keepdims=True)
            grad -= t
        grad *= 1.0 / n
        return loss, grad

    def value(self, out: Array, t: Array) -> float:
        n = int(out.shape[0])
        logp = log_softmax(out)
        if t.ndim == 1:
            return -float(logp[np.arange(n), t].sum()) / n
        return -float(np.vdot(t, logp)) / n

    def metric(self, out: Array, t: Array) -> float:
        labels = t if t.ndim == 1 else t.argmax(axis=1)
        return float(np.mean(out.argmax(axis=1) == labels))

    def predict(self, out: Array) -> Array:
        return softmax(out)


_ALIASES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "ce": CrossEntropy,
    "cross_entropy": CrossEntropy,
    "categorical_crossentropy": CrossEntropy,
    "sparse_categorical_crossentropy": CrossEntropy,
}

LOSS_NAMES: tuple[str, ...] = tuple(_ALIASES)


def get_loss(name: str | Loss) -> Loss:
    """A loss by name (``"mse"``, ``"ce"`` or an alias) or the instance itself."""
    if isinstance(name, Loss):
        return name
    cls = _ALIASES.get(name.strip().lower()) if isinstance(name, str) else None
    if cls is None:
        raise UsageError(f"unknown loss {name!r}: choose one of {', '.join(LOSS_NAMES)}")
    return cls()
