"""Element-wise activations, each a forward function and its backward rule.

Backward rules take the pre-activation ``z``, the output ``a`` and the upstream
gradient ``g`` and return the gradient with respect to ``z``; every rule keeps
the dtype of its inputs, so float32 stays float32 and a float64 check path works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gossip.errors import UsageError

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """A named activation: ``forward(z) -> a`` and ``backward(z, a, g) -> dL/dz``."""

    name: str
    forward: Callable[[Array], Array]
    backward: Callable[[Array, Array, Array], Array]


def softmax(z: Array) -> Array:
    """Row-wise softmax; subtracting the row max keeps exp() from overflowing."""
    e: Array = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def log_softmax(z: Array) -> Array:
    """Row-wise log-softmax, stable for large logits (used by the fused CE loss)."""
    shifted: Array = z - z.max(axis=1, keepdims=True)
    out: Array = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


def _linear(z: Array) -> Array:
    return z


def _linear_grad(z: Array, a: Array, g: Array) -> Array:
    return g


def _relu(z: Array) -> Array:
    out: Array = np.maximum(z, 0)
    return out


def _relu_grad(z: Array, a: Array, g: Array) -> Array:
    out: Array = g * (z > 0)
    return out


def _tanh(z: Array) -> Array:
    out: Array = np.tanh(z)
    return out


def _tanh_grad(z: Array, a: Array, g: Array) -> Array:
    out: Array = g * (1 - a * a)
    return out


def _sigmoid(z: Array) -> Array:
    # 0.5 * (1 + tanh(z/2)) equals 1/(1+exp(-z)) but never overflows.
    a: Array = np.tanh(z * 0.5)
    a += 1
    a *= 0.5
    return a


def _sigmoid_grad(z: Array, a: Array, g: Array) -> Array:
    out: Array = g * a * (1 - a)
    return out


def _softmax_grad(z: Array, a: Array, g: Array) -> Array:
    out: Array = a * (g - (g * a).sum(axis=1, keepdims=True))
    return out


_ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation("linear", _linear, _linear_grad),
    "relu": Activation("relu", _relu, _relu_grad),
    "tanh": Activation("tanh", _tanh, _tanh_grad),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_grad),
    "softmax": Activation("softmax", softmax, _softmax_grad),
}

ACTIVATION_NAMES: tuple[str, ...] = tuple(_ACTIVATIONS)


def get_activation(name: str | None) -> Activation:
    """Look an activation up by name; ``None`` means linear (no activation)."""
    if name is None:
        return _ACTIVATIONS["linear"]
    if not isinstance(name, str):
        raise UsageError(f"activation must be a name, got {name!r}")
    act = _ACTIVATIONS.get(name.strip().lower())
    if act is None:
        valid = ", ".join(ACTIVATION_NAMES)
        raise UsageError(f"unknown activation {name!r}: choose one of {valid} (or None)")
    return act
