"""The flat vector really is the model: layer views alias it."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.errors import UsageError
from gossip.model import Dense, FlatLayout, Sequential


def built() -> Sequential:
    model = Sequential([Dense(4, activation="relu"), Dense(3)], seed=5)
    model.build(2)
    return model


def test_layout_offsets_and_views_share_memory() -> None:
    layout = FlatLayout([("W", (2, 3)), ("b", (3,)), ("V", (3, 1))])
    assert layout.size == 12
    assert [s.offset for s in layout.slots] == [0, 6, 9]
    flat = layout.allocate()
    assert flat.dtype == np.float32 and flat.flags.c_contiguous
    W, b, V = layout.views(flat)
    assert W.shape == (2, 3) and b.shape == (3,) and V.shape == (3, 1)
    flat[:] = np.arange(12)
    assert W[1, 2] == 5 and b[0] == 6 and V[2, 0] == 11


def test_params_are_one_flat_float32_vector() -> None:
    model = built()
    assert model.num_params == (2 * 4 + 4) + (4 * 3 + 3)
    p = model.params
    assert p.ndim == 1 and p.dtype == np.float32 and p.flags.c_contiguous
    for W, b in model.weights():
        assert np.shares_memory(W, p) and np.shares_memory(b, p)


def test_modifying_params_changes_layers_and_vice_versa() -> None:
    model = built()
    (W0, _), (W1, b1) = model.weights()
    model.params[:] = 0
    model.params[0] = 7
    assert W0[0, 0] == 7
    model.params[-1] = 3
    assert b1[-1] == 3
    W1[0, 0] = -2
    assert model.params[12] == -2  # first entry after layer 0's W (8) and b (4)
    model.params *= 2  # in-place averaging arithmetic keeps the views valid
    assert W0[0, 0] == 14
    flat = model.params
    model.params = np.zeros(model.num_params)  # assignment copies in, never rebinds
    assert model.params is flat and W0[0, 0] == 0


def test_set_params_copies_in_and_keeps_views() -> None:
    model = built()
    W0, _ = model.weights()[0]
    new = np.arange(model.num_params, dtype=np.float64)
    model.set_params(new)
    assert model.params.dtype == np.float32
    assert W0[0, 1] == 1
    with pytest.raises(UsageError, match="parameters"):
        model.set_params(np.zeros(3))


def test_gradient_is_flat_float32_in_the_same_layout() -> None:
    model = built()
    model.compile(loss="ce")
    x = np.random.default_rng(0).normal(size=(8, 2))
    before = model.params.copy()
    _, grads = model.compute_gradients(x, np.arange(8) % 3)
    assert grads.shape == model.params.shape and grads.dtype == np.float32
    np.testing.assert_array_equal(model.params, before)  # compute_gradients does not step


def test_unbuilt_model_says_so() -> None:
    model = Sequential([Dense(2)])
    with pytest.raises(UsageError, match="not built"):
        _ = model.params
    with pytest.raises(UsageError, match="not built"):
        model.fingerprint()
