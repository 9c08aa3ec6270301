"""Optimizers against naive per-element references on a small quadratic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gossip.errors import UsageError
from gossip.model import SGD, Adam, Momentum, Optimizer, get_optimizer
from gossip.model.optimizers import STEP_BOUND

A = [0.5, 1.0, 2.0, 4.0]
C = [1.0, -2.0, 0.5, 3.0]
STEPS = 60


def quad_grad(p: list[float]) -> list[float]:
    """Gradient of f(p) = 0.5 * sum(a * (p - c)^2)."""
    return [a * (x - c) for a, x, c in zip(A, p, C, strict=True)]


def naive_sgd(lr: float) -> list[float]:
    p = [0.0] * 4
    for _ in range(STEPS):
        p = [x - lr * g for x, g in zip(p, quad_grad(p), strict=True)]
    return p


def naive_momentum(lr: float, beta: float) -> list[float]:
    p, v = [0.0] * 4, [0.0] * 4
    for _ in range(STEPS):
        g = quad_grad(p)
        v = [beta * vi + gi for vi, gi in zip(v, g, strict=True)]
        p = [x - lr * vi for x, vi in zip(p, v, strict=True)]
    return p


def naive_adam(lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7) -> list[float]:
    p, m, v = [0.0] * 4, [0.0] * 4, [0.0] * 4
    for t in range(1, STEPS + 1):
        g = quad_grad(p)
        for i in range(4):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            p[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return p


def run(opt: Optimizer) -> np.ndarray:
    p = np.zeros(4, dtype=np.float32)
    for _ in range(STEPS):
        grads = np.asarray(quad_grad(p.tolist()), dtype=np.float32)
        opt.step(p, grads)
        assert p.dtype == np.float32
    return p


@pytest.mark.parametrize(
    ("opt", "reference"),
    [
        (SGD(lr=0.1), naive_sgd(0.1)),
        (Momentum(lr=0.05, beta=0.9), naive_momentum(0.05, 0.9)),
        (Adam(lr=0.05), naive_adam(0.05)),
    ],
)
def test_matches_naive_reference(opt: Optimizer, reference: list[float]) -> None:
    p = run(opt)
    np.testing.assert_allclose(p, reference, rtol=1e-4, atol=1e-5)
    start = 0.5 * sum(a * c * c for a, c in zip(A, C, strict=True))
    end = 0.5 * sum(a * (x - c) ** 2 for a, x, c in zip(A, p.tolist(), C, strict=True))
    assert end < 0.05 * start  # and it actually optimises


def test_state_is_flat_float32_and_round_trips() -> None:
    opt = Adam(lr=0.05)
    p = run(opt)
    state = opt.state()
    assert state["t"] == STEPS
    for key in ("m", "v"):
        arr = state[key]
        assert isinstance(arr, np.ndarray)
        assert arr.dtype == np.float32 and arr.shape == (4,)
    clone = Adam(lr=0.05)
    clone.load_state(state)
    g = np.ones(4, dtype=np.float32)
    p1, p2 = p.copy(), p.copy()
    opt.step(p1, g)
    clone.step(p2, g)
    np.testing.assert_array_equal(p1, p2)
    # state() hands out copies: stepping does not change a saved checkpoint
    assert state["t"] == STEPS


def test_momentum_state_round_trips() -> None:
    opt = Momentum()
    run(opt)
    clone = Momentum()
    clone.load_state(opt.state())
    p1, p2 = np.zeros(4, np.float32), np.zeros(4, np.float32)
    opt.step(p1, np.ones(4, np.float32))
    clone.step(p2, np.ones(4, np.float32))
    np.testing.assert_array_equal(p1, p2)
    assert SGD().state() == {}


def test_get_optimizer_defaults_and_lr() -> None:
    assert isinstance(get_optimizer("sgd", None), SGD)
    assert get_optimizer("sgd", None).lr == pytest.approx(0.05)
    mom = get_optimizer("momentum", None)
    assert isinstance(mom, Momentum)
    assert mom.lr == pytest.approx(0.05) and mom.beta == pytest.approx(0.9)
    assert get_optimizer("Adam", None).lr == pytest.approx(0.001)
    assert get_optimizer("adam", 0.01).lr == pytest.approx(0.01)
    inst = SGD(lr=0.2)
    assert get_optimizer(inst, None) is inst and inst.lr == pytest.approx(0.2)
    assert get_optimizer(inst, 0.3).lr == pytest.approx(0.3)


def test_bad_names_and_arguments_raise_usage_error() -> None:
    with pytest.raises(UsageError, match="sgd, momentum, adam"):
        get_optimizer("rmsprop", None)
    with pytest.raises(UsageError, match="lr"):
        SGD(lr=-1)
    with pytest.raises(UsageError, match="beta"):
        Momentum(beta=1.5)
    with pytest.raises(UsageError, match="grads"):
        SGD().step(np.zeros(3, np.float32), np.zeros(4, np.float32))


def adam_steps(replicas: int, grads: np.ndarray) -> np.ndarray:
    """The parameter after each of ``grads`` (one coordinate), with ``replicas`` set."""
    opt = Adam(lr=0.01)
    opt.replicas = replicas
    p = np.zeros(1, dtype=np.float32)
    moves = []
    for g in grads:
        before = float(p[0])
        opt.step(p, np.array([g], dtype=np.float32))
        moves.append(float(p[0]) - before)
    return np.array(moves)


def test_adam_for_replicas_takes_the_steps_of_adam_on_their_mean_gradient() -> None:
    """Noise: sqrt(N) times plain Adam's step, as Adam on the mean of N gradients takes."""
    rng = np.random.default_rng(0)
    n = 8
    signal, noise = 0.1, 1.0
    grads = signal + noise * rng.standard_normal(6000)
    plain = adam_steps(1, grads)[1000:].mean()
    for_n = adam_steps(n, grads)[1000:].mean()
    # synchronous Adam over n workers: the mean of n gradients has 1/n of the noise
    mean_grads = signal + noise / math.sqrt(n) * rng.standard_normal(6000)
    synchronous = adam_steps(1, mean_grads)[1000:].mean()
    assert 1.8 < for_n / plain < math.sqrt(n) * 1.2
    assert 0.7 < for_n / synchronous < 1.1  # a little shorter: its own average is noisier


