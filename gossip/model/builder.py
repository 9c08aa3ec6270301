"""Build the standard MLP from the CLI's ``--model mlp:H1,H2,...`` form."""

from __future__ import annotations

from collections.abc import Sequence

from gossip.errors import UsageError
from gossip.model.layers import Dense
from gossip.model.optimizers import Optimizer
from gossip.model.sequential import Sequential

TASKS = ("classification", "regression")
_SPEC_FORM = "'mlp:H1,H2,...' (e.g. 'mlp:64,32'), 'mlp:' or 'linear' for no hidden layer"


def parse_model_spec(spec: str) -> list[int]:
    """Hidden-layer widths from ``"mlp:64,32"``; ``"mlp:"`` and ``"linear"`` mean none."""
    if not isinstance(spec, str):
        raise UsageError(f"model spec must be a string of the form {_SPEC_FORM}")
    text = spec.strip().lower()
    if text == "linear":
        return []
    kind, sep, rest = text.partition(":")
    if kind.strip() != "mlp" or not sep:
        raise UsageError(f"bad model spec {spec!r}: expected {_SPEC_FORM}")
    if not rest.strip():
        return []
    widths: list[int] = []
    for part in rest.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise UsageError(
                f"bad model spec {spec!r}: layer widths must be positive integers; "
                f"expected {_SPEC_FORM}"
            )
        widths.append(int(part))
    return widths


def mlp(
    input_dim: int,
    hidden: Sequence[int],
    outputs: int,
    task: str,
    seed: int = 0,
    *,
    optimizer: str | Optimizer = "adam",
    lr: float | None = None,
) -> Sequential:
    """A built and compiled MLP: relu hidden layers, linear output.

    ``classification`` outputs logits trained with cross-entropy, ``regression``
    outputs values trained with mse.
    """
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    if task == "classification" and outputs < 2:
        raise UsageError(f"classification needs at least 2 outputs (classes), got {outputs}")
    layers = [Dense(h, activation="relu") for h in hidden]
    layers.append(Dense(outputs))
    model = Sequential(layers, seed=seed)
    model.build(input_dim)
    model.compile(optimizer=optimizer, loss="ce" if task == "classification" else "mse", lr=lr)
    return model
