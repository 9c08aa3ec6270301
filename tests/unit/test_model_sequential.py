"""Sequential end to end: determinism, learning, evaluate/predict, fingerprint."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.errors import UsageError
from gossip.model import Dense, Sequential


def xor_blobs(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian blobs at the corners of a square labelled like XOR."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    x = corners * 2.0 - 1.0 + rng.normal(scale=0.25, size=(n, 2))
    y = corners[:, 0] ^ corners[:, 1]
    return x.astype(np.float32), y


def classifier(seed: int = 0) -> Sequential:
    model = Sequential([Dense(16, activation="relu"), Dense(2)], seed=seed)
    model.compile(optimizer="adam", loss="ce", lr=0.02)
    return model


def test_readme_example_runs() -> None:
    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(256, 3)).astype(np.float32)
    y_train = x_train @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = Sequential([Dense(10, activation="relu"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x_train, y_train, epochs=10)
    assert list(history) == ["loss"] and len(history["loss"]) == 10
    assert history["loss"][-1] < history["loss"][0]


def test_learns_xor_blobs() -> None:
    x, y = xor_blobs()
    model = classifier()
    history = model.fit(x, y, epochs=40, batch_size=32)
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    x_test, y_test = xor_blobs(200, seed=1)
    result = model.evaluate(x_test, y_test)
    assert set(result) == {"loss", "accuracy"}
    assert result["accuracy"] >= 0.95
    proba = model.predict(x_test)
    assert proba.shape == (200, 2) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(proba.argmax(axis=1) == y_test) == pytest.approx(result["accuracy"])


def test_learns_linear_regression_with_r2() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = x @ np.array([[1.0, 0.0], [-1.0, 2.0], [0.5, 0.5], [0.0, -1.0]]) + 1.0
    model = Sequential([Dense(2)], seed=1)
    model.compile(optimizer="sgd", loss="mse", lr=0.1)
    model.fit(x, y, epochs=30)
    result = model.evaluate(x, y)
    assert set(result) == {"loss", "r2"}
    assert result["r2"] > 0.99 and result["loss"] < 0.05


def test_same_seed_is_bit_identical_and_different_seed_differs() -> None:
    x, y = xor_blobs(128)
    a, b, c = classifier(seed=3), classifier(seed=3), classifier(seed=4)
    for m in (a, b, c):
        m.build(2)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    ha, hb = a.fit(x, y, epochs=3), b.fit(x, y, epochs=3)
    assert ha == hb
    np.testing.assert_array_equal(a.params, b.params)
    c.fit(x, y, epochs=3)
    assert not np.array_equal(a.params, c.params)


def test_shuffle_changes_the_order_but_not_without_it() -> None:
    x, y = xor_blobs(128)
    a, b = classifier(), classifier()
    a.fit(x, y, epochs=1, shuffle=False)
    b.fit(x, y, epochs=1, shuffle=True)
    assert not np.array_equal(a.params, b.params)


def test_init_scales() -> None:
    model = Sequential([Dense(256, activation="relu"), Dense(256, activation="tanh")], seed=0)
    model.build(512)
    (W0, b0), (W1, _) = model.weights()
    assert np.std(W0) == pytest.approx(np.sqrt(2 / 512), rel=0.05)  # He normal
    limit = np.sqrt(6 / (256 + 256))  # Glorot uniform
    assert np.abs(W1).max() <= limit and np.std(W1) == pytest.approx(limit / np.sqrt(3), rel=0.05)
    assert not b0.any()


def test_low_level_api() -> None:
    x, y = xor_blobs(32)
    model = classifier()
    before = model.compute_gradients(x, y)  # builds lazily
    p0 = model.params.copy()
    loss = model.train_step(x, y)
    assert loss == pytest.approx(before[0])
    assert not np.array_equal(model.params, p0)
    other = classifier()
    other.build(2)
    other.apply_gradients(before[1])
    np.testing.assert_array_equal(other.params, model.params)


def test_fit_verbose_prints_one_line_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = xor_blobs(64)
    classifier().fit(x, y, epochs=3, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "loss" in lines[-1]


def test_fingerprint_stable_and_sensitive() -> None:
    def fp(*layers: Dense, inputs: int = 8, seed: int = 0) -> str:
        model = Sequential(list(layers), seed=seed)
        model.build(inputs)
        return model.fingerprint()

    base = fp(Dense(16, activation="relu"), Dense(4))
    assert len(base) == 16 and int(base, 16) >= 0
    assert base == fp(Dense(16, activation="relu"), Dense(4, activation="linear"), seed=9)
    variants = {
        fp(Dense(16, activation="relu"), Dense(4), inputs=9),
        fp(Dense(17, activation="relu"), Dense(4)),
        fp(Dense(16, activation="tanh"), Dense(4)),
        fp(Dense(16, activation="relu"), Dense(4, activation="softmax")),
        fp(Dense(16, activation="relu"), Dense(4), Dense(4)),
    }
    assert base not in variants and len(variants) == 5
    # pinned: peers in other processes must compute the same digest (no hash seeds,
    # no dict order); change it only together with FINGERPRINT_VERSION
    assert base == "6d6c25b3a016b594"


def test_summary_mentions_layers_and_counts() -> None:
    model = classifier()
    assert "not built" in model.summary()
    model.build(2)
    text = model.summary()
    assert "relu" in text and str(model.num_params) in text and model.fingerprint() in text


def test_usage_errors() -> None:
    with pytest.raises(UsageError, match="positive integer"):
        Dense(0)
    with pytest.raises(UsageError, match="activation"):
        Dense(3, activation="swish")
    model = Sequential([Dense(2)])
    with pytest.raises(UsageError, match="compile"):
        model.fit(np.zeros((4, 3)), np.zeros(4))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(UsageError, match="2-D"):
        model.fit(np.zeros(4), np.zeros(4))
    with pytest.raises(UsageError, match="samples"):
        model.fit(np.zeros((4, 3)), np.zeros((5, 2)))
    model.build(3)
    with pytest.raises(UsageError, match="3 input features"):
        model.predict(np.zeros((1, 4)))
    with pytest.raises(UsageError, match="built"):
        model.add(Dense(1))
    with pytest.raises(UsageError, match="no layers"):
        Sequential([]).build(3)
    with pytest.raises(UsageError, match="Dense"):
        Sequential(["dense"])  # type: ignore[list-item]
    with pytest.raises(UsageError, match="optimizer"):
        model.compile(optimizer="lbfgs")
    with pytest.raises(UsageError, match="loss"):
        model.compile(loss="l1")
