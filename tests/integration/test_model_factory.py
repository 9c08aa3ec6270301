"""``gossip-node --model-factory``: the user's own model from the command line, or one line."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Processes, free_port, node_command, wait_for
from .test_cli_errors import assert_usage_error

REPO = Path(__file__).resolve().parents[2]

FACTORIES = """
def raises():
    raise RuntimeError("boom")

def not_a_model():
    return {"weights": [1.0]}

def bad_data():
    from gossip.model import mlp
    return mlp(64, [8], 10, "classification"), [1, 2, 3]

def uncompiled():
    import keras
    return keras.Sequential([keras.layers.Dense(1)])
"""


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("no_colon", ["expected package.module:function"]),
        ("no_such_module:model", ["cannot import no_such_module"]),
        ("factories:nothing", ["factories has no function nothing"]),
        ("factories:raises", ["raised RuntimeError: boom"]),
        ("factories:not_a_model", ["returned a dict, not a model", "lacks params"]),
        ("factories:bad_data", ["returned data of type list"]),
    ],
)
def test_a_factory_that_fails_is_one_line_and_exit_2(
    tmp_path: Path, spec: str, needles: list[str]
) -> None:
    (tmp_path / "factories.py").write_text(FACTORIES)
    result = subprocess.run(
        node_command("--model-factory", spec, "--duration", "5"),
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert_usage_error(result, spec, *needles)


@pytest.mark.slow
def test_a_peer_whose_model_is_not_its_seeds_is_one_line_and_exit_2(procs: Processes) -> None:
    seed = f"127.0.0.1:{free_port()}"
    procs.node("seed", "--listen", seed, "--dataset", "digits")
    wait_for(lambda: procs.status(seed), 60, "the seed answering")
    result = subprocess.run(
        node_command("--model", "mlp:16", "--dataset", "digits", "--peers", seed,
                     "--listen", f"127.0.0.1:{free_port()}", "--duration", "5"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert_usage_error(result, f"is not its seeds' ({seed} has", "(6570 values)",
                       "every peer must build the same model")  # fmt: skip


keras_missing = importlib.util.find_spec("keras") is None
needs_keras = pytest.mark.skipif(keras_missing, reason="Keras not installed: gossip-train[keras]")


@needs_keras
def test_an_uncompiled_keras_model_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "factories.py").write_text(FACTORIES)
    result = subprocess.run(
        node_command("--model-factory", "factories:uncompiled", "--duration", "5"),
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )  # fmt: skip
    assert_usage_error(result, "not compiled")


@needs_keras
@pytest.mark.slow
def test_the_seed_keras_example_gossip_trains_in_two_processes(procs: Processes) -> None:
    ports = [free_port(), free_port()]
    addresses = [f"127.0.0.1:{port}" for port in ports]
    for i, address in enumerate(addresses):
        procs.node(
            f"k{i}", "--model-factory", "examples.keras_seed:model", "--dataset", "diabetes",
            "--shard", f"{i}/2", "--listen", address, "--peers", addresses[1 - i],
            "--eval-interval", "1", "--compression", "none", cwd=REPO,
        )  # fmt: skip

    def trained() -> list[dict[str, object]] | None:
        views = [procs.status(a) for a in addresses]
        if all(v and v["step"] >= 30 and v["exchanges"]["ok"] >= 3 for v in views):
            return views  # type: ignore[return-value]
        return None

    views = wait_for(trained, 240, "two Keras peers training and exchanging")
    for view in views:
        assert view["model"] == {
            "params": 10 * 10 + 10 + 10 + 1,
            "fingerprint": views[0]["model"]["fingerprint"],
        }
        assert view["metric"]["name"] == "loss"  # compiled with mse and no metrics
    assert "batches" not in procs.log("k0") and "shard 0/2 of diabetes" in procs.log("k0")


@needs_keras
@pytest.mark.slow
def test_the_seed_keras_script_trains_with_one_gossip_fit_call() -> None:
    result = subprocess.run(
        [sys.executable, "examples/keras_seed.py"], capture_output=True, text=True,
        timeout=300, cwd=REPO, env={**os.environ, "KERAS_BACKEND": "jax"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    mse = float(result.stdout.split("held-out mse ")[1].split()[0])
    assert mse < 0.9  # standardized targets: predicting the mean scores 1.0
