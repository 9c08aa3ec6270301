"""TensorBoard scalars of one peer (``--tensorboard-dir``), written at every evaluation.

Each peer writes its own event files under ``DIR/<peer id>/``, so pointing
TensorBoard at ``DIR`` shows every peer of a cluster as one run:

    tensorboard --logdir DIR

Scalars (x axis: the peer's training step; TensorBoard's "relative" axis
shows wall time): ``loss/train``, ``loss/heldout``, ``heldout/<metric>``
(accuracy or r2), ``consensus/distance``, ``bytes/sent``, ``bytes/received``,
``exchanges/ok``. tensorboardX queues events and writes them from its own
thread; a write that fails is logged once and writing stops, training never does.

tensorboardX is an optional dependency (``pip install 'gossip-train[tensorboard]'``):
without it, asking for scalars is a UsageError of one line at start-up.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gossip.errors import UsageError

log = logging.getLogger("gossip.tensorboard")

FLUSH_SECS = 5
"""tensorboardX flushes its queue to disk at least this often."""

SCALARS = {
    "train_loss": "loss/train",
    "loss": "loss/heldout",
    "accuracy": "heldout/accuracy",
    "r2": "heldout/r2",
    "consensus_distance": "consensus/distance",
    "bytes_sent": "bytes/sent",
    "bytes_received": "bytes/received",
    "exchanges_ok": "exchanges/ok",
}
"""History keys (see ``Node._record``) and the TensorBoard tags they are written under."""


INSTALL_HINT = "pip install 'gossip-train[tensorboard]'"
"""What a user runs to get tensorboardX (the package's ``tensorboard`` extra)."""


def require_tensorboardx() -> None:
    """Raise UsageError (one line, naming the extra) when tensorboardX is not installed.

    Cheap: it looks the package up without importing it, so the command line
    can be checked before anything starts.
    """
    if importlib.util.find_spec("tensorboardX") is None:
        raise UsageError(f"--tensorboard-dir needs tensorboardX, not installed: {INSTALL_HINT}")


def check_writable(directory: Path) -> None:
    """Create ``directory`` and a file in it, or raise UsageError with one line naming it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"--tensorboard-dir {directory}: cannot write there: {reason}") from exc


class ScalarWriter:
    """One peer's event files; :meth:`write` takes a history entry."""

    def __init__(self, directory: str | os.PathLike[str], peer_id: str) -> None:
        self.path = Path(directory) / peer_id
        require_tensorboardx()
        check_writable(self.path)
        try:
            from tensorboardX import SummaryWriter  # heavy import: only when asked for
        except ImportError as exc:  # present but broken (a missing dependency of its own)
            raise UsageError(
                f"--tensorboard-dir: cannot import tensorboardX ({exc}): {INSTALL_HINT}"
            ) from exc

        try:
            self._writer: Any = SummaryWriter(logdir=str(self.path), flush_secs=FLUSH_SECS)
        except OSError as exc:
            raise UsageError(f"--tensorboard-dir {directory}: {exc.strerror or exc}") from exc
        self._broken = False

    def write(self, entry: Mapping[str, Any], walltime: float | None = None) -> None:
        """Write the known scalars of one history entry; never raises."""
        if self._broken:
            return
        step = int(entry.get("step", 0))
        try:
            for key, tag in SCALARS.items():
                value = entry.get(key)
                if value is None:
                    continue
                value = float(value)
                if math.isfinite(value):
                    self._writer.add_scalar(tag, value, step, walltime=walltime)
        except Exception as exc:  # disk full, directory removed: keep training, say it once
            self._broken = True
            log.warning("tensorboard: cannot write to %s (%s); no more scalars", self.path, exc)

    def close(self) -> None:
        try:
            self._writer.close()
        except Exception as exc:
            log.warning("tensorboard: closing %s failed: %s", self.path, exc)
