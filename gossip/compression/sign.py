"""``sign``: one bit per value plus a float32 scale (mean absolute value) per bucket of 256.

``decode = scale * sign(v)``: about 28 times smaller than float32, biased
(it keeps the direction, not the magnitudes), which the reference scheme's
error feedback makes up for over later exchanges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import F32, as_f32, buckets, expect_length, finite, padded, refuse

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
        scale = np.abs(padded(v, BUCKET)).sum(axis=1, dtype=np.float64)
        counts = np.full(scale.size, BUCKET, dtype=np.float64)
        if scale.size:  # an empty vector (top-k of nothing) has no bucket
            counts[-1] = v.size - BUCKET * (scale.size - 1)
        return bytes((scale / counts).astype(F32).tobytes() + np.packbits(v >= 0).tobytes())

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        count = buckets(size, BUCKET)
        expect_length(payload, payload_bytes(size), self.name)
        scale = finite(np.frombuffer(payload, dtype=F32, count=count), self.name)
        if (scale < 0).any():
            raise refuse("malformed", "sign payload has a negative scale")
        bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8, offset=4 * count), count=size)
        out = bits.astype(np.float32) * np.float32(2) - np.float32(1)
        out *= np.repeat(scale, BUCKET)[:size]
        return out

    def ratio(self, size: int) -> float:
        return payload_bytes(size) / (4 * max(size, 1))
