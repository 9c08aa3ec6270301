"""A Keras-like stack of Dense layers whose parameters are one flat vector.

``model.params`` is the contiguous float32 vector that gossip averages and
sends; every layer's W and b are views into it. The low-level calls
(``compute_gradients``, ``apply_gradients``) let the training node take its own
lock around exactly the part that touches ``params``; the model itself holds no
lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from gossip.errors import UsageError
from gossip.model.layers import Dense
from gossip.model.losses import Loss, get_loss
from gossip.model.optimizers import Adam, Optimizer, State, get_optimizer
from gossip.model.params import DTYPE, FlatLayout, check_flat

FINGERPRINT_VERSION = "gossip-sequential/v1"


class Sequential:
    """Layers applied in order; build, compile, then fit/evaluate/predict."""

    def __init__(self, layers: Iterable[Dense] | None = None, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UsageError(f"seed must be a non-negative integer, got {seed!r}")
        self._layers: list[Dense] = []
        self.seed = int(seed)
        self._input_dim: int | None = None
        self._layout: FlatLayout | None = None
        self._params: np.ndarray | None = None
        self._views: list[np.ndarray] = []
        self._optimizer: Optimizer | None = None
        self._loss: Loss | None = None
        # Shuffling draws from its own stream so it never disturbs initialisation.
        self._shuffle_rng = np.random.default_rng([self.seed, 1])
        for layer in layers or ():
            self.add(layer)

    # ----------------------------------------------------------------- structure

    def add(self, layer: Dense) -> None:
        """Append a layer; only before the model is built."""
        if not isinstance(layer, Dense):
            raise UsageError(f"Sequential takes Dense layers, got {layer!r}")
        if self.built:
            raise UsageError("cannot add layers to a built model")
        self._layers.append(layer)

    @property
    def layers(self) -> tuple[Dense, ...]:
        return tuple(self._layers)

    @property
    def built(self) -> bool:
        return self._params is not None

    @property
    def input_dim(self) -> int | None:
        return self._input_dim

    @property
    def output_dim(self) -> int:
        if not self._layers:
            raise UsageError("the model has no layers")
        return self._layers[-1].units

    def build(self, input_dim: int) -> None:
        """Allocate the flat vector and initialise it from ``default_rng(seed)``.

        Building again with the same input width is a no-op.
        """
        if isinstance(input_dim, bool) or not isinstance(input_dim, (int, np.integer)):
            raise UsageError(f"input_dim must be a positive integer, got {input_dim!r}")
        input_dim = int(input_dim)
        if input_dim < 1:
            raise UsageError(f"input_dim must be a positive integer, got {input_dim}")
        if self._input_dim is not None:
            if input_dim != self._input_dim:
                raise UsageError(
                    f"model was built for {self._input_dim} input features, got {input_dim}"
                )
            return
        if not self._layers:
            raise UsageError("cannot build a model with no layers")
        shapes: list[tuple[str, tuple[int, ...]]] = []
        width = input_dim
        for i, layer in enumerate(self._layers):
            shapes += [(f"dense_{i}/{n}", s) for n, s in layer.shapes(width)]
            width = layer.units
        layout = FlatLayout(shapes)
        params = layout.allocate(DTYPE)
        views = layout.views(params)
        rng = np.random.default_rng(self.seed)
        for i, layer in enumerate(self._layers):
            layer.init(views[2 * i], views[2 * i + 1], rng)
        self._input_dim, self._layout, self._params, self._views = (
            input_dim,
            layout,
            params,
            views,
        )

    @property
    def params(self) -> np.ndarray:
        """The flat float32 parameter vector; the layers' W and b are views into it."""
        if self._params is None:
            raise UsageError("the model is not built yet: call build(input_dim) or fit()")
        return self._params

    @params.setter
    def params(self, values: np.ndarray) -> None:
        # `model.params += d` updates in place and then assigns the same array back;
        # any other assignment copies into the vector so the layer views stay valid.
        if values is not self._params:
            self.set_params(values)

    def set_params(self, values: ArrayLike) -> None:
        """Copy ``values`` into the flat vector (the layer views stay valid)."""
        params = self.params
        arr = np.asarray(values)
        if arr.shape != params.shape:
            raise UsageError(f"expected {params.shape[0]} parameters, got shape {arr.shape}")
        params[...] = arr

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each layer's ``(W, b)``, as views into :attr:`params`."""
        self.params  # noqa: B018 - raises if not built
        return [(self._views[2 * i], self._views[2 * i + 1]) for i in range(len(self._layers))]

    @property
    def num_params(self) -> int:
        return int(self.params.shape[0])

    # ------------------------------------------------------------------- compile

    def compile(
        self, optimizer: str | Optimizer = "adam", loss: str | Loss = "mse", lr: float | None = None
    ) -> None:
        """Choose optimizer and loss; recompiling resets the optimizer state."""
        self._loss = get_loss(loss)
        self._optimizer = get_optimizer(optimizer, lr)

    @property
    def optimizer(self) -> Optimizer:
        if self._optimizer is None:
            raise UsageError("the model is not compiled: call compile(optimizer=..., loss=...)")
        return self._optimizer

    @property
    def loss(self) -> Loss:
        if self._loss is None:
            raise UsageError("the model is not compiled: call compile(optimizer=..., loss=...)")
        return self._loss

    # ------------------------------------------------------------------ low level

    def _inputs(self, x: ArrayLike, dtype: type[np.floating] = DTYPE) -> np.ndarray:
        arr = np.asarray(x, dtype=dtype)
        if arr.ndim != 2:
            raise UsageError(f"x must be 2-D (samples, features), got shape {arr.shape}")
        self.build(arr.shape[1])
        return arr

    def _prepare(
        self, x: ArrayLike, y: ArrayLike, dtype: type[np.floating] = DTYPE
    ) -> tuple[np.ndarray, np.ndarray]:
        xa = self._inputs(x, dtype)
        t = self.loss.targets(y, self.output_dim, np.dtype(dtype))
        if t.shape[0] != xa.shape[0]:
            raise UsageError(f"x has {xa.shape[0]} samples but y has {t.shape[0]}")
        return xa, t

    def _fused(self) -> bool:
        """Whether the last activation is left to the loss (softmax under ce)."""
        return self._loss is not None and self._loss.fused_activation == self._layers[-1].activation

    def _forward(self, params: np.ndarray, x: np.ndarray) -> np.ndarray:
        assert self._layout is not None
        views = self._views if params is self._params else self._layout.views(params)
        last = len(self._layers) - 1
        fused = self._fused()
        a = x
        for i, layer in enumerate(self._layers):
            _, a = layer.forward(views[2 * i], views[2 * i + 1], a, not (fused and i == last))
        return a

    def _loss_and_grads(
        self, params: np.ndarray, x: np.ndarray, t: np.ndarray
    ) -> tuple[float, np.ndarray]:
        assert self._layout is not None
        views = self._views if params is self._params else self._layout.views(params)
        grads = np.empty_like(params)
        gviews = self._layout.views(grads)
        last = len(self._layers) - 1
        fused = self._fused()
        caches: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        a = x
        for i, layer in enumerate(self._layers):
            z, out = layer.forward(views[2 * i], views[2 * i + 1], a, not (fused and i == last))
            caches.append((a, z, out))
            a = out
        loss, g = self.loss.value_and_grad(a, t)
        for i in range(last, -1, -1):
            inp, z, out = caches[i]
            g_in = self._layers[i].backward(
                views[2 * i],
                inp,
                z,
                out,
                g,
                gviews[2 * i],
                gviews[2 * i + 1],
                activate=not (fused and i == last),
                need_input_grad=i > 0,
            )
            if g_in is not None:
                g = g_in
        return loss, grads

    def compute_gradients(
        self, x: ArrayLike, y: ArrayLike, params: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Mean batch loss and its flat gradient; ``model.params`` is not modified.

        ``params`` evaluates at another flat vector instead (any float dtype; a
        float64 vector gives a float64 check path for tests).
        """
        if params is None:
            xa, t = self._prepare(x, y)
            return self._loss_and_grads(self.params, xa, t)
        check_flat(params, None, "params")
        dtype = params.dtype.type
        xa, t = self._prepare(x, y, dtype)
        check_flat(params, self.num_params, "params")
        return self._loss_and_grads(params, xa, t)

    def apply_gradients(self, grads: np.ndarray) -> None:
        """One optimizer step on ``model.params``, in place."""
        check_flat(grads, self.num_params, "grads")
        self.optimizer.step(self.params, grads)

    def train_step(
        self, x: ArrayLike, y: ArrayLike, lock: AbstractContextManager[Any] | None = None
    ) -> float:
        """Gradients on one batch, then one optimizer step; returns the batch loss.

        ``lock`` (the peer's replica lock) is held for the optimizer step only:
        the gradient reads the live vector, as an exchange may land meanwhile.
        """
        loss, grads = self.compute_gradients(x, y)
        with lock or nullcontext():
            self.apply_gradients(grads)
        return loss

    # ------------------------------------------- the rest of the seam (gossip.trainable)

    def optimizer_state(self) -> State:
        """Copies of the optimizer's state, for a checkpoint."""
        return self.optimizer.state()

    def load_optimizer_state(self, state: State) -> None:
        """Restore :meth:`optimizer_state` (UsageError or ValueError when it does not fit)."""
        self.optimizer.load_state(state)

    @property
    def replicas(self) -> int:
        """Peers averaging this model's updates, read by Adam (see Optimizer.replicas)."""
        return self.optimizer.replicas

    @replicas.setter
    def replicas(self, count: int) -> None:
        self.optimizer.replicas = count

    @property
    def share_normalizer(self) -> bool:
        """Adam divides by the estimate exchanges average (see Adam.share_normalizer)."""
        return isinstance(self.optimizer, Adam) and self.optimizer.share_normalizer

    @share_normalizer.setter
    def share_normalizer(self, on: bool) -> None:
        if isinstance(self.optimizer, Adam):  # SGD and momentum divide by nothing
            self.optimizer.share_normalizer = on

    def shared_normalizer(self) -> np.ndarray | None:
        """The vector exchanges average (gossip/averaging/normalizer.py); None: none."""
        return self.optimizer.shared_normalizer() if isinstance(self.optimizer, Adam) else None

    # ----------------------------------------------------------------- high level

    def fit(
        self,
        x: ArrayLike,
        y: ArrayLike,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        verbose: int = 0,
    ) -> dict[str, list[float]]:
        """Mini-batch training; returns ``{"loss": [mean training loss per epoch]}``."""
        if epochs < 0 or batch_size < 1:
            raise UsageError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
        xa, t = self._prepare(x, y)
        n = xa.shape[0]
        if n == 0:
            raise UsageError("cannot fit on zero samples")
        params, optimizer = self.params, self.optimizer
        history: dict[str, list[float]] = {"loss": []}
        for epoch in range(epochs):
            order = self._shuffle_rng.permutation(n) if shuffle else np.arange(n)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                loss, grads = self._loss_and_grads(params, xa[idx], t[idx])
                optimizer.step(params, grads)
                total += loss * len(idx)
            history["loss"].append(total / n)
            if verbose:
                print(f"epoch {epoch + 1}/{epochs} - loss: {total / n:.6g}", flush=True)
        return history

    def predict(self, x: ArrayLike, batch_size: int = 1024) -> np.ndarray:
        """Model outputs; class probabilities when compiled with cross-entropy."""
        raw = self._raw_outputs(x, batch_size)
        return raw if self._loss is None else self._loss.predict(raw)

    def _raw_outputs(self, x: ArrayLike, batch_size: int) -> np.ndarray:
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size}")
        xa = self._inputs(x)
        parts = [
            self._forward(self.params, xa[s : s + batch_size])
            for s in range(0, len(xa), batch_size)
        ]
        if not parts:
            return np.zeros((0, self.output_dim), dtype=DTYPE)
        return np.concatenate(parts)

    def evaluate(self, x: ArrayLike, y: ArrayLike, batch_size: int = 1024) -> dict[str, float]:
        """``{"loss", "accuracy"}`` under ce, ``{"loss", "r2"}`` under mse."""
        xa, t = self._prepare(x, y)
        if xa.shape[0] == 0:
            raise UsageError("cannot evaluate on zero samples")
        out = self._raw_outputs(xa, batch_size)
        loss = self.loss
        return {"loss": loss.value(out, t), loss.metric_name: loss.metric(out, t)}

    # ----------------------------------------------------------------- identity

    def fingerprint(self) -> str:
        """16 hex digits naming the architecture, equal across processes.

        Covers input width, each layer's units and activation, dtype and
        parameter count, so peers refuse to average incompatible vectors.
        """
        if self._input_dim is None:
            raise UsageError("the model is not built yet: the fingerprint needs input_dim")
        layers = ";".join(f"dense({la.units},{la.activation})" for la in self._layers)
        text = (
            f"{FINGERPRINT_VERSION}|in={self._input_dim}|{layers}"
            f"|dtype={np.dtype(DTYPE).name}|params={self.num_params}"
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def summary(self) -> str:
        """A small table of layers, output widths and parameter counts."""
        rows = [("layer", "units", "activation", "params")]
        width = self._input_dim
        for i, layer in enumerate(self._layers):
            count = "?" if width is None else str((width + 1) * layer.units)
            rows.append((f"dense_{i}", str(layer.units), layer.activation, count))
            width = layer.units
        cols = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(r, cols, strict=True)).rstrip() for r in rows
        ]
        if self.built:
            size = self.num_params * np.dtype(DTYPE).itemsize
            lines.append(
                f"input {self._input_dim} · {self.num_params} params "
                f"({size / 1024:.1f} KiB float32) · fingerprint {self.fingerprint()}"
            )
        else:
            lines.append("not built (input width unknown)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Sequential({list(self._layers)!r}, seed={self.seed})"
