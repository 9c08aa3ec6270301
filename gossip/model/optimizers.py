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
    divides by an estimate of the second moment of the *mean* gradient of the N
    peers, as synchronous data-parallel Adam over N workers does, instead of
    that of its own gradient (:class:`ClusterMoments`). The mean of N
    gradients keeps what they have in common and has 1/N of their noise, and
    on skewed shards none of each peer's own bias. Per-peer plain Adam divides
    by all three: where the gradient is mostly noise its steps are up to
    sqrt(N) times shorter than synchronous Adam's, and where a peer's data
    pulls its own way it hardly moves along the common direction at all. With
    models averaged exactly after every step, 8 peers of plain Adam on
    ``clusters`` ended 7.5 points under synchronous Adam (IID) and 10 points
    (dirichlet:0.5); momentum, which is linear, matched it. N = 1 is plain
    Adam, bit for bit.

    With ``share_normalizer`` it divides instead by a smoothed copy of that
    estimate (:meth:`ClusterMoments.share`) which the peer's exchanges average
    with its partners', as they average the parameters: every peer then
    divides by nearly the same vector, so averaging the models averages the
    steps, and one peer's estimate from one or two samples no longer sets its
    steps alone. Off by default: the node's exchanges do not carry it yet.
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
        self._cluster: ClusterMoments | None = None
        self._t = 0
        self.share_normalizer = False
        """Divide by the shared estimate that exchanges average (:meth:`shared_normalizer`)."""

    def shared_normalizer(self) -> np.ndarray | None:
        """The vector an exchange averages with the partner's, in place; None before it exists.

        Averaging it keeps the pair's sum, as averaging the parameters does."""
        if not self.share_normalizer or self._cluster is None:
            return None
        return self._cluster.shared

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        _check_step(params, grads)
        if self._m is None or self._v is None or self._m.shape != params.shape:
            self._m = np.zeros(params.shape, dtype=DTYPE)
            self._v = np.zeros(params.shape, dtype=DTYPE)
            self._cluster = None
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
        if self.replicas > 1 or self._cluster is not None:
            if self._cluster is None or self._cluster.signal.size != params.size:
                self._cluster = ClusterMoments(params.size)
            m_hat = m * (1.0 / (1 - b1**self._t))
            second = self._cluster.step(params, grads, v_hat, m_hat, self.lr, self.replicas)
            if self.replicas > 1:
                v_hat = self._cluster.share(second, b2) if self.share_normalizer else second
        denom = np.sqrt(v_hat)
        denom += self.eps
        update = m * (self.lr / (1 - b1**self._t))
        update /= denom
        params -= update.astype(params.dtype, copy=False)

    def state(self) -> State:
        if self._m is None or self._v is None:
            return {"t": self._t}
        state: State = {"t": self._t, "m": self._m.copy(), "v": self._v.copy()}
        if self._cluster is not None:
            state.update(self._cluster.state())
        return state

    def load_state(self, state: State) -> None:
        t = state.get("t", 0)
        if isinstance(t, np.ndarray):
            t = int(t)
        self._t = int(t)
        self._m = _load_array(state, "m")
        self._v = _load_array(state, "v")
        self._cluster = ClusterMoments.load(state)


