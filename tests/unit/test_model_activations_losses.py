"""Activations and losses against central finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.errors import UsageError
from gossip.model.activations import ACTIVATION_NAMES, get_activation, log_softmax, softmax
from gossip.model.losses import LOSS_NAMES, get_loss

EPS = 1e-6


def numeric_grad(f, z: np.ndarray) -> np.ndarray:
    g = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        old = z[i]
        z[i] = old + EPS
        hi = f(z)
        z[i] = old - EPS
        lo = f(z)
        z[i] = old
        g[i] = (hi - lo) / (2 * EPS)
    return g


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_backward_matches_finite_differences(name: str) -> None:
    rng = np.random.default_rng(1)
    act = get_activation(name)
    z = rng.normal(size=(4, 5))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from the relu kink
    w = rng.normal(size=(4, 5))  # random upstream gradient: L = sum(w * a)
    a = act.forward(z.copy())
    analytic = act.backward(z, a, w)
    numeric = numeric_grad(lambda zz: float(np.sum(w * act.forward(zz.copy()))), z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_keeps_float32(name: str) -> None:
    act = get_activation(name)
    z = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    a = act.forward(z.copy())
    assert a.dtype == np.float32
    assert act.backward(z, a, np.ones_like(z)).dtype == np.float32


def test_none_is_linear_and_names_are_case_insensitive() -> None:
    assert get_activation(None).name == "linear"
    assert get_activation("ReLU").name == "relu"


def test_sigmoid_and_softmax_are_stable_for_huge_inputs() -> None:
    z = np.array([[-1000.0, 0.0, 1000.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = get_activation("sigmoid").forward(z)
        p = softmax(z)
        lp = log_softmax(z)
    np.testing.assert_allclose(s, [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(p, [[0.0, 0.0, 1.0]])
    assert np.isfinite(lp).all()


@pytest.mark.parametrize("target_kind", ["indices", "onehot"])
def test_cross_entropy_grad_matches_finite_differences(target_kind: str) -> None:
    rng = np.random.default_rng(2)
    loss = get_loss("ce")
    out = rng.normal(size=(6, 4)) * 3
    labels = rng.integers(0, 4, 6)
    y = labels if target_kind == "indices" else np.eye(4)[labels]
    t = loss.targets(y, 4, np.dtype(np.float64))
    value, grad = loss.value_and_grad(out.copy(), t)
    assert value == pytest.approx(loss.value(out, t))
    # naive reference: -mean log(softmax)[label]
    p = np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)
    assert value == pytest.approx(-np.mean(np.log(p[np.arange(6), labels])), rel=1e-12)
    numeric = numeric_grad(lambda o: loss.value(o, t), out)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shape", [(6,), (6, 3)])
def test_mse_grad_matches_finite_differences(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    loss = get_loss("mse")
    k = shape[1] if len(shape) == 2 else 1
    out = rng.normal(size=(6, k))
    t = loss.targets(rng.normal(size=shape), k, np.dtype(np.float64))
    value, grad = loss.value_and_grad(out.copy(), t)
    assert value == pytest.approx(np.mean((out - t) ** 2), rel=1e-12)
    numeric = numeric_grad(lambda o: loss.value(o, t), out)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_metrics() -> None:
    ce = get_loss("ce")
    out = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 0.0], [0.0, 1.0]])
    assert ce.metric(out, np.array([0, 1, 1, 1])) == pytest.approx(0.75)
    mse = get_loss("mse")
    y = np.array([[1.0], [2.0], [3.0]])
    assert mse.metric(y, y) == pytest.approx(1.0)
    assert mse.metric(np.full_like(y, 2.0), y) == pytest.approx(0.0)


def test_loss_aliases_and_unknown_names() -> None:
    for name in LOSS_NAMES:
        assert get_loss(name).name in ("ce", "mse")
    assert get_loss("sparse_categorical_crossentropy").name == "ce"
    with pytest.raises(UsageError, match="mse"):
        get_loss("hinge")
    with pytest.raises(UsageError, match="relu"):
        get_activation("gelu")


def test_bad_targets_raise_usage_error() -> None:
    ce, mse = get_loss("ce"), get_loss("mse")
    f32 = np.dtype(np.float32)
    with pytest.raises(UsageError, match="range"):
        ce.targets(np.array([0, 3]), 3, f32)
    with pytest.raises(UsageError, match="integer"):
        ce.targets(np.array([0.5, 1.0]), 3, f32)
    with pytest.raises(UsageError):
        ce.targets(np.zeros((2, 4)), 3, f32)
    with pytest.raises(UsageError, match="2 outputs"):
        ce.targets(np.array([0, 0]), 1, f32)
    with pytest.raises(UsageError):
        mse.targets(np.zeros((2, 2)), 3, f32)
    assert ce.targets(np.array([0.0, 2.0]), 3, f32).tolist() == [0, 2]
