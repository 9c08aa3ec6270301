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

Biased: what is left out, and the rounding of the kept values, stays in the
difference to the reference and is sent later (error feedback,
:mod:`gossip.averaging.compressed`), which is why rounding the values costs
little accuracy (bench/compression.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gossip.compression import indices, int8, sign
from gossip.compression.base import as_f32, refuse


def kept(fraction: float, size: int) -> int:
    return min(size, max(1, math.ceil(fraction * size))) if size else 0


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
        if k == v.size:
            idx = np.arange(v.size)
        else:
            idx = np.sort(np.argpartition(np.abs(v), v.size - k)[v.size - k :])
        if self.signs:
            return _SIGNS.encode(v[idx], seed) + indices.encode(idx, v.size, rice=True)
        head = np.array([k], dtype="<u4").tobytes()
        return head + _VALUES.encode(v[idx], seed) + indices.encode(idx, v.size)

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
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
        out[idx] = values
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
