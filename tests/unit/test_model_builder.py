"""The CLI model spec and the standard MLP builder."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.errors import UsageError
from gossip.model import Adam, mlp, parse_model_spec


@pytest.mark.parametrize(
    ("spec", "widths"),
    [
        ("mlp:64,32", [64, 32]),
        ("mlp:8", [8]),
        (" MLP: 16 , 4 ", [16, 4]),
        ("mlp:", []),
        ("linear", []),
    ],
)
def test_parse_model_spec(spec: str, widths: list[int]) -> None:
    assert parse_model_spec(spec) == widths


@pytest.mark.parametrize("spec", ["", "mlp", "cnn:3", "mlp:64,,32", "mlp:0", "mlp:-4", "mlp:a"])
def test_bad_specs_name_the_valid_form(spec: str) -> None:
    with pytest.raises(UsageError, match=r"mlp:H1,H2") as info:
        parse_model_spec(spec)
    assert "\n" not in str(info.value)


def test_mlp_classification() -> None:
    model = mlp(64, [64], 10, "classification", seed=2)
    assert [(la.units, la.activation) for la in model.layers] == [(64, "relu"), (10, "linear")]
    assert model.num_params == 64 * 64 + 64 + 64 * 10 + 10
    assert model.loss.name == "ce" and isinstance(model.optimizer, Adam)
    x = np.random.default_rng(0).normal(size=(5, 64))
    np.testing.assert_allclose(model.predict(x).sum(axis=1), 1.0, rtol=1e-5)


def test_mlp_regression_and_options() -> None:
    model = mlp(3, [], 1, "regression", optimizer="sgd", lr=0.1)
    assert len(model.layers) == 1 and model.loss.name == "mse"
    assert model.optimizer.lr == pytest.approx(0.1)
    assert (
        mlp(3, [4], 1, "regression", seed=5).fingerprint()
        == mlp(3, [4], 1, "regression", seed=6).fingerprint()
    )


def test_mlp_bad_arguments() -> None:
    with pytest.raises(UsageError, match="classification, regression"):
        mlp(4, [8], 2, "clustering")
    with pytest.raises(UsageError, match="2 outputs"):
        mlp(4, [8], 1, "classification")
    with pytest.raises(UsageError, match="positive"):
        mlp(4, [0], 2, "classification")
