"""``sign``: one bit per value plus a float32 scale (mean absolute value) per bucket of 256.

``decode = scale * sign(v)``: about 28 times smaller than float32, biased
(it keeps the direction, not the magnitudes), which the reference scheme's
error feedback makes up for over later exchanges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import F32, as_f32, buckets, chunks, expect_length, join, read_scales

BUCKET = 256


def payload_bytes(size: int) -> int:
    """Bytes of ``size`` values: a float32 scale per bucket, then a bit each."""
    return 4 * buckets(size, BUCKET) + -(-size // 8)


@dataclass(frozen=True)
class SignCodec:
    @property
    def name(self) -> str:
        return "sign"

    biased: bool = True
    seeded: bool = False

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        v = as_f32(values)
        scale = np.empty(buckets(v.size, BUCKET), dtype=F32)
        for rows, piece in chunks(v, BUCKET):
            np.sum(np.abs(piece), axis=1, out=scale[rows])
        counts = np.full(scale.size, BUCKET, dtype=F32)
        if scale.size:  # an empty vector (top-k of nothing) has no bucket
            counts[-1] = v.size - BUCKET * (scale.size - 1)
        scale /= counts
        return join(scale, np.packbits(v >= 0))

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        count = buckets(size, BUCKET)
        expect_length(payload, payload_bytes(size), self.name)
        scale = read_scales(payload, count, self.name)
        body = np.frombuffer(payload, dtype=np.uint8, offset=4 * count)
        out = np.empty((count, BUCKET), dtype=F32)
        out_bits, scale_bits = out.view(np.uint32), scale.view(np.uint32)
        for rows, packed in chunks(body, BUCKET // 8):  # the scale, negative where the bit is 0
            negative = np.unpackbits(~packed.reshape(-1)).reshape(-1, BUCKET)
            np.left_shift(negative, 31, out=out_bits[rows], dtype=np.uint32, casting="unsafe")
            out_bits[rows] |= scale_bits[rows, None]  # scales are >= 0: their sign bit is free
        return out.reshape(-1)[:size]

    def ratio(self, size: int) -> float:
        return payload_bytes(size) / (4 * max(size, 1))
