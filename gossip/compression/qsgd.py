"""``qsgd:LEVELS``: stochastic, unbiased quantisation (Alistarh et al., QSGD).

Per bucket of 128 values: the L2 norm (float32), then each value as a signed
level ``l`` in ``[-s, s]`` with ``|v| / norm * s`` rounded up or down at
random so that ``E[decode] = v``. Levels are packed two per byte when
``2s + 1 <= 16`` (s <= 7), else one signed byte each (s <= 127).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import F32, as_f32, buckets, expect_length, finite, padded, refuse

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
        v = padded(as_f32(values), BUCKET)
        norm = np.sqrt(np.square(v, dtype=np.float64).sum(axis=1)).astype(F32)
        safe = np.where(norm > 0, norm, np.float32(1))
        scaled = np.abs(v) / safe[:, None] * np.float32(self.levels)
        low = np.floor(scaled)
        rng = np.random.default_rng(seed)
        level = low + (rng.random(scaled.shape, dtype=np.float32) < scaled - low)
        signed = (np.sign(v) * np.minimum(level, self.levels)).astype(np.int8).reshape(-1)
        signed = signed[: values.size]
        if self._nibbles:
            u = (signed + self.levels).astype(np.uint8)
            if u.size % 2:
                u = np.append(u, np.uint8(self.levels))
            packed = (u[0::2] << 4) | u[1::2]
            return bytes(norm.tobytes() + packed.tobytes())
        return bytes(norm.tobytes() + signed.tobytes())

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        count = buckets(size, BUCKET)
        expect_length(payload, 4 * count + self._level_bytes(size), self.name)
        norm = finite(np.frombuffer(payload, dtype=F32, count=count), self.name)
        if (norm < 0).any():
            raise refuse("malformed", "qsgd payload has a negative norm")
        body = np.frombuffer(payload, dtype=np.uint8, offset=4 * count)
        if self._nibbles:
            u = np.empty(2 * body.size, dtype=np.int16)
            u[0::2] = body >> 4
            u[1::2] = body & 0x0F
            signed = u[:size] - self.levels
        else:
            signed = body.view(np.int8).astype(np.int16)
        if signed.size and int(np.abs(signed).max()) > self.levels:
            raise refuse("index_out_of_range", f"qsgd level beyond {self.levels}")
        out = signed.astype(np.float32)
        out *= np.repeat(norm / np.float32(self.levels), BUCKET)[:size]
        return out

    def ratio(self, size: int) -> float:
        return (4 * buckets(size, BUCKET) + self._level_bytes(size)) / (4 * max(size, 1))
