"""The README's Python snippets run as written (a newcomer pastes them first)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_keras_like_snippet_runs_and_scores() -> None:
    text = README.read_text()
    section = text[text.index("## Python API") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None
    printed: list[object] = []
    exec(snippet.group(1), {"print": printed.append})  # our own README
    (scores,) = printed
    assert isinstance(scores, dict) and set(scores) == {"loss", "r2"}


def test_the_adding_a_framework_skeleton_is_a_model_a_peer_trains() -> None:
    import numpy as np

    from gossip.adapters import adapt

    text = README.read_text()
    section = text[text.index("#### Adding a framework") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None
    scope: dict[str, object] = {}
    exec(snippet.group(1), scope)  # our own README; it asserts isinstance(..., gossip.Trainable)
    model = adapt(scope["LinearModel"](2))  # type: ignore[operator]
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    y = np.array([2.0, -1.0], dtype=np.float32)
    losses = [model.train_step(x, y, contextlib.nullcontext()) for _ in range(200)]
    assert losses[-1] < 0.01 * losses[0]
