"""The peer's parameter vector and its lock: what training and exchanges share.

The averaging rule (:mod:`gossip.averaging`) is pure arithmetic on vectors;
this is the one object that several threads write to, so the lock lives
here, with the vector it guards. The training loop's model writes ``params``
under ``lock`` (gossip/trainable.py), exchanges read and add through
:meth:`Replica.gather` and :meth:`Replica.add`.
"""

from __future__ import annotations

import threading

import numpy as np


class Replica:
    """The local parameter vector shared by the training loop and exchanges.

    ``lock`` serialises in-place writes (optimizer steps and increments);
    :meth:`gather` copies under it, so what an exchange sends is never torn.
    """

    def __init__(self, params: np.ndarray, fingerprint: str, alpha: float = 0.5) -> None:
        if params.dtype != np.float32 or params.ndim != 1:
            raise ValueError("params must be a flat float32 vector")
        if not 0.0 < alpha <= 0.5:
            raise ValueError("alpha must be in (0, 0.5]")
        self.params = params
        self.fingerprint = fingerprint
        self.alpha = alpha
        self.lock = threading.Lock()
        self.writes = 0
        """Increments and assignments made through this object (training steps are counted
        by the trainer): an offer built at the same count and step is still current, and a
        model's copy on a GPU that matched the vector at this count still does
        (gossip.trainable.Mirrored)."""

    @property
    def num_params(self) -> int:
        return int(self.params.size)

    def gather(self, slices: list[slice], out: np.ndarray | None = None) -> np.ndarray:
        """A copy of the selected parts of the parameters, taken under the lock.

        ``out``: a float32 vector of their total size to copy into (its pages already mapped).
        """
        with self.lock:
            if out is None and len(slices) == 1:
                return self.params[slices[0]].copy()
            parts = [self.params[s] for s in slices]
            if out is None:
                return np.concatenate(parts)
            return np.concatenate(parts, out=out)

    def assign(self, values: np.ndarray) -> None:
        """Replace every parameter (a resume, a catch-up), under the lock."""
        with self.lock:
            self.params[...] = values
            self.writes += 1

    def add(self, delta: np.ndarray, slices: list[slice]) -> None:
        """Add ``delta`` to the selected parts (concatenated in order), under the lock."""
        with self.lock:
            self.writes += 1
            start = 0
            for s in slices:
                end = start + (s.stop - s.start)
                self.params[s] += delta[start:end]
                start = end
