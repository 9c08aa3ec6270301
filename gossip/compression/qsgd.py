"""``qsgd:LEVELS``: stochastic, unbiased quantisation (Alistarh et al., QSGD).

Per bucket of 128 values: the L2 norm (float32), then each value as a signed
level ``l`` in ``[-s, s]`` with ``|v| / norm * s`` rounded up or down at
random so that ``E[decode] = v`` (the rounding draws 16 random bits per
value: unbiased to within 2**-16 of a level; the bits are a hash of the
value's position and the seed, computed inside the compiled loop). Levels are packed two per byte
when ``2s + 1 <= 16`` (s <= 7), else one signed byte each (s <= 127).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import (
    F32,
    as_f32,
    buckets,
    expect_length,
    join,
    read_scales,
    refuse,
    rows_of,
)

BUCKET = 128
MAX_LEVELS = 127


@dataclass(frozen=True)
class QsgdCodec:
    levels: int = 7

    @property
    def name(self) -> str:
        return f"qsgd:{self.levels}"

    biased: bool = False
    seeded: bool = True

    @property
    def _nibbles(self) -> bool:
        return 2 * self.levels + 1 <= 16

    def _level_bytes(self, size: int) -> int:
        return -(-size // 2) if self._nibbles else size

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        from gossip.compression import kernels

        v = as_f32(values)
        count = buckets(v.size, BUCKET)
        norm = np.empty(count, dtype=F32)
        body = np.empty((count, BUCKET // 2 if self._nibbles else BUCKET), dtype=np.uint8)
        key = np.random.SeedSequence(seed).generate_state(1)[0]  # any seed, 32 mixed bits
        for rows, piece in rows_of(v, BUCKET):
            kernels.qsgd_encode(piece, rows.start, self.levels, key, norm[rows], body[rows])
        return join(norm, body.reshape(-1)[: self._level_bytes(v.size)])

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        from gossip.compression import kernels

        count = buckets(size, BUCKET)
        expect_length(payload, 4 * count + self._level_bytes(size), self.name)
        norm = read_scales(payload, count, self.name)
        body = np.frombuffer(payload, dtype=np.uint8, offset=4 * count)
        step = norm / np.float32(self.levels)
        out = np.empty((count, BUCKET), dtype=F32)
        largest = 0
        if self._nibbles:  # a byte: two levels plus s, 4 bits each
            for rows, piece in rows_of(body, BUCKET // 2):
                offset = kernels.qsgd_decode_nibbles(step[rows], piece, self.levels, out[rows])
                largest = max(largest, offset - self.levels)
        else:
            for rows, piece in rows_of(body.view(np.int8), BUCKET):
                largest = max(largest, kernels.qsgd_decode_bytes(step[rows], piece, out[rows]))
        if largest > self.levels:
            raise refuse("index_out_of_range", f"qsgd level beyond {self.levels}")
        return out.reshape(-1)[:size]

    def ratio(self, size: int) -> float:
        return (4 * buckets(size, BUCKET) + self._level_bytes(size)) / (4 * max(size, 1))
