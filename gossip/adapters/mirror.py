"""The flat vector as the truth for a copy of it that a framework trains elsewhere.

Some frameworks cannot train views into the host float32 vector a peer
gossips: a GPU's memory, Keras's backend variables (JAX arrays are immutable).
The vector stays the truth, which the averaging rule reads and adds increments
to under the replica lock, and the framework's copy is kept in step with it at
step boundaries, one whole-vector transfer each way:

* before a step, the copy is refreshed from the vector, only when something
  else wrote the vector since the two last matched (an exchange's increment, a
  catch-up, a resume). The node says when, through :meth:`Mirror.watch_writes`
  (the replica's count of such writes, read under the lock); never told, the
  mirror refreshes before every step.
* after the step, the copy is read back and written to the vector under the
  lock: as it is when nothing else wrote meanwhile, else as the step's change
  (``after - before``) added, so an exchange that landed during the step is
  kept, as the numpy model's optimizer step would keep it.

Two host buffers the vector's size hold what the copy held before the step and
what it holds after; they swap roles, so a step that no exchange preceded
copies once (back) and one that followed an exchange twice, never per tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

Transfer = Callable[[np.ndarray], None]
"""Copies between a host float32 vector (the argument) and the framework's copy."""


class Mirror:
    """Keeps a framework's copy of ``params`` in step with it, at step boundaries.

    ``upload(host)`` sets the copy from ``host``, ``download(host)`` reads the
    copy into ``host``; both are given one of the mirror's two buffers, made by
    ``buffer(size)`` (pinned memory for a GPU's faster transfers). ``upload``
    must copy: the mirror reuses the buffer afterwards.
    """

    def __init__(
        self,
        params: np.ndarray,
        upload: Transfer,
        download: Transfer,
        buffer: Callable[[int], np.ndarray] | None = None,
    ) -> None:
        make = buffer or (lambda size: np.empty(size, dtype=np.float32))
        self.params = params
        self._upload, self._download = upload, download
        self._before, self._after = make(params.size), make(params.size)
        self._writes: Callable[[], int] | None = None
        self._seen: int | None = None
        """The write count at which the copy last equalled the vector; None: not known to."""
        self.copies_in = 0
        self.copies_out = 0

    def watch_writes(self, writes: Callable[[], int]) -> None:
        """``writes()``: how often others wrote the vector, read under the lock (Replica.writes)."""
        self._writes, self._seen = writes, None

    def _matches(self) -> bool:
        """Whether the copy still equals the vector (call under the lock)."""
        return self._writes is not None and self._seen == self._writes()

    def before_step(self, lock: AbstractContextManager[Any]) -> None:
        """Refresh the copy from the vector if others wrote it since they last matched."""
        with lock:
            stale = not self._matches()
            if stale:
                self._before[...] = self.params  # a snapshot no exchange tears
                self._seen = None if self._writes is None else self._writes()
        if stale:
            self._upload(self._before)
            self.copies_in += 1

    def after_step(self, lock: AbstractContextManager[Any]) -> None:
        """Write the stepped copy to the vector, keeping any exchange that landed meanwhile."""
        self._download(self._after)
        self.copies_out += 1
        with lock:
            if self._matches():
                self.params[...] = self._after  # nothing else wrote: the copy is the vector
            else:
                np.subtract(self._after, self._before, out=self._after)
                self.params += self._after
                self._seen = None
        self._before, self._after = self._after, self._before

    def refresh(self) -> None:
        """The copy from the vector now, without the lock (an evaluation: a torn read is
        harmless there); the next step copies again under the lock unless nothing changed."""
        if self._matches():
            return
        self._before[...] = self.params
        self._upload(self._before)
        self.copies_in += 1
        self._seen = None
