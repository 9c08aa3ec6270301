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

    def shared_size(self, size: int) -> int:
        """How many values of state peers average along with ``size`` parameters (0: none).

        State whose mean over the peers is what synchronous training would hold
        (Adam's first moment) belongs in the vector they average, next to the
        parameters: see :meth:`Sequential.averaged <gossip.model.Sequential.averaged>`.
        """
        return 0

    def share(self, state: np.ndarray) -> None:
        """Keep that state in ``state`` (a view into the averaged vector) from now on."""
        if state.size:
            raise ValueError(f"{type(self).__name__} shares no state")

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

    Among peers (a node shares its first moment, and sets ``replicas = N``) it
    takes the steps synchronous Adam over the N peers would. Synchronous Adam
    moves every model by ``m / d``: ``m`` the running mean of the *mean*
    gradient of the N workers, ``d**2`` that of its square. Per-peer Adam
    divides its own gradient by its own moments instead; Adam is not linear, so
    averaging such steps is not Adam on the mean gradient: with models averaged
    exactly after every step, 8 peers of plain Adam on ``clusters`` ended 7.5
    points under synchronous Adam (IID) and 10 points (dirichlet:0.5), while
    momentum, which is linear, matched it.

    So among peers:

    * **The first moment is averaged with the model.** It lives in the vector
      peers average (:meth:`shared_size`, :meth:`share`); the mean of the
      peers' first moments is exactly the running mean of their mean
      gradient, and averaging pulls each toward it, taking out the pull of a
      peer's own shard.
    * **The second moment is built from that averaged first moment**:
      ``d**2`` is the running mean (``beta2``) of ``m_hat**2`` plus the noise
      that ``m`` smooths away, divided by N: what the mean of N gradients
      squares to. The noise is the peer's own gradient variance around its
      slow average (:data:`SIGNAL_BETA`).
    * No step is longer than ``lr * (1 - beta1) / sqrt(1 - beta2)``, plain
      Adam's after a long calm: where a peer's own gradient is zero (a class
      its shard lacks), the moment it receives would otherwise divide by
      almost nothing.

    With exact pairwise rounds on skewed shards this left the mean model 0.7
    to 2.2 points under synchronous Adam (``bench/ideal_mixing.py``: 1.6 to 4
    points for the earlier rule that estimated the cluster's gradient from
    the model's movement). Unshared (trained alone, the baselines) it is
    plain Adam, bit for bit.
    """

    name = "adam"

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7
    ) -> None:
        super().__init__(lr)
        self.beta1 = _unit("beta1", beta1)
        self.beta2 = _unit("beta2", beta2)
        self.eps = _positive("eps", eps)
        self._m: np.ndarray | None = None  # first moment; a view into the averaged vector
        self._shared = False  # whether _m is that view (then it is never reallocated)
        self._v: np.ndarray | None = None  # plain Adam's second moment of our own gradient
        self._signal: np.ndarray | None = None  # slow average of our own gradient
        self._second: np.ndarray | None = None  # the running mean of d**2 among peers
        self._t = 0
        self._peer_t = 0  # steps taken among peers (the bias correction of _second)

    def shared_size(self, size: int) -> int:
        return size  # the first moment

    def share(self, state: np.ndarray) -> None:
        if self._m is not None and self._m.shape == state.shape:
            state[...] = self._m
        else:
            state[...] = 0.0
        self._m, self._shared = state, True

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        _check_step(params, grads)
        if self._v is None or self._v.shape != params.shape:
            self._v = np.zeros(params.shape, dtype=DTYPE)
            if not self._shared or self._m is None or self._m.shape != params.shape:
                self._m, self._shared = np.zeros(params.shape, dtype=DTYPE), False
            self._m[...] = 0.0
            self._signal = self._second = None
            self._t = self._peer_t = 0
        m, v = self._m, self._v
        assert m is not None
        self._t += 1
        b1, b2 = self.beta1, self.beta2
        m *= b1
        m += (1 - b1) * grads
        v *= b2
        v += (1 - b2) * (grads * grads)
        v_hat = v * (1.0 / (1 - b2**self._t))
        if self._shared:  # peers average the first moment: see the class docstring
            m_hat = m * (1.0 / (1 - b1**self._t))
            second = self._peer_second(grads, v_hat, m_hat)
            np.maximum(second, m_hat * m_hat * ((1 - b2) / (1 - b1) ** 2), out=second)
            v_hat = second
        denom = np.sqrt(v_hat)
        denom += self.eps
        update = m * (self.lr / (1 - b1**self._t))
        update /= denom
        params -= update.astype(params.dtype, copy=False)

    def _peer_second(self, grads: np.ndarray, v_hat: np.ndarray, m_hat: np.ndarray) -> np.ndarray:
        """``d**2`` among ``replicas`` peers (bias-corrected); see the class docstring."""
        if self._signal is None or self._second is None:
            self._signal = np.zeros_like(grads, dtype=DTYPE)
            self._second = np.zeros_like(grads, dtype=DTYPE)
            self._peer_t = 0
        self._peer_t += 1
        beta, b1, b2 = SIGNAL_BETA, self.beta1, self.beta2
        self._signal *= beta
        self._signal += (1 - beta) * grads
        s_hat = self._signal * (1.0 / (1 - beta**self._peer_t))
        c = (1.0 - beta) / (1.0 + beta)  # the noise left in a slow average, as a fraction
        own_signal = np.maximum(s_hat * s_hat - c * v_hat, 0.0) * (1.0 / (1.0 - c))
        noise = np.maximum(v_hat - own_signal, 0.0)
        smoothed = (1.0 - b1) / (1.0 + b1)  # the part of the noise m keeps
        estimate = m_hat * m_hat + noise * ((1.0 - smoothed) / max(self.replicas, 1))
        self._second *= b2
        self._second += (1 - b2) * estimate
        result: np.ndarray = self._second * (1.0 / (1 - b2**self._peer_t))
        return result

    def state(self) -> State:
        state: State = {"t": self._t, "peer_t": self._peer_t}
        for key, value in (("m", self._m), ("v", self._v), ("signal", self._signal),
                           ("second", self._second)):  # fmt: skip
            if value is not None:
                state[key] = value.copy()
        return state

    def load_state(self, state: State) -> None:
        self._t = _load_int(state, "t")
        self._peer_t = _load_int(state, "peer_t")
        m = _load_array(state, "m")
        if self._shared and self._m is not None:
            if m is not None and m.shape == self._m.shape:
                self._m[...] = m  # the averaged vector keeps its view
            else:
                self._m[...] = 0.0
        else:
            self._m = m
        self._v = _load_array(state, "v")
        self._signal = _load_array(state, "signal")
        self._second = _load_array(state, "second")


def _load_int(state: State, key: str) -> int:
    return int(state.get(key, 0))  # a 0-d array from a checkpoint, or an int


SIGNAL_BETA = 0.99
"""Decay of the slow average of a peer's own gradient (about 100 steps), against which
its noise is measured."""


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