def test_adam_for_replicas_is_plain_adam_on_a_clean_signal_and_bounded() -> None:
    steady = np.full(200, 0.5)
    assert adam_steps(8, steady)[-1] == pytest.approx(adam_steps(1, steady)[-1], rel=0.02)
    spiky = np.random.default_rng(1).standard_normal(500) * 100
    for replicas in (2, 8, 300):
        assert np.abs(adam_steps(replicas, spiky)).max() <= STEP_BOUND * 0.01 * 1.001


def averaged_peers(replicas: int, biases: np.ndarray, steps: int = 3000) -> float:
    """Mean move per step of peers whose gradients differ by ``biases``, models averaged."""
    rng = np.random.default_rng(2)
    peers = [Adam(lr=0.01) for _ in biases]
    for opt in peers:
        opt.replicas = replicas
    x = np.zeros(1, dtype=np.float32)
    start = 0.0
    for t in range(steps):
        moved = []
        for opt, bias in zip(peers, biases, strict=True):
            p = x.copy()
            opt.step(p, np.array([0.1 + bias + rng.standard_normal()], dtype=np.float32))
            moved.append(p)
        x = np.mean(moved, axis=0)  # an exact average after every step
        if t == 1000:
            start = float(x[0])
    return (float(x[0]) - start) / (steps - 1001)


def test_adam_for_replicas_follows_the_mean_gradient_on_skewed_shards() -> None:
    """Each peer's own data pulls it its own way; the cluster must move as synchronous Adam."""
    biases = np.array([0.8, -0.8, 0.5, -0.5, 0.3, -0.3, 0.1, -0.1])  # up to 8 times the signal
    rng = np.random.default_rng(3)
    mean_grads = 0.1 + rng.standard_normal(3000) / math.sqrt(len(biases))
    synchronous = adam_steps(1, mean_grads)[1000:].mean()  # Adam on the mean gradient
    plain = averaged_peers(1, biases)
    cluster = averaged_peers(len(biases), biases)
    assert abs(plain) < 0.45 * abs(synchronous)  # each divides by its own bias and noise
    assert 0.7 < cluster / synchronous < 1.3


def test_adam_keeps_its_cluster_moments_in_the_state() -> None:
    opt = Adam()
    opt.replicas = 4
    params = np.zeros(3, dtype=np.float32)
    for g in ([1.0, -2.0, 0.5], [0.5, -1.0, 0.25], [0.2, -0.5, 0.1]):
        opt.step(params, np.array(g, dtype=np.float32))
    restored = Adam()
    restored.replicas = 4
    restored.load_state(opt.state())
    a, b = params.copy(), params.copy()
    opt.step(a, np.ones(3, dtype=np.float32))
    restored.step(b, np.ones(3, dtype=np.float32))
    assert np.array_equal(a, b) and "cluster_signal" in opt.state()


