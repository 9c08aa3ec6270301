"""``topk:FRACTION``: the largest ``ceil(FRACTION * size)`` values by magnitude.

Payload: ``k`` (uint32), the ``k`` kept values coded by the ``int8`` codec
(one byte each plus a float32 scale per 256), then their indices coded
compactly (:mod:`gossip.compression.indices`: gaps as varints, or a bitmap,
whichever is smaller). Top-1% thus costs about 2 bytes per kept value, 190
times less than float32; float32 values would give 80 times, and plain int32
indices on top only 50. Biased: what is left out, and the rounding of the
kept values, stays in the difference to the reference and is sent later
(error feedback, :mod:`gossip.averaging.compressed`), which is why rounding
the values costs no accuracy (bench/compression.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gossip.compression import indices
from gossip.compression.base import as_f32, buckets, refuse
from gossip.compression.int8 import BUCKET, Int8Codec


def kept(fraction: float, size: int) -> int:
    return min(size, max(1, math.ceil(fraction * size))) if size else 0


@dataclass(frozen=True)
class TopkCodec:
    fraction: float = 0.01

    @property
    def name(self) -> str:
        return f"topk:{self.fraction:g}"

    biased: bool = True
    seeded: bool = False

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        v = as_f32(values)
        k = kept(self.fraction, v.size)
        if k == v.size:
            idx = np.arange(v.size)
        else:
            idx = np.sort(np.argpartition(np.abs(v), v.size - k)[v.size - k :])
        head = np.array([k], dtype="<u4").tobytes()
        return head + _VALUES.encode(v[idx], seed) + indices.encode(idx, v.size)

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        if len(payload) < 4:
            raise refuse("truncated", "topk payload shorter than its count")
        k = int(np.frombuffer(payload, dtype="<u4", count=1)[0])
        if k > size:
            raise refuse("size_mismatch", f"topk payload keeps {k} of {size} values")
        end = 4 + _values_bytes(k)
        if len(payload) < end + 1:
            raise refuse("truncated", f"topk payload too short for {k} values")
        values = _VALUES.decode(payload[4:end], k, seed)
        idx = indices.decode(memoryview(payload)[end:], k, size)
        out = np.zeros(size, dtype=np.float32)
        out[idx] = values
        return out

    def ratio(self, size: int) -> float:
        k = kept(self.fraction, size)
        gap_bytes = 1 if k and size / k < 128 else 2
        return (5 + _values_bytes(k) + min(k * gap_bytes, -(-size // 8))) / (4 * max(size, 1))


_VALUES = Int8Codec()


def _values_bytes(k: int) -> int:
    """Payload bytes of ``k`` values under the int8 codec."""
    return 4 * buckets(k, BUCKET) + k
