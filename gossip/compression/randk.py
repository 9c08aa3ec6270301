"""``randk:FRACTION``: ``ceil(FRACTION * size)`` values at random positions.

The positions come from the exchange's seed (in the header), so only the
values travel: 4 bytes per kept value. Not rescaled (biased, contractive), as
the reference scheme wants; the positions left out are sent in later exchanges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import F32, as_f32, expect_length, finite
from gossip.compression.topk import kept


def positions(seed: int, size: int, k: int) -> np.ndarray:
    """The sorted positions both sides derive from ``seed`` (O(k) for small k)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(size, size=k, replace=False))


@dataclass(frozen=True)
class RandkCodec:
    fraction: float = 0.01

    @property
    def name(self) -> str:
        return f"randk:{self.fraction:g}"

    biased: bool = True
    seeded: bool = True

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        v = as_f32(values)
        return bytes(v[positions(seed, v.size, kept(self.fraction, v.size))].tobytes())

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        k = kept(self.fraction, size)
        expect_length(payload, 4 * k, self.name)
        out = np.zeros(size, dtype=np.float32)
        out[positions(seed, size, k)] = finite(np.frombuffer(payload, dtype=F32), self.name)
        return out

    def ratio(self, size: int) -> float:
        return kept(self.fraction, size) / max(size, 1)
