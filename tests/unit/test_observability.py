"""TensorBoard scalars: event files TensorBoard can read; bad directories; runtime failures."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from tensorboardX.proto import event_pb2

from gossip.errors import UsageError
from gossip.tensorboard import ScalarWriter


def read_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Parse TFRecord event files (length, crc, data, crc) as TensorBoard does."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_scalars_land_in_per_peer_event_files(tmp_path: Path) -> None:
    writer = ScalarWriter(tmp_path, "node-3")
    writer.write({"step": 5, "train_loss": 0.5, "loss": 0.6, "accuracy": 0.9,
                  "consensus_distance": 0.01, "bytes_sent": 100, "bytes_received": 90})  # fmt: skip
    writer.write({"step": 9, "loss": 0.4, "accuracy": 0.95, "consensus_distance": None})
    writer.close()
    scalars = read_scalars(tmp_path / "node-3")
    assert scalars["heldout/accuracy"] == [(5, pytest.approx(0.9)), (9, pytest.approx(0.95))]
    assert scalars["consensus/distance"] == [(5, pytest.approx(0.01))]
    assert {"loss/train", "loss/heldout", "bytes/sent", "bytes/received"} <= set(scalars)


def test_an_unwritable_directory_is_one_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UsageError, match=r"--tensorboard-dir .*file.*cannot write there"):
        ScalarWriter(blocker / "tb", "node-0")


def test_a_failing_write_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = ScalarWriter(tmp_path, "node-0")

    class Broken:
        def add_scalar(self, *args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    writer._writer = Broken()
    writer.write({"step": 1, "loss": 0.5})
    writer.write({"step": 2, "loss": 0.4})
    writer.close()
    assert sum("cannot write" in r.getMessage() for r in caplog.records) == 1


def test_without_tensorboardx_the_flag_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gossip.cli.node import main

    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    code = main(["--dataset", "synthetic", "--tensorboard-dir", str(tmp_path / "tb")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "gossip-node: error: --tensorboard-dir needs tensorboardX, not installed: "
        "pip install 'gossip-train[tensorboard]'"
    ]
    assert not (tmp_path / "tb").exists()  # refused before anything started
    with pytest.raises(UsageError, match=r"gossip-train\[tensorboard\]"):
        ScalarWriter(tmp_path / "tb", "node-0")