class ClusterMoments:
    """What Adam needs to normalize as synchronous Adam over ``replicas`` peers would.

    Synchronous Adam divides by the second moment of the *mean* gradient of N
    workers: ``signal**2 + noise**2 / N``, where the signal is what the workers'
    gradients have in common. A peer sees only its own gradient, whose slow
    average holds its own signal (the common one plus its data's bias, large
    on skewed shards) and whose variance around that average is its noise.
    The common signal shows in how the peer's model actually moves, exchanges
    included: the models move together, by the mean of the peers' steps, which
    is ``signal / d`` for the common normalizer ``d``. So, per coordinate, with
    ``u`` the slow average of the model's movement in units of ``lr``:

        d**2 = (u * d_before)**2 + noise**2 / N

    a recursion whose fixed point is ``signal**2 + noise**2 / N`` (before the
    first movement is seen, the peer's own signal stands in). Never below
    ``m_hat**2 / STEP_BOUND**2``, so no step exceeds ``STEP_BOUND * lr``.
    Four vectors: the gradient's and the movement's slow averages, the
    parameters before the last step, and ``d**2``.
    """

    def __init__(self, size: int) -> None:
        self.signal = np.zeros(size, dtype=DTYPE)  # slow average of our gradient
        self.movement = np.zeros(size, dtype=DTYPE)  # slow average of our model's move / lr
        self.before: np.ndarray | None = None  # parameters before our last step
        self.second: np.ndarray | None = None  # d**2 of the last step
        self.shared: np.ndarray | None = None  # smoothed d**2 that exchanges average
        self.t = 0
        self.moves = 0

    def share(self, second: np.ndarray, beta2: float) -> np.ndarray:
        """Fold this step's ``d**2`` into the shared estimate and return it.

        One peer's estimate from one or two samples is far off (at 256 peers,
        exact mean, its median coordinate 6.5 times under synchronous Adam's),
        but the mean of all peers' is close: exchanges average ``shared``
        between partners. It is Adam's own average of the second moment
        (``beta2``, bias-corrected over the steps since the first move), as
        synchronous Adam's ``v`` remembers about 1,000 steps: with a decay of
        0.9 (10 steps) it followed the gradient down, fell under synchronous
        Adam's late in training (3.4 times at the 90th percentile coordinate,
        1,000 peers) and the steps it allowed held the mean model at 0.958;
        with ``beta2``, 0.967 after 600 steps (bench/scale_isolate.py, two
        rounds of pairs per step). The first step's estimate is the peer's own
        signal (no move seen yet): with one or two samples a peer about N
        times the common one, so it is used for that step but not kept."""
        if self.moves == 0:
            return second  # the peer's own signal, before any move is seen: not the cluster's
        if self.shared is None or self.shared.shape != second.shape:
            self.shared = second.copy()
        else:
            weight = (1 - beta2) / (1 - beta2**self.moves)
            self.shared *= 1 - weight
            self.shared += weight * second
        return self.shared

    def step(
        self,
        params: np.ndarray,
        grads: np.ndarray,
        v_hat: np.ndarray,
        m_hat: np.ndarray,
        lr: float,
        replicas: int,
    ) -> np.ndarray:
        """Take in this step's gradient and the model's last move; return ``d**2``."""
        beta = SIGNAL_BETA
        self.t += 1
        self.signal *= beta
        self.signal += (1 - beta) * grads
        if self.before is not None:
            self.movement *= beta
            self.movement += (self.before - params) * ((1 - beta) / lr)
            self.moves += 1
            self.before[...] = params
        else:
            self.before = params.copy()
        s_hat = self.signal * (1.0 / (1 - beta**self.t))
        c = (1.0 - beta) / (1.0 + beta)  # the noise left in a slow average, as a fraction
        own_signal = np.maximum(s_hat * s_hat - c * v_hat, 0.0) * (1.0 / (1.0 - c))
        noise = np.maximum(v_hat - own_signal, 0.0)
        if self.second is None or self.moves == 0:
            common = own_signal
        else:
            u = self.movement * (1.0 / (1 - beta**self.moves))
            u2 = np.minimum(u * u, 1.0)  # |signal| <= d: moving faster only damps
            common = u2 * self.second
        second: np.ndarray = common + noise * (1.0 / max(replicas, 1))
        np.maximum(second, m_hat * m_hat * (1.0 / STEP_BOUND**2), out=second)
        self.second = second
        return second

    def state(self) -> State:
        state: State = {
            "cluster_t": self.t,
            "cluster_moves": self.moves,
            "cluster_signal": self.signal.copy(),
            "cluster_movement": self.movement.copy(),
        }
        if self.before is not None and self.second is not None:
            state["cluster_before"] = self.before.copy()
            state["cluster_second"] = self.second.copy()
        if self.shared is not None:
            state["cluster_shared"] = self.shared.copy()
        return state

    @classmethod
    def load(cls, state: State) -> ClusterMoments | None:
        signal = _load_array(state, "cluster_signal")
        movement = _load_array(state, "cluster_movement")
        if signal is None or movement is None or signal.shape != movement.shape:
            return None
        moments = cls(signal.size)
        moments.signal, moments.movement = signal, movement
        moments.before = _load_array(state, "cluster_before")
        moments.second = _load_array(state, "cluster_second")
        moments.shared = _load_array(state, "cluster_shared")  # absent in older checkpoints
        moments.t = int(state.get("cluster_t", 0))
        moments.moves = int(state.get("cluster_moves", 0))
        return moments


SIGNAL_BETA = 0.99
"""Decay of the slow averages of the gradient and of the model's move (about 100 steps)."""
STEP_BOUND = 4.0
"""Most an Adam step for replicas may be, in units of ``lr`` (plain Adam: about 1).

A peer on a skewed shard is pushed its own way, which the others' pushes cancel
in the mean: the bound limits how far it strays before exchanges pull it back.
On clusters with dirichlet:0.5 (8 peers, 1500 steps) bounds of 3, 4 and 8 ended
5.3, 3.6 and 5.7 points under synchronous Adam; IID: 1.3, -0.1 and 0.4."""


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
