"""Receive buffers kept between exchanges: a 40 MB payload is assembled into mapped pages.

A chunked payload is copied, chunk by chunk, into one buffer of its announced
size (:class:`~gossip.transport.wire.SnapshotAssembler`). A fresh buffer per
exchange is a fresh mapping (glibc maps every block over 32 MiB on its own and
unmaps it when freed), so each 10M-parameter exchange faulted 40 MB of new pages
in on each side while the chunks arrived, the same cost
gossip/averaging/spares.py takes out of the codecs' vectors. Reusing it made one
10M exchange between two processes 25-50% faster (``bench/transfer.py``).

When is a buffer free again? The payload is handed on as a read-only
memoryview of a *lease*, a numpy view made for this exchange; everything that
reads the payload (the handler, the codecs' ``np.frombuffer``, slices, a
snapshot kept by a test) holds that lease alive through the memoryview. The
pool keeps a weak reference to each buffer's last lease and lends the buffer
again only once that lease is gone: nothing can still read the bytes it is about
to overwrite, without any release call to forget on an error path.

Bounded: at most ``limit`` buffers are kept (one by default), each as large as
the largest payload it held (4 bytes per parameter with codec ``none``: 40 MB
at 10M parameters, 400 MB at 100M, held between exchanges; the peak is the same,
since an exchange holds its buffer anyway). A node runs one exchange at a time
in either role (gossip/schedule.py), so one buffer serves it; a take while
every kept buffer is lent (an offer read while another exchange runs, to be
refused ``busy`` or to wait its turn) gets a buffer of its own, freed with it.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

LIMIT = 1
"""Buffers kept: a node runs one exchange at a time (gossip/schedule.py)."""


class _Kept:
    __slots__ = ("buffer", "lease")

    def __init__(self, buffer: np.ndarray) -> None:
        self.buffer = buffer
        self.lease: weakref.ref[np.ndarray] | None = None

    @property
    def free(self) -> bool:
        return self.lease is None or self.lease() is None


class ReceiveBuffers:
    """Byte buffers for received payloads, lent to one exchange at a time each (thread-safe)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._kept: list[_Kept] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> np.ndarray:
        """A uint8 array of ``size`` bytes to overwrite, lent until nothing refers to it.

        The smallest free kept buffer that fits; else a free one grown to ``size``
        (replaced); else a new one, kept while there is room.
        """
        with self._lock:
            free = [k for k in self._kept if k.free]
            fits = [k for k in free if k.buffer.size >= size]
            if fits:
                kept = min(fits, key=lambda k: k.buffer.size)
            elif free:
                kept = max(free, key=lambda k: k.buffer.size)
                kept.buffer = np.empty(size, np.uint8)  # the old one is unmapped when dropped
            elif len(self._kept) < self.limit:
                kept = _Kept(np.empty(size, np.uint8))
                self._kept.append(kept)
            else:
                return np.empty(size, np.uint8)  # all lent: one of its own
            lease = kept.buffer[:size]  # a new view: its life is the exchange's use of the bytes
            kept.lease = weakref.ref(lease)
            return lease

    @property
    def kept_bytes(self) -> int:
        """Bytes held by the pool, lent or not (the memory it costs)."""
        with self._lock:
            return sum(k.buffer.nbytes for k in self._kept)

    @property
    def lent(self) -> int:
        """Kept buffers whose payload is still referred to."""
        with self._lock:
            return sum(not k.free for k in self._kept)
