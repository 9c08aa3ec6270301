"""Whole-model backprop against central finite differences.

Every activation is tried in the hidden and in the output layer, under both
losses. The check runs on a float64 copy of the parameters (compute_gradients
accepts one), where finite differences are accurate to ~1e-8; the float32 path
is then compared with the float64 result.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gossip.model import ACTIVATION_NAMES, Dense, Sequential

EPS = 1e-6


def make(hidden: str, last: str, loss: str) -> tuple[Sequential, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    model = Sequential([Dense(5, activation=hidden), Dense(3, activation=last)], seed=3)
    model.compile(optimizer="sgd", loss=loss)
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, 3, 6) if loss == "ce" else rng.normal(size=(6, 3))
    model.build(4)
    # small random biases so relu units are neither all on nor exactly at the kink
    model.set_params(model.params + rng.normal(scale=0.1, size=model.num_params))
    return model, x, y


def finite_differences(model: Sequential, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = model.params.astype(np.float64)
    g = np.zeros_like(p)
    for i in range(p.size):
        old = p[i]
        p[i] = old + EPS
        hi, _ = model.compute_gradients(x, y, params=p)
        p[i] = old - EPS
        lo, _ = model.compute_gradients(x, y, params=p)
        p[i] = old
        g[i] = (hi - lo) / (2 * EPS)
    return g


@pytest.mark.parametrize(
    ("hidden", "last", "loss"),
    list(itertools.product(ACTIVATION_NAMES, ACTIVATION_NAMES, ["mse", "ce"])),
)
def test_backprop_matches_finite_differences(hidden: str, last: str, loss: str) -> None:
    model, x, y = make(hidden, last, loss)
    p64 = model.params.astype(np.float64)
    value64, grads64 = model.compute_gradients(x, y, params=p64)
    assert grads64.dtype == np.float64
    numeric = finite_differences(model, x, y)
    scale = max(1.0, float(np.abs(numeric).max()))
    np.testing.assert_allclose(grads64, numeric, rtol=1e-5, atol=1e-7 * scale)
    assert np.abs(grads64).max() > 1e-4  # the check is not vacuous

    value32, grads32 = model.compute_gradients(x, y)
    assert grads32.dtype == np.float32
    assert value32 == pytest.approx(value64, rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(grads32, grads64, rtol=1e-3, atol=1e-5 * scale)


def test_onehot_and_index_targets_give_the_same_gradient() -> None:
    model, x, y = make("tanh", "linear", "ce")
    a = model.compute_gradients(x, y)
    b = model.compute_gradients(x, np.eye(3)[y])
    assert a[0] == pytest.approx(b[0], rel=1e-6)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-7)


def test_softmax_output_under_ce_is_fused_with_the_loss() -> None:
    """A softmax last layer trains exactly like logits: same loss, same gradient."""
    soft, x, y = make("relu", "softmax", "ce")
    lin, _, _ = make("relu", "linear", "ce")
    lin.set_params(soft.params)
    assert soft.compute_gradients(x, y)[0] == lin.compute_gradients(x, y)[0]
    np.testing.assert_array_equal(soft.compute_gradients(x, y)[1], lin.compute_gradients(x, y)[1])
    np.testing.assert_allclose(soft.predict(x).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(soft.predict(x), lin.predict(x))


def test_mse_accepts_1d_targets_for_one_output() -> None:
    model = Sequential([Dense(3, activation="tanh"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=5)
    a = model.compute_gradients(x, y)
    b = model.compute_gradients(x, y.reshape(-1, 1))
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
