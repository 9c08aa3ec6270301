"""The live table's note for a peer without an answer: starting, not answering, exited."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gossip.cli.cluster import _views
from gossip.cli.launcher import Child


@pytest.fixture
def children(tmp_path: Path) -> Iterator[list[Child]]:
    """fresh and leaving: still running; gone: exited with code 3."""
    made = []
    for name, code in (("fresh", "import time; time.sleep(60)"),
                       ("leaving", "import time; time.sleep(60)"),
                       ("gone", "import sys; sys.exit(3)")):  # fmt: skip
        argv = [sys.executable, "-c", code]
        record = Child(name, f"127.0.0.1:{len(made) + 1}", argv, tmp_path / "x.log", tmp_path)
        record.process = subprocess.Popen(argv)
        made.append(record)
    made[2].process.wait(timeout=60)  # type: ignore[union-attr]
    try:
        yield made
    finally:
        for record in made:
            assert record.process is not None
            record.process.kill()
            record.process.wait()


def test_a_peer_that_answered_before_is_not_starting_again(children: list[Child]) -> None:
    """A leaving peer's last frame: still running, no answer, but it did answer before."""
    views = _views(children, {}, ever_answered={"leaving", "gone"})
    assert [v.note for v in views] == ["starting", "not answering", "exited 3"]
    assert [v.address for v in views] == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
