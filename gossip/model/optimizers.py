"""Optimizers that update the flat parameter vector in place.

State (momentum buffers, Adam moments) is flat float32 vectors the size of the
parameters, allocated on the first step, so a checkpoint is a few arrays and a
step is a handful of vectorised operations with no per-layer Python loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from gossip.errors import UsageError
from gossip.model.params import DTYPE, check_flat

State = dict[str, "np.ndarray | int"]


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a positive number, got {value!r}")
    return value


def _unit(name: str, value: float) -> float:
    value = float(value)
    if not 0 <= value < 1:
        raise UsageError(f"{name} must be in [0, 1), got {value!r}")
    return value


class Optimizer(ABC):
    """``step(params, grads)`` updates ``params`` in place; state is flat float32."""

    name: str = ""

    def __init__(self, lr: float) -> None:
        self.lr = _positive("lr", lr)
        self.replicas = 1
        """How many peers average their updates (gossip); 1: this model trains alone.

        Only Adam reads it: see :class:`Adam`. SGD and momentum are linear in the
        gradient, so averaging N peers' updates already equals one update with
        their mean gradient."""

    @abstractmethod
    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Apply one update to ``params`` in place."""

    @abstractmethod
    def state(self) -> State:
        """Copies of the state arrays and counters, for a checkpoint."""

    @abstractmethod
    def load_state(self, state: State) -> None:
        """Restore what :meth:`state` returned (arrays are copied in)."""

    def _buffer(self, buf: np.ndarray | None, params: np.ndarray) -> np.ndarray:
        if buf is None or buf.shape != params.shape:
            return np.zeros(params.shape, dtype=DTYPE)
        return buf

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


def _check_step(params: np.ndarray, grads: np.ndarray) -> None:
    check_flat(params, None, "params")
    check_flat(grads, params.shape[0], "grads")


def _load_array(state: State, key: str) -> np.ndarray | None:
    value = state.get(key)
    if value is None:
        return None
    arr = np.array(value, dtype=DTYPE)
    if arr.ndim != 1:
        raise UsageError(f"optimizer state {key!r} must be a flat vector, got shape {arr.shape}")
    return arr


class SGD(Optimizer):
    """Plain gradient descent: ``p -= lr * g``. No state."""

    name = "sgd"

    def __init__(self, lr: float = 0.05) -> None:
        super().__init__(lr)

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        _check_step(params, grads)
        params -= np.multiply(grads, self.lr, dtype=params.dtype)

    def state(self) -> State:
        return {}

    def load_state(self, state: State) -> None:
        return None


