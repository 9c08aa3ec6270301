"""``qsgd:LEVELS``: stochastic, unbiased quantisation (Alistarh et al., QSGD).

Per bucket of 128 values: the L2 norm (float32), then each value as a signed
level ``l`` in ``[-s, s]`` with ``|v| / norm * s`` rounded up or down at
random so that ``E[decode] = v`` (the rounding draws 16 random bits per
value: unbiased to within 2**-16 of a level). Levels are packed two per byte
when ``2s + 1 <= 16`` (s <= 7), else one signed byte each (s <= 127).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import (
    CHUNK_VALUES,
    F32,
    as_f32,
    buckets,
    chunks,
    expect_length,
    join,
    read_scales,
    refuse,
)

BUCKET = 128
MAX_LEVELS = 127
_UNIT = np.float32(2.0**-16)
"""One step of the 16-bit uniform draws."""


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
        v = as_f32(values)
        count = buckets(v.size, BUCKET)
        norm = np.empty(count, dtype=F32)
        body = np.empty((count, BUCKET // 2 if self._nibbles else BUCKET), dtype=np.uint8)
        bits = np.random.SFC64(seed)  # a third faster than the default PCG64 here
        s = np.float32(self.levels)
        for rows, piece in chunks(v, BUCKET):
            np.sqrt(np.einsum("ij,ij->i", piece, piece), out=norm[rows])
            factor = np.divide(s, norm[rows], out=np.zeros_like(norm[rows]), where=norm[rows] > 0)
            # floor(x + u) with u uniform in [0, 1) is x on average, whatever x's sign;
            # s + v / norm * s lies in [0, 2s], so the cast's truncation is that floor
            level = piece * factor[:, None]
            level += s
            draws = bits.random_raw(-(-piece.size // 4)).view(np.uint16)[: piece.size]
            level += draws.reshape(piece.shape) * _UNIT
            np.clip(level, 0, 2 * s, out=level)
            offset = level.astype(np.uint8)  # level + s: 0 .. 2s
            if self._nibbles:  # a pair (a, b) read as the number a + 256 b: low byte 16 a + b
                pair = offset.view("<u2")
                second = pair >> np.uint16(8)
                pair <<= np.uint16(4)
                pair |= second
                body[rows] = pair
            else:  # the signed level's byte
                np.subtract(offset, np.uint8(self.levels), out=body[rows])
        return join(norm, body.reshape(-1)[: self._level_bytes(v.size)])

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        count = buckets(size, BUCKET)
        expect_length(payload, 4 * count + self._level_bytes(size), self.name)
        norm = read_scales(payload, count, self.name)
        body = np.frombuffer(payload, dtype=np.uint8, offset=4 * count)
        step = norm / np.float32(self.levels)
        out = np.empty((count, BUCKET), dtype=F32)
        if self._nibbles:
            beyond = body.size and max(int((body >> 4).max()), int((body & 0x0F).max()))
            if beyond > 2 * self.levels:
                raise refuse("index_out_of_range", f"qsgd level beyond {self.levels}")
            scratch = np.empty((min(count, CHUNK_VALUES // (BUCKET // 2)), BUCKET), dtype=np.int8)
            for rows, piece in chunks(body, BUCKET // 2):  # a byte: two levels plus s, 4 bits each
                level = scratch[: piece.shape[0]]
                np.right_shift(piece, 4, out=level[:, 0::2], casting="unsafe")
                np.bitwise_and(piece, 0x0F, out=level[:, 1::2], casting="unsafe")
                level -= np.int8(self.levels)
                np.multiply(level, step[rows, None], out=out[rows])
            return out.reshape(-1)[:size]
        signed = body.view(np.int8)
        if signed.size and max(int(signed.max()), -int(signed.min())) > self.levels:
            raise refuse("index_out_of_range", f"qsgd level beyond {self.levels}")
        for rows, piece in chunks(signed, BUCKET):
            np.multiply(piece, step[rows, None], out=out[rows])
        return out.reshape(-1)[:size]

    def ratio(self, size: int) -> float:
        return (4 * buckets(size, BUCKET) + self._level_bytes(size)) / (4 * max(size, 1))
