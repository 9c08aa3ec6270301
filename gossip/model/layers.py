"""Dense layers: structure plus pure forward/backward math on given arrays.

A layer owns no arrays. Its weights are views into the model's flat vector and
are passed in, so the same code runs on float32 parameters for training and on
a float64 copy for gradient checks.
"""

from __future__ import annotations

import numpy as np

from gossip.errors import UsageError
from gossip.model.activations import Activation, get_activation

Array = np.ndarray


class Dense:
    """A fully connected layer ``a = activation(x @ W + b)``.

    ``W`` has shape (inputs, units) so a batch of rows multiplies on the left.
    """

    def __init__(self, units: int, activation: str | None = None) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise UsageError(f"Dense units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.act: Activation = get_activation(activation)

    @property
    def activation(self) -> str:
        """Canonical activation name (``"linear"`` for none)."""
        return self.act.name

    def shapes(self, inputs: int) -> list[tuple[str, tuple[int, ...]]]:
        """Parameter tensors for ``inputs`` input features, in flat-vector order."""
        return [("W", (inputs, self.units)), ("b", (self.units,))]

    def init(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        """Fill W in place: He-normal before relu, Glorot-uniform otherwise; b = 0.

        He keeps the variance of relu activations from halving per layer;
        Glorot balances forward and backward variance for symmetric activations.
        """
        fan_in, fan_out = W.shape
        if self.act.name == "relu":
            W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / fan_in)
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-limit, limit, W.shape)
        b[...] = 0

    def forward(self, W: Array, b: Array, x: Array, activate: bool = True) -> tuple[Array, Array]:
        """Return ``(z, a)``; with ``activate=False`` the activation is left to the loss."""
        z = x @ W
        z += b
        return z, (self.act.forward(z) if activate else z)

    def backward(
        self,
        W: Array,
        x: Array,
        z: Array,
        a: Array,
        grad_a: Array,
        grad_W: Array,
        grad_b: Array,
        activate: bool = True,
        need_input_grad: bool = True,
    ) -> Array | None:
        """Write dL/dW and dL/db into the given views; return dL/dx if asked."""
        grad_z = self.act.backward(z, a, grad_a) if activate else grad_a
        np.matmul(x.T, grad_z, out=grad_W)
        np.sum(grad_z, axis=0, out=grad_b)
        return grad_z @ W.T if need_input_grad else None

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation!r})"
