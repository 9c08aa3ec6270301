"""``sign``: one bit per value plus a float32 scale (mean absolute value) per bucket of 256.

``decode = scale * sign(v)``: about 28 times smaller than float32, biased
(it keeps the direction, not the magnitudes), which the reference scheme's
error feedback makes up for over later exchanges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression import base
from gossip.compression.base import F32, as_f32, buckets, expect_length, join, read_scales, rows_of

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
        from gossip.compression import kernels

        v = as_f32(values)
        count = buckets(v.size, BUCKET)
        scale = np.empty(count, dtype=F32)
        bits = np.empty((count, BUCKET // 8), dtype=np.uint8)
        for rows, piece in rows_of(v, BUCKET):
            kernels.sign_encode(piece, scale[rows], bits[rows])
        counts = np.full(count, BUCKET, dtype=F32)
        if count:  # an empty vector (top-k of nothing) has no bucket
            counts[-1] = v.size - BUCKET * (count - 1)
        scale /= counts
        packed = bits.reshape(-1)[: -(-v.size // 8)]
        if v.size % 8:  # the short bucket's zero padding is not sent: clear its bits
            packed[-1] &= np.uint8(0xFF00 >> (v.size % 8) & 0xFF)
        return join(scale, packed)

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        return self.decode_into(payload, size, seed, np.empty(size, dtype=F32))

    def decode_into(self, payload: bytes, size: int, seed: int, out: np.ndarray) -> np.ndarray:
        from gossip.compression import kernels

        count = buckets(size, BUCKET)
        expect_length(payload, payload_bytes(size), self.name)
        scale = read_scales(payload, count, self.name)
        body = np.frombuffer(payload, dtype=np.uint8, offset=4 * count)

        def signs(rows: slice, packed: np.ndarray, target: np.ndarray) -> None:
            kernels.sign_decode(scale[rows], packed, target)  # the scale, negated where a bit is 0

        return base.decode_rows(rows_of(body, BUCKET // 8), out, BUCKET, signs)

    def ratio(self, size: int) -> float:
        return payload_bytes(size) / (4 * max(size, 1))
