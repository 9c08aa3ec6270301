"""``none``: raw little-endian float32 (lossless, 4 bytes per value)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import F32, as_f32, expect_length


@dataclass(frozen=True)
class NoCodec:
    @property
    def name(self) -> str:
        return "none"

    biased: bool = False
    seeded: bool = False

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        return as_f32(values).tobytes()

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        expect_length(payload, 4 * size, self.name)
        return np.frombuffer(payload, dtype=F32)

    def ratio(self, size: int) -> float:
        return 1.0
