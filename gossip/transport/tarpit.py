"""Refusals over a connection's rate answered late: a client looping on them runs slower.

A client calling in a loop over one connection (``bench/fuzz.py --soak``)
gets each refusal of :mod:`gossip.transport.callrate` in well under a
millisecond and sends the next call at once: its own process then takes a
third of a core, and the node's gRPC threads a share more, of the CPU the
node trains and exchanges on. Answering sooner cannot help: the sooner the
refusal, the sooner the next call. A refusal for a connection over its rate
(never a first offence: an honest member never reaches one) is therefore
held back :data:`DELAY_S` before it is sent, so a serial caller waits
instead of calling.

Holding a refusal holds a server thread (grpc-python's server is
synchronous) and nothing else: at most one refusal per connection and
:data:`THREADS` in all are held at once, the rest answered at once as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DELAY_S = 0.01
"""How long a refusal over a connection's rate is held before it is sent."""
THREADS = 2
"""Server threads that may hold a refusal at once (the rest are answered at once)."""


class Tarpit:
    """``hold(peer)`` waits ``delay_s`` unless ``peer`` or ``threads`` others already wait."""

    def __init__(
        self,
        delay_s: float = DELAY_S,
        threads: int = THREADS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.delay_s, self.threads = delay_s, threads
        self.held = 0
        self._sleep = sleep
        self._waiting: set[str] = set()
        self._lock = threading.Lock()

    def hold(self, peer: str) -> bool:
        """Wait before ``peer``'s refusal is sent; False (no wait) when over the caps."""
        with self._lock:
            if peer in self._waiting or len(self._waiting) >= self.threads:
                return False
            self._waiting.add(peer)
            self.held += 1
        try:
            self._sleep(self.delay_s)
        finally:
            with self._lock:
                self._waiting.discard(peer)
        return True