class Momentum(Optimizer):
    """Heavy-ball momentum: ``v = beta * v + g; p -= lr * v``."""

    name = "momentum"

    def __init__(self, lr: float = 0.05, beta: float = 0.9) -> None:
        super().__init__(lr)
        self.beta = _unit("beta", beta)
        self._v: np.ndarray | None = None

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        _check_step(params, grads)
        v = self._v = self._buffer(self._v, params)
        v *= self.beta
        v += grads
        params -= np.multiply(v, self.lr, dtype=params.dtype)

    def state(self) -> State:
        return {} if self._v is None else {"v": self._v.copy()}

    def load_state(self, state: State) -> None:
        self._v = _load_array(state, "v")


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba): scale-free steps, good default.

    With ``replicas = N > 1`` (N peers average their models all the while) it
    divides by an estimate of the second moment of the *mean* gradient of N
    peers, as synchronous data-parallel Adam over N workers does, instead of
    that of its own small batch (:func:`_mean_of_replicas`): the mean of N
    gradients keeps the signal and has 1/N of the noise. Where the gradient is
    mostly noise, plain Adam on each peer takes steps up to sqrt(N) times
    shorter than synchronous Adam, and the averaged model learns that much
    slower per step: 8 peers on digits needed 1.7 times the steps of
    synchronous training to reach its accuracy minus 2 points, and on
    ``clusters`` ended 2.5 points under it; where the gradient is mostly signal
    both steps are about ``lr * sign(m)``. It keeps one more vector, a slow
    average of the gradient (from the first step with replicas). N = 1 is plain
    Adam, bit for bit.
    """

    name = "adam"

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7
    ) -> None:
        super().__init__(lr)
        self.beta1 = _unit("beta1", beta1)
        self.beta2 = _unit("beta2", beta2)
        self.eps = _positive("eps", eps)
        self._m: np.ndarray | None = None
        self._v: np.ndarray | None = None
        self._s: np.ndarray | None = None
        self._t = 0

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        _check_step(params, grads)
        if self._m is None or self._v is None or self._m.shape != params.shape:
            self._m = np.zeros(params.shape, dtype=DTYPE)
            self._v = np.zeros(params.shape, dtype=DTYPE)
            self._s = None
            self._t = 0
        m, v = self._m, self._v
        self._t += 1
        b1, b2 = self.beta1, self.beta2
        m *= b1
        m += (1 - b1) * grads
        v *= b2
        v += (1 - b2) * (grads * grads)
        # p -= lr * m_hat / (sqrt(v_hat) + eps), with m_hat, v_hat the bias-corrected moments
        v_hat = v * (1.0 / (1 - b2**self._t))
        n = self.replicas
        if n > 1 or self._s is not None:  # the signal: a slow average of the gradient
            if self._s is None or self._s.shape != params.shape:
                self._s = np.zeros(params.shape, dtype=DTYPE)
            self._s *= SIGNAL_BETA
            self._s += (1 - SIGNAL_BETA) * grads
        if n > 1 and self._s is not None:  # the mean of n peers' gradients (class docstring)
            m_hat = m * (1.0 / (1 - b1**self._t))
            s_hat = self._s * (1.0 / (1 - SIGNAL_BETA**self._t))
            v_hat = _mean_of_replicas(v_hat, s_hat * s_hat, m_hat * m_hat, n)
        denom = np.sqrt(v_hat)
        denom += self.eps
        update = m * (self.lr / (1 - b1**self._t))
        update /= denom
        params -= update.astype(params.dtype, copy=False)

    def state(self) -> State:
        if self._m is None or self._v is None:
            return {"t": self._t}
        state: State = {"t": self._t, "m": self._m.copy(), "v": self._v.copy()}
        if self._s is not None:
            state["s"] = self._s.copy()
        return state

    def load_state(self, state: State) -> None:
        t = state.get("t", 0)
        if isinstance(t, np.ndarray):
            t = int(t)
        self._t = int(t)
        self._m = _load_array(state, "m")
        self._v = _load_array(state, "v")
        self._s = _load_array(state, "s")


def _mean_of_replicas(v_hat: np.ndarray, s2: np.ndarray, m2: np.ndarray, n: int) -> np.ndarray:
    """Second moment of the mean of ``n`` gradients: ``signal**2 + noise**2 / n``.

    ``v_hat`` estimates ``signal**2 + noise**2``, ``s2`` the square of a slow
    average of the gradient, which overestimates ``signal**2`` by the noise
    left in that average, ``c = (1 - SIGNAL_BETA) / (1 + SIGNAL_BETA)`` of
    ``noise**2``: taken out. A slow average, not Adam's own ``m``: its noise is
    small next to ``noise**2 / n`` and does not move with the step's numerator.
    Never below ``m_hat**2 / STEP_BOUND**2``, so no step exceeds ``STEP_BOUND``
    times ``lr``, however many replicas.
    """
    c = (1.0 - SIGNAL_BETA) / (1.0 + SIGNAL_BETA)
    signal = np.maximum(s2 - c * v_hat, 0.0) * (1.0 / (1.0 - c))
    noise = np.maximum(v_hat - signal, 0.0)
    out: np.ndarray = signal + noise * (1.0 / n)
    np.maximum(out, m2 * (1.0 / STEP_BOUND**2), out=out)
    return out


SIGNAL_BETA = 0.99
"""Decay of the slow gradient average that estimates the signal (about 100 steps)."""
STEP_BOUND = 2.0
"""Most an Adam step for replicas may be, in units of ``lr`` (plain Adam: about 1)."""

_OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {"sgd": SGD, "momentum": Momentum, "adam": Adam}

OPTIMIZER_NAMES: tuple[str, ...] = tuple(_OPTIMIZERS)


def get_optimizer(name_or_instance: str | Optimizer, lr: float | None = None) -> Optimizer:
    """An optimizer by name with its default lr unless ``lr`` is given.

    An instance is returned as is, with its lr replaced when ``lr`` is given.
    """
    if isinstance(name_or_instance, Optimizer):
        if lr is not None:
            name_or_instance.lr = _positive("lr", lr)
        return name_or_instance
    cls = None
    if isinstance(name_or_instance, str):
        cls = _OPTIMIZERS.get(name_or_instance.strip().lower())
    if cls is None:
        valid = ", ".join(OPTIMIZER_NAMES)
        raise UsageError(f"unknown optimizer {name_or_instance!r}: choose one of {valid}")
    return cls() if lr is None else cls(lr=lr)
