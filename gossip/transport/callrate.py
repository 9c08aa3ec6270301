"""Per-connection call rates: a token bucket for each caller, answered before any work.

A member push-pulls a given peer at most once per round (0.2 s on a LAN) plus
a leave or a last call, all on the one channel it keeps to that peer. A
client looping on push-pulls from one connection gets ten times that rate and
more, and each call it makes costs the node a merge and a whole digest in
reply. :class:`CallRate` keys a bucket by gRPC's peer string (``ipv4:IP:PORT``:
one per connection); a call beyond the rate is refused with
RESOURCE_EXHAUSTED before the request is looked at. Exchanges are charged
only when refused for a reason that counts against the peer (a wrong model,
NaN, an invalid id...): an honest neighbour exchanges hundreds of times a
second and is refused only ``busy``, a client sending refused offers in a
loop is then turned away before its first frame is read. Either refusal is held
back a moment first (gossip.transport.tarpit). The buckets live in an
LRU (gossip.lru), so a stream of new connections cannot grow the table; a
client that opens a new connection per call dodges the rate and pays a TCP
and HTTP/2 handshake for each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gossip.lru import Lru

PUSH_PULL_RATE = 20.0
"""Push-pulls a second per connection: four times a LAN member's most (one a round)."""
PUSH_PULL_BURST = 40.0
"""Calls allowed at once: a node that just joined calls every member, each once."""
EXCHANGE_REFUSAL_RATE = 1.0
"""Exchanges refused as strikes, a second per connection, before its exchanges are turned away."""
EXCHANGE_REFUSAL_BURST = 10.0
CONNECTIONS = 1024
"""Buckets kept (the most recently used); a forgotten connection starts full again."""


class CallRate:
    """A token bucket per connection; ``allow`` takes one token or says no."""

    def __init__(
        self,
        rate: float = PUSH_PULL_RATE,
        burst: float = PUSH_PULL_BURST,
        capacity: int = CONNECTIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self.refused = 0
        self._clock = clock
        self._buckets: Lru[str, list[float]] = Lru(capacity)  # peer -> [tokens, when]
        self._lock = threading.Lock()

    def allow(self, peer: str) -> bool:
        """One call from ``peer`` (gRPC's ``context.peer()``): True when within its rate."""
        if not self.admits(peer):
            return False
        self.charge(peer)
        return True

    def admits(self, peer: str) -> bool:
        """Whether ``peer`` has a token left (none taken); False is counted in ``refused``."""
        with self._lock:
            tokens = self._tokens(peer, self._clock())
            if tokens < 1.0:
                self.refused += 1
                return False
            return True

    def charge(self, peer: str) -> None:
        """Take one token from ``peer``'s bucket (it may go below one: turned away next)."""
        with self._lock:
            now = self._clock()
            self._buckets[peer] = [max(self._tokens(peer, now) - 1.0, 0.0), now]

    def _tokens(self, peer: str, now: float) -> float:
        bucket = self._buckets.get(peer)
        if bucket is None:
            return self.burst
        return min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
