"""``topk:FRACTION[:sign]``: the largest ``ceil(FRACTION * size)`` values by magnitude.

``topk:F`` payload: ``k`` (uint32), the ``k`` kept values coded by the ``int8``
codec (one byte each plus a float32 scale per 256), then their indices coded
compactly (:mod:`gossip.compression.indices`: gaps as varints, or a bitmap,
whichever is smaller). Top-1% thus costs about 2 bytes per kept value, 190
times less than float32; float32 values would give 80 times, and plain int32
indices on top only 50.

``topk:F:sign`` keeps only the signs of the kept values, with one float32 scale
(their mean magnitude) per 256 of them, and Rice-codes the indices; ``k`` is
not sent (both sides derive it from F and the size). About 1 + 8 bits per
kept value at 1% density, 1 + 5 at 10%, so it keeps about twice as many
values as ``topk:F`` for the same bytes.

Finding the ``k`` largest does not sort or partition the whole vector: a
threshold a little below the ``k``-th largest magnitude is estimated from a
fixed sample of 65536 magnitudes, one compiled pass collects the candidates
above it (a few percent more than ``k``), and two histograms of the
candidates' bits find the exact ``k``-th (ties: the lowest positions). If the
estimate keeps fewer than ``k``, which happens about once in 30000
exchanges, every value is a candidate.

Biased: what is left out, and the rounding of the kept values, stays in the
difference to the reference and is sent later (error feedback,
:mod:`gossip.averaging.compressed`), which is why rounding the values costs
little accuracy (bench/compression.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gossip.compression import indices, int8, sign
from gossip.compression.base import as_f32, refuse

SAMPLE = 1 << 16
"""Magnitudes sampled to estimate the threshold (65536: about 1.5% error at 3% kept)."""
_MARGIN = 4.0
"""Standard deviations of the estimate the threshold is set below the ``k``-th largest."""


def kept(fraction: float, size: int) -> int:
    return min(size, max(1, math.ceil(fraction * size))) if size else 0


@lru_cache(maxsize=8)
def sample_positions(size: int) -> np.ndarray:
    """SAMPLE positions, one at random in each of SAMPLE equal strata (fixed: topk is unseeded)."""
    rng = np.random.default_rng(size)
    starts = np.arange(SAMPLE) * size // SAMPLE
    out = starts + (rng.random(SAMPLE) * (np.diff(starts, append=size))).astype(np.int64)
    out.flags.writeable = False
    return out


def largest(values: np.ndarray, k: int) -> np.ndarray:
    """Sorted positions of the ``k`` largest magnitudes (ties: the lowest positions)."""
    return select(values, k)[0]


def select(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`largest`, and the values there."""
    from gossip.compression import kernels

    size = values.size
    if k >= size:
        return np.arange(size), values
    threshold = 0.0
    if size >= 4 * SAMPLE:
        share = k / size * SAMPLE  # expected sample values above the k-th largest
        above = min(SAMPLE, math.ceil(share + _MARGIN * math.sqrt(share) + 1))
        sample = np.abs(values[sample_positions(size)])
        threshold = np.partition(sample, SAMPLE - above)[SAMPLE - above]
    # room for every value, pages only where written (the candidates); 4-byte positions
    # when they fit: half the memory written
    positions = np.empty(size, dtype=np.int32 if size < 1 << 31 else np.int64)
    bits = np.empty(size, dtype=np.uint32)
    found = kernels.candidates_above(values, _bits(threshold), positions, bits)
    if found < k:  # the estimate was too high: every value is a candidate
        found = kernels.candidates_above(values, _bits(0.0), positions, bits)
    positions, bits = positions[:found], bits[:found]
    chosen, kept = np.empty(k + 1, dtype=np.int64), np.empty(k + 1, dtype=values.dtype)
    kernels.keep_largest(positions, bits, kernels.kth_largest(bits, k), chosen, kept)
    return chosen[:k], kept[:k]


def _bits(magnitude: float) -> np.uint32:
    """A magnitude's float32 bits, which order as the magnitudes do."""
    return np.float32(magnitude).view(np.uint32)


@dataclass(frozen=True)
class TopkCodec:
    fraction: float = 0.01
    signs: bool = False
    """``topk:F:sign``: the kept values' signs and mean magnitude, Rice-coded indices."""

    @property
    def name(self) -> str:
        return f"topk:{self.fraction:g}" + (":sign" if self.signs else "")

    biased: bool = True
    seeded: bool = False

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        v = as_f32(values)
        k = kept(self.fraction, v.size)
        idx, values_kept = select(v, k)
        if self.signs:
            return _SIGNS.encode(values_kept, seed) + indices.encode(idx, v.size, rice=True)
        head = np.array([k], dtype="<u4").tobytes()
        return head + _VALUES.encode(values_kept, seed) + indices.encode(idx, v.size)

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        from gossip.compression import kernels

        if self.signs:
            k = kept(self.fraction, size)
            end = sign.payload_bytes(k)
            if len(payload) < end + 1:
                raise refuse("truncated", f"{self.name} payload too short for {k} values")
            values = _SIGNS.decode(payload[:end], k, seed)
        else:
            if len(payload) < 4:
                raise refuse("truncated", "topk payload shorter than its count")
            k = int(np.frombuffer(payload, dtype="<u4", count=1)[0])
            if k > size:
                raise refuse("size_mismatch", f"topk payload keeps {k} of {size} values")
            end = 4 + int8.payload_bytes(k)
            if len(payload) < end + 1:
                raise refuse("truncated", f"topk payload too short for {k} values")
            values = _VALUES.decode(payload[4:end], k, seed)
        idx = indices.decode(memoryview(payload)[end:], k, size)
        out = np.zeros(size, dtype=np.float32)
        kernels.scatter(idx, values, out)
        return out

    def ratio(self, size: int) -> float:
        k = kept(self.fraction, size)
        if self.signs:
            index_bits = math.log2(math.e * size / k) + 0.1 if k else 0.0
            rice = 2 + k * index_bits / 8
            return (sign.payload_bytes(k) + min(rice, 1 + -(-size // 8))) / (4 * max(size, 1))
        gap_bytes = 1 if k and size / k < 128 else 2
        return (5 + int8.payload_bytes(k) + min(k * gap_bytes, -(-size // 8))) / (4 * max(size, 1))


_VALUES = int8.Int8Codec()
_SIGNS = sign.SignCodec()
