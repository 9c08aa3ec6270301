"""The README's Python API snippet runs as written (a newcomer pastes it first)."""

from __future__ import annotations

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
