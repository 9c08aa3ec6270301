"""A Transport decorator that watches the exchanges this node starts, for metrics and plots.

:class:`MeteredTransport` wraps any :class:`~gossip.transport.base.Transport`
and passes every call through unchanged; around ``exchange()`` it records

* the call's duration and outcome (``ok``, ``failed``, ``refused``) in a
  fixed-bucket histogram;
* per neighbour, when the last successful exchange ended and how many
  training steps the neighbour was ahead of us (its snapshot's ``step`` minus
  ours): the *staleness* of what we know of it;
* an estimate of the consensus distance from the two snapshots of each
  successful exchange (below).

Only exchanges this node *initiates* are seen (the responder side runs inside
the server); every peer initiates its own every ``--gossip-interval``, so each
peer's view is a fair sample. The bookkeeping costs one dictionary update and,
for the distance, one pass over the two decoded snapshots per exchange, after
the exchange has completed: nothing on the training path.

Consensus distance estimator. The squared consensus distance of n peers is
``Xi^2 = 1/n * sum_i ||x_i - mean||^2``. For two peers i, j drawn at random,
``E ||x_i - x_j||^2 = 2 * n/(n-1) * Xi^2``, so ``0.5 * ||s_i - s_j||^2`` of the two
snapshots of an exchange is an unbiased estimate of ``Xi^2 * n/(n-1)`` (it
overstates Xi^2 by n/(n-1): 14% for 8 peers, nothing for large n). Each
exchange gives one sample; :attr:`ExchangeStats.consensus_distance` is their
exponential moving average (weight :data:`EMA_WEIGHT` on the newest). It needs
both snapshots decoded: the default ``distance`` reads full raw float32
snapshots and gives no sample for anything else. Compressed snapshots are
differences against per-neighbour references that only the averaging code
holds, so a node passes the mixer's own sample instead
(:meth:`gossip.averaging.compressed.Mixer.take_distance`: the two decoded
estimates, which every codec has).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gossip.averaging.pairwise import RAW_CODEC, Snapshot, half_squared_distance
from gossip.clock import Clock
from gossip.errors import ExchangeRefused
from gossip.membership.types import Digest
from gossip.status import Status
from gossip.transport.base import Completion, Handler, Traffic, Transport
from gossip.transport.fetch import Fetched, FetchRequest

LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""Upper bounds (seconds) of the exchange latency histogram; +Inf is implicit."""

EMA_WEIGHT = 0.2
"""Weight of the newest sample in the consensus distance estimate (about the last 5 exchanges)."""

RESULTS = ("ok", "failed", "refused")

Distance = Callable[[Snapshot, Snapshot], "float | None"]
"""One exchange's sample of the consensus distance from (our offer, the reply); None: none."""


def raw_distance(offer: Snapshot, reply: Snapshot) -> float | None:
    """The sample from two full raw float32 snapshots; None for other codecs."""
    own, peer = _raw(offer), _raw(reply)
    if own is None or peer is None or own.shape != peer.shape:
        return None
    return half_squared_distance(own, peer)


def _raw(snapshot: Snapshot) -> np.ndarray | None:
    if snapshot.codec != RAW_CODEC or len(snapshot.payload) != 4 * snapshot.num_params:
        return None
    return np.frombuffer(snapshot.payload, dtype="<f4")


class Histogram:
    """Cumulative-bucket histogram in Prometheus' shape; not thread-safe (the caller locks)."""

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = len(self.bounds)
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                index = i
                break
        self.counts[index] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``[(le, count of values <= le), ..., ("+Inf", total)]``."""
        out, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
        return out


@dataclass(frozen=True)
class Neighbour:
    """What the last successful exchange with one peer told us."""

    peer_id: str
    last_ok: float
    """Clock time when it completed."""
    step_lag: int
    """Its step minus ours in the two snapshots (negative: it is behind)."""


class ExchangeStats:
    """Thread-safe record of initiated exchanges: latency, neighbours, consensus distance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latency = {result: Histogram() for result in RESULTS}
        self._neighbours: dict[str, Neighbour] = {}
        self._distance: float | None = None
        self._last_distance: float | None = None
        self._samples = 0

    def record(self, result: str, seconds: float) -> None:
        with self._lock:
            self._latency[result].observe(max(seconds, 0.0))

    def record_ok(self, peer_id: str, now: float, step_lag: int, distance: float | None) -> None:
        with self._lock:
            self._neighbours[peer_id] = Neighbour(peer_id, now, step_lag)
            if distance is not None and math.isfinite(distance):
                self._samples += 1
                self._last_distance = distance
                if self._distance is None:
                    self._distance = distance
                else:
                    self._distance += EMA_WEIGHT * (distance - self._distance)

    @property
    def consensus_distance(self) -> float | None:
        """EMA of ``0.5 * ||s_i - s_j||^2`` over exchanges (see the module docstring); None yet."""
        with self._lock:
            return self._distance

    @property
    def distance_samples(self) -> int:
        with self._lock:
            return self._samples

    def latency(self) -> dict[str, Histogram]:
        """A copy of the histograms by result."""
        with self._lock:
            copies = {}
            for result, hist in self._latency.items():
                copy = Histogram(hist.bounds)
                copy.counts = list(hist.counts)
                copy.sum = hist.sum
                copies[result] = copy
            return copies

    def neighbours(self) -> list[Neighbour]:
        with self._lock:
            return list(self._neighbours.values())


class MeteredTransport:
    """Any Transport, with its initiated exchanges timed and measured into :class:`ExchangeStats`.

    Every call behaves exactly as the wrapped transport's (same results, same
    exceptions); attributes it does not define are read from the wrapped one.
    """

    def __init__(
        self, inner: Transport, clock: Clock, *, distance: Distance = raw_distance
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.distance = distance
        self.stats = ExchangeStats()
        self.traffic: Traffic = inner.traffic

    def __getattr__(self, name: str) -> Any:
        # only called for attributes not found here: the wrapped transport's extras
        if name == "inner":  # not set yet (copy, unpickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def serve(self, listen: str, handler: Handler) -> str:
        return self.inner.serve(listen, handler)

    def exchange(self, address: str, offer: Snapshot, complete: Completion, timeout: float) -> None:
        replies: list[Snapshot] = []

        def completing(reply: Snapshot) -> None:
            complete(reply)  # raises ExchangeRefused on a bad reply: then nothing is recorded
            replies.append(reply)

        began = self.clock.now()
        try:
            self.inner.exchange(address, offer, completing, timeout)
        except ExchangeRefused:
            self.stats.record("refused", self.clock.now() - began)
            raise
        except Exception:
            self.stats.record("failed", self.clock.now() - began)
            raise
        now = self.clock.now()
        self.stats.record("ok", now - began)
        if replies:
            self._measure(offer, replies[0], now)

    def _measure(self, offer: Snapshot, reply: Snapshot, now: float) -> None:
        """After the exchange: never let a measurement problem reach the caller."""
        try:
            distance = self.distance(offer, reply)
        except Exception:  # a measurement that cannot be made: no sample, no harm
            distance = None
        self.stats.record_ok(reply.sender_id, now, reply.step - offer.step, distance)

    def push_pull(self, address: str, digest: Digest, timeout: float) -> Digest:
        return self.inner.push_pull(address, digest, timeout)

    def status(self, address: str, timeout: float) -> Status:
        return self.inner.status(address, timeout)

    def fetch(self, address: str, request: FetchRequest, timeout: float) -> Fetched:
        return self.inner.fetch(address, request, timeout)

    def stop(self, grace: float) -> None:
        self.inner.stop(grace)
