"""Vectors an exchange freed, kept for the next one: no fresh 40 MB mappings per exchange.

A compressed exchange of ``n`` parameters needs three vectors of ``n`` float32 on
each side (our snapshot, the peer's decoded difference, the increment) and frees
as many (the pair's two previous references, the increment once applied). glibc
gives every vector over 32 MiB a mapping of its own and unmaps it when freed, so
each exchange of a 10M model faulted 120 MB of fresh pages in again: on a busy
machine that system time, not the codecs, was most of an int8 exchange's CPU
(0.25-0.4 s of 0.3-0.4 s per responder in ``bench/large.py``, see
docs/architecture.md). Handing the freed vectors to the next exchange keeps their
pages mapped.

Bounded: at most ``limit`` vectors are given back (what one exchange takes, 12
bytes per parameter), so a peer holds between exchanges what one exchange holds
at its peak anyway. When the codecs are loaded (``Mixer.warm_up``) the spares
are mapped, plus two for each neighbour the peer knows at start (its seeds, up
to the references' memory budget): every first contact keeps two vectors as the
pair's references, and a peer meets its neighbours in its first exchanges, when
agreement is furthest off. Faulted in there instead, they cost 8 peers of 1M
parameters on 2 cores a sixth of their CPU per exchange until every pair had
met (``bench/large.py``: 37 ms of CPU per exchange against 31 premapped; at
10M parameters 0.15-0.2 s of system time per side and first contact).
Thread-safe, though its owner runs one exchange at a time.
"""

from __future__ import annotations

import threading

import numpy as np

F32 = np.dtype(np.float32)
LIMIT = 3
"""Vectors kept: one exchange takes three (snapshot, peer's decoded, increment)."""
PER_PAIR = 2
"""Vectors a first contact keeps (the pair's two references)."""


class Spares:
    """Free float32 vectors of one size (the model's), taken and given back by exchanges."""

    def __init__(self, size: int, limit: int = LIMIT) -> None:
        self.size = size
        self.limit = limit
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> np.ndarray:
        """A vector of ``size`` float32 to overwrite: a spare when one fits, else a new one."""
        if size == self.size:
            with self._lock:
                if self._free:
                    return self._free.pop()
        return np.empty(size, dtype=F32)

    def give(self, *vectors: np.ndarray | None) -> None:
        """Keep vectors nothing else uses any more; only whole-model ones that own their memory."""
        with self._lock:
            for vector in vectors:
                if len(self._free) >= self.limit:
                    return
                if (
                    vector is not None
                    and vector.size == self.size
                    and vector.dtype == F32
                    and vector.flags.owndata
                    and vector.flags.writeable
                    and vector.flags.c_contiguous
                    and all(vector is not kept for kept in self._free)
                ):
                    self._free.append(vector)

    def fill(self, count: int | None = None) -> None:
        """Map ``count`` spares (default: the limit) now, before exchanges fault them in.

        More than the limit may be mapped: those are taken and kept by the first
        exchanges (a new pair's references), never given back beyond the limit.
        """
        with self._lock:
            while len(self._free) < (self.limit if count is None else count):
                vector = np.empty(self.size, dtype=F32)
                vector.fill(0.0)
                self._free.append(vector)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._free)
