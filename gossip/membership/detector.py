"""Phi accrual failure detection: small pure functions plus a per-member arrival window.

Phi (Hayashibara et al. 2004, as in Akka and Cassandra) is how surprising the
current silence is, given the inter-arrival times seen so far:
``phi(t) = -log10(P(next arrival later than t))`` under a normal distribution
of inter-arrival times with the window's mean (plus an acceptable pause) and
standard deviation (floored). We use the exact normal tail (``erfc``) rather
than Akka's logistic approximation; the silence at which phi reaches a
threshold is then ``mean + z * std`` with ``z`` computed once per threshold,
which makes "when will this member be suspect?" a single multiply-add.
"""

from __future__ import annotations

import math
from collections import deque
from functools import lru_cache

_SQRT2 = math.sqrt(2.0)


def phi(silence: float, mean: float, std: float) -> float:
    """-log10 of the probability that a heartbeat comes later than ``silence``."""
    tail = 0.5 * math.erfc((silence - mean) / (std * _SQRT2))
    return -math.log10(tail) if tail > 1e-300 else 300.0


@lru_cache(maxsize=32)
def z_for_phi(threshold: float) -> float:
    """The number of standard deviations above the mean at which phi equals ``threshold``."""
    target = 10.0 ** (-threshold)
    low, high = -10.0, 40.0
    for _ in range(200):
        mid = (low + high) / 2
        if 0.5 * math.erfc(mid / _SQRT2) > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def suspicion_timeout(confirmations: int, expected: int, low: float, high: float) -> float:
    """Lifeguard's rule: from ``high`` with no confirmation down to ``low`` at ``expected``.

    ``timeout = max(low, high - (high - low) * log(c + 1) / log(k + 1))``.
    """
    if expected <= 0 or confirmations >= expected:
        return low
    frac = math.log(confirmations + 1) / math.log(expected + 1)
    return max(low, high - (high - low) * frac)


class ArrivalWindow:
    """The last ``size`` inter-arrival samples of one member, with O(1) mean and std."""

    __slots__ = ("_samples", "_sum", "_sumsq")

    def __init__(self, size: int, first: float) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._sum = 0.0
        self._sumsq = 0.0
        # bootstrap as Akka does: one expected interval, so phi is defined from the start
        self.add(first)

    def add(self, sample: float) -> None:
        if len(self._samples) == self._samples.maxlen:
            old = self._samples[0]
            self._sum -= old
            self._sumsq -= old * old
        self._samples.append(sample)
        self._sum += sample
        self._sumsq += sample * sample

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def mean(self) -> float:
        return self._sum / len(self._samples)

    @property
    def std(self) -> float:
        n = len(self._samples)
        if n < 2:
            return 0.0
        var = (self._sumsq - self._sum * self._sum / n) / (n - 1)
        return math.sqrt(var) if var > 0 else 0.0