def cluster_rates(share: bool, n: int = 8, k: int = 64, steps: int = 600) -> np.ndarray:
    """Per coordinate, the mean model's move per step in units of lr, against the mean gradient.

    ``n`` peers of one sample each: their gradients are a common 0.1 plus a fixed bias of
    their own (about ten times the signal); the models are averaged exactly after every
    step and, when ``share``, their shared normalizers too. Synchronous Adam on the mean
    gradient (a clean 0.1) moves every coordinate by lr per step: a rate of 1."""
    biases = np.random.default_rng(0).standard_normal((n, k))
    biases -= biases.mean(axis=0)
    peers = [Adam(lr=0.01) for _ in range(n)]
    for opt in peers:
        opt.replicas = n
        opt.share_normalizer = share
    x = np.zeros(k, dtype=np.float32)
    start = x.copy()
    for t in range(steps):
        moved = []
        for opt, bias in zip(peers, biases, strict=True):
            p = x.copy()
            opt.step(p, (0.1 + bias).astype(np.float32))
            moved.append(p)
        x = np.mean(moved, axis=0)
        shared = [opt.shared_normalizer() for opt in peers]
        if share and shared[0] is not None:  # none before the first move is seen
            mean = np.mean(shared, axis=0)
            for v in shared:
                assert v is not None
                v[...] = mean
        if t == steps // 3:
            start = x.copy()
    rates: np.ndarray = (start - x) / (steps - steps // 3 - 1) / 0.01
    return rates


def test_peers_of_one_sample_move_with_the_mean_gradient_when_they_share_the_normalizer() -> None:
    """Each dividing by its own estimate, the peers' steps are capped votes of their own
    samples, and where most samples point the other way the cluster moves against the
    mean gradient; dividing by the shared estimate, every coordinate moves with it."""
    own, shared = cluster_rates(False), cluster_rates(True)
    assert own.min() < -0.5
    assert shared.min() > 0.1 and 0.3 < float(np.median(shared)) <= 1.0
    assert shared.max() < STEP_BOUND


def test_the_shared_normalizer_is_off_by_default_and_alone_it_is_plain_adam() -> None:
    opt = Adam()
    opt.replicas = 4
    params = np.zeros(3, dtype=np.float32)
    opt.step(params, np.ones(3, dtype=np.float32))
    assert opt.shared_normalizer() is None and "cluster_shared" not in opt.state()
    alone, plain = Adam(), Adam()
    alone.share_normalizer = True  # one replica: nothing to share
    a, b = np.zeros(3, dtype=np.float32), np.zeros(3, dtype=np.float32)
    for g in ([1.0, -2.0, 0.5], [0.5, -1.0, 0.25]):
        alone.step(a, np.array(g, dtype=np.float32))
        plain.step(b, np.array(g, dtype=np.float32))
    assert np.array_equal(a, b) and alone.shared_normalizer() is None


def test_the_shared_normalizer_is_checkpointed_and_older_state_still_loads() -> None:
    opt = Adam()
    opt.replicas, opt.share_normalizer = 4, True
    params = np.zeros(3, dtype=np.float32)
    for g in ([1.0, -2.0, 0.5], [0.5, -1.0, 0.25], [0.2, -0.5, 0.1]):
        opt.step(params, np.array(g, dtype=np.float32))
    state = opt.state()
    assert "cluster_shared" in state
    restored = Adam()
    restored.replicas, restored.share_normalizer = 4, True
    restored.load_state(state)
    a, b = params.copy(), params.copy()
    opt.step(a, np.ones(3, dtype=np.float32))
    restored.step(b, np.ones(3, dtype=np.float32))
    assert np.array_equal(a, b)
    older = {k: v for k, v in state.items() if k != "cluster_shared"}  # before the field
    resumed = Adam()
    resumed.replicas, resumed.share_normalizer = 4, True
    resumed.load_state(older)
    c = params.copy()
    resumed.step(c, np.ones(3, dtype=np.float32))  # starts its shared estimate afresh
    shared = resumed.shared_normalizer()
    assert shared is not None and np.all(np.isfinite(c)) and np.all(shared > 0)


def test_the_shared_normalizer_remembers_as_adam_does_and_skips_the_first_step() -> None:
    """Synchronous Adam's v averages ~1,000 steps: the shared estimate that stands for it must
    not follow the gradient down within ten steps (at 1,000 peers that held the mean model at
    0.958); the first step's estimate is the peer's own signal, so it is not kept."""
    opt = Adam()
    opt.replicas, opt.share_normalizer = 1000, True
    params = np.zeros(4, dtype=np.float32)
    opt.step(params, np.ones(4, dtype=np.float32))
    assert opt.shared_normalizer() is None
    for _ in range(49):
        opt.step(params, np.ones(4, dtype=np.float32))
    shared = opt.shared_normalizer()
    assert shared is not None
    high = shared.copy()
    for _ in range(20):
        opt.step(params, np.full(4, 0.01, dtype=np.float32))
    assert np.all(shared > 0.5 * high)  # a decay of 0.9 a step would leave 0.12
