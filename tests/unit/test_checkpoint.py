"""Checkpoint files: round trip, atomic naming, newest valid first, corrupt ones skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from gossip import checkpoint
from gossip.errors import UsageError


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "params": rng.standard_normal(100).astype(np.float32),
        "opt/m": rng.standard_normal(100).astype(np.float32),
    }


def test_round_trip(tmp_path: Path) -> None:
    data = {**arrays(), "opt/step": np.array(5.0, np.float32)}  # 0-d: torch's Adam step
    path = checkpoint.save(tmp_path, data, {"step": 7, "fingerprint": "abc"})
    assert path.name.startswith("ckpt-000000000007-")
    scan = checkpoint.load_latest(tmp_path, "abc")
    assert scan.checkpoint is not None and not scan.skipped
    assert scan.checkpoint.step == 7
    for name, array in data.items():
        np.testing.assert_array_equal(scan.checkpoint.arrays[name], array, strict=True)
    assert not list(tmp_path.glob("*.tmp"))


def test_newest_wins_and_old_ones_are_pruned(tmp_path: Path) -> None:
    for step in range(5):
        checkpoint.save(tmp_path, arrays(step), {"step": step}, keep=3, now_ns=1000 + step)
    assert len(checkpoint.candidates(tmp_path)) == 3
    scan = checkpoint.load_latest(tmp_path)
    assert scan.checkpoint is not None and scan.checkpoint.step == 4


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_corrupt_newest_is_skipped_with_a_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint.save(tmp_path, arrays(1), {"step": 1}, now_ns=1)
    newest = checkpoint.save(tmp_path, arrays(2), {"step": 2}, now_ns=2)
    raw = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(raw[: len(raw) // 2])  # a half-written file under the final name
    elif damage == "flip":
        newest.write_bytes(raw[:50] + bytes([raw[50] ^ 1]) + raw[51:])
    elif damage == "empty":
        newest.write_bytes(b"")
    else:
        newest.write_bytes(b"GOSSIPCK" + b"\xff" * 200)
    with caplog.at_level(logging.WARNING, "gossip.checkpoint"):
        scan = checkpoint.load_latest(tmp_path)
    assert scan.checkpoint is not None and scan.checkpoint.step == 1
    assert [p for p, _ in scan.skipped] == [newest]
    assert "skipping checkpoint" in caplog.text


def test_other_model_is_skipped(tmp_path: Path) -> None:
    checkpoint.save(tmp_path, arrays(), {"step": 3, "fingerprint": "other"})
    scan = checkpoint.load_latest(tmp_path, "mine")
    assert scan.checkpoint is None and len(scan.skipped) == 1


def test_temporary_files_and_strangers_are_ignored(tmp_path: Path) -> None:
    (tmp_path / ".ckpt-abc.tmp").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("hi")
    assert checkpoint.load_latest(tmp_path).checkpoint is None
    assert checkpoint.load_latest(tmp_path / "missing").checkpoint is None


def test_decode_rejects_everything_malformed() -> None:
    good = checkpoint.encode(arrays(), {"step": 1})
    checkpoint.decode(good)
    for bad in (b"", good[:-1], b"XXXXXXXX" + good[8:], good[:20] + good[21:]):
        with pytest.raises(checkpoint.CheckpointError):
            checkpoint.decode(bad)


def test_unwritable_directory_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="--checkpoint-dir"):
        checkpoint.checkpoint_dir(blocker / "sub")
