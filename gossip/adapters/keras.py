"""A compiled Keras 3 model behind the model seam (``pip install 'gossip-train[keras]'``).

Keras variables belong to the backend (JAX arrays are immutable, TensorFlow and
torch keep their own buffers), so they cannot be views into the flat vector the
peer gossips. The flat vector is the truth and the variables are a copy kept in
step with it at step boundaries (gossip/adapters/mirror.py, shared with the
PyTorch adapter's GPU path):

* before a step, the flat vector is assigned to the trainable variables when
  an exchange (a catch-up, a resume) wrote it since they last matched;
* after it (``train_on_batch``: the model's own loss and optimizer), the
  variables are read back into the flat vector under the lock, as the step's
  change added when an exchange landed during the step, so it is kept;
* before an evaluation, the same refresh as before a step.

That is one copy per step (back) and one more after an exchange, none per
exchange. Only the trainable variables are averaged; non-trainable ones
(BatchNorm's moving mean and variance, counters) stay local to each peer.
Every backend works; the tests use JAX on the CPU.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from gossip.adapters.mirror import Mirror
from gossip.errors import UsageError
from gossip.trainable import OptimizerState

FINGERPRINT_VERSION = "gossip-keras/v1"


class KerasModel:
    """A built and compiled ``keras.Model`` as a :class:`~gossip.trainable.Trainable`.

    ``example``: a batch of inputs, used to build a model compiled without an
    input shape (the seed's ``Sequential([Dense(10, "relu"), Dense(1)])``).
    """

    def __init__(self, model: Any, example: Any = None) -> None:
        if getattr(model, "optimizer", None) is None:
            raise UsageError("the Keras model is not compiled: call model.compile(optimizer, loss)")
        if not model.built:
            if example is None:
                raise UsageError(
                    "the Keras model is not built: give it an input shape (keras.Input) "
                    "or call model.build((None, features))"
                )
            model.build((None, *np.shape(example)[1:]))
        self.model = model
        self._variables = list(model.trainable_variables)
        if not self._variables:
            raise UsageError("the Keras model has no trainable variables to gossip")
        odd = [f"{v.path} ({v.dtype})" for v in self._variables if v.dtype != "float32"]
        if odd:
            raise UsageError(
                "gossip averages float32 parameters; these trainable variables are not: "
                + ", ".join(odd)
            )
        self._shapes = [tuple(int(n) for n in v.shape) for v in self._variables]
        sizes = [int(np.prod(shape)) for shape in self._shapes]
        self._bounds = np.cumsum([0, *sizes]).tolist()
        self._params = np.empty(self._bounds[-1], dtype=np.float32)
        self._read_into(self._params)
        self.mirror = Mirror(self._params, self._assign, self._read_into)

    # ------------------------------------------------------------ copies in and out

    def _read_into(self, flat: np.ndarray) -> None:
        for variable, start, end in zip(
            self._variables, self._bounds[:-1], self._bounds[1:], strict=True
        ):
            flat[start:end] = np.asarray(variable.value, dtype=np.float32).reshape(-1)

    def _assign(self, flat: np.ndarray) -> None:
        parts = zip(self._variables, self._shapes, self._bounds[:-1], self._bounds[1:], strict=True)
        for variable, shape, start, end in parts:
            # a copy: a backend may keep the array it is given, and the mirror reuses ``flat``
            variable.assign(flat[start:end].reshape(shape).copy())

    def sync_to_keras(self) -> None:
        """Copy the flat vector into the Keras variables (``model.predict`` sees it then)."""
        self.mirror.refresh()

    def watch_writes(self, writes: Callable[[], int]) -> None:
        """See :class:`~gossip.trainable.Mirrored`."""
        self.mirror.watch_writes(writes)

    # ------------------------------------------------------------ the seam

    @property
    def params(self) -> np.ndarray:
        return self._params

    @property
    def num_params(self) -> int:
        return int(self._params.size)

    def fingerprint(self) -> str:
        """Layer classes, variable shapes and the count: not Keras's per-process names."""
        layers = ";".join(type(layer).__name__ for layer in self.model.layers)
        shapes = ";".join("x".join(map(str, shape)) for shape in self._shapes)
        text = (
            f"{FINGERPRINT_VERSION}|{type(self.model).__name__}|{layers}|{shapes}"
            f"|dtype=float32|params={self.num_params}"
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def train_step(self, x: Any, y: Any, lock: AbstractContextManager[Any]) -> float:
        self.mirror.before_step(lock)
        result = self.model.train_on_batch(x, y, return_dict=True)
        self.mirror.after_step(lock)
        return float(result["loss"])

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        self.sync_to_keras()
        result = self.model.evaluate(x, y, verbose=0, return_dict=True)
        return {str(key): float(value) for key, value in result.items()}

    def optimizer_state(self) -> OptimizerState:
        """The optimizer's variables (moments, iteration count), in Keras's order."""
        variables = self.model.optimizer.variables
        return {f"keras/{i}": np.array(v.value) for i, v in enumerate(variables)}

    def load_optimizer_state(self, state: OptimizerState) -> None:
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self._variables)
        variables = list(optimizer.variables)
        if len(state) != len(variables):
            raise ValueError(f"{len(state)} optimizer arrays saved, Keras has {len(variables)}")
        for i, variable in enumerate(variables):
            value = np.asarray(state.get(f"keras/{i}"))
            shape = tuple(int(n) for n in variable.shape)
            if value.size != int(np.prod(shape)):  # a checkpoint may keep a scalar as (1,)
                raise ValueError(f"optimizer array {i} is {value.shape}, not {shape}")
            variable.assign(value.reshape(shape).astype(variable.dtype))
