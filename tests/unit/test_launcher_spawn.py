"""Launcher(spawn_interval=): children start in turn, each after the interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gossip.cli import launcher as launcher_module
from gossip.cli.launcher import Launcher


def test_children_start_in_turn_with_the_interval_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        launcher_module, "spawn", lambda argv, log, env=None: events.append(("spawn", argv))
    )
    monkeypatch.setattr(launcher_module.time, "sleep", lambda s: events.append(("sleep", s)))
    Launcher(3, tmp_path, spawn_interval=0.5).start()
    assert [kind for kind, _ in events] == ["spawn", "sleep", "spawn", "sleep", "spawn"]
    assert [s for kind, s in events if kind == "sleep"] == [0.5, 0.5]


def test_without_an_interval_all_start_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(
        launcher_module, "spawn", lambda argv, log, env=None: events.append("spawn")
    )
    monkeypatch.setattr(launcher_module.time, "sleep", lambda s: events.append("sleep"))
    Launcher(3, tmp_path).start()
    assert events == ["spawn"] * 3
