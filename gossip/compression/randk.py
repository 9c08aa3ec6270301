"""``randk:FRACTION``: ``k = ceil(FRACTION * size)`` values at random positions.

The positions come from the exchange's seed (in the header), so only the
values travel: 4 bytes per kept value. Not rescaled (biased, contractive), as
the reference scheme wants; the positions left out are sent in later exchanges.

The positions are a stratified sample: the vector is cut into ``k`` strata of
``size / k`` positions (give or take one) and one position is drawn uniformly
in each. Every position is kept with probability about ``FRACTION``, as with
``k`` draws without replacement, but drawing costs ``O(k)`` random numbers and
no sort, and the kept positions spread evenly over the layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gossip.compression.base import F32, as_f32, expect_length, finite
from gossip.compression.topk import kept


@lru_cache(maxsize=8)
def strata(size: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First position and width of each of ``k`` strata covering ``size`` (cached: read-only)."""
    bounds = (np.arange(k + 1, dtype=np.uint64) * np.uint64(size) + np.uint64(k - 1)) // np.uint64(
        k
    )
    starts, widths = bounds[:-1], np.diff(bounds)
    starts.flags.writeable = widths.flags.writeable = False
    return starts, widths


def positions(seed: int, size: int, k: int) -> np.ndarray:
    """The sorted positions both sides derive from ``seed``: one uniform draw per stratum."""
    from gossip.compression import kernels

    starts, widths = strata(size, k)
    draws = np.random.default_rng(seed).bit_generator.random_raw(-(-k // 2))
    chosen = np.empty(k, dtype=np.int64)
    kernels.stratified(draws.view(np.uint32)[:k], starts, widths, chosen)
    return chosen


@dataclass(frozen=True)
class RandkCodec:
    fraction: float = 0.01

    @property
    def name(self) -> str:
        return f"randk:{self.fraction:g}"

    biased: bool = True
    seeded: bool = True

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        from gossip.compression import kernels

        v = as_f32(values)
        chosen = positions(seed, v.size, kept(self.fraction, v.size))
        out = np.empty(chosen.size, dtype=F32)
        kernels.gather(v, chosen, out)
        return out.tobytes()

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        from gossip.compression import kernels

        k = kept(self.fraction, size)
        expect_length(payload, 4 * k, self.name)
        out = np.zeros(size, dtype=F32)
        values = finite(np.frombuffer(payload, dtype=F32), self.name)
        kernels.scatter(positions(seed, size, k), values, out)
        return out

    def ratio(self, size: int) -> float:
        return kept(self.fraction, size) / max(size, 1)
