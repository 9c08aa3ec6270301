"""``fp16``: half precision (2 bytes per value), clipped to the finite fp16 range.

Clipping is safe under the reference scheme: whatever is clipped stays in the
difference to the reference and is sent in a later exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import as_f32, expect_length, finite

_F16 = np.dtype("<f2")
_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class Fp16Codec:
    @property
    def name(self) -> str:
        return "fp16"

    biased: bool = True
    seeded: bool = False

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        return bytes(np.clip(as_f32(values), -_MAX, _MAX).astype(_F16).tobytes())

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        expect_length(payload, 2 * size, self.name)
        return finite(np.frombuffer(payload, dtype=_F16).astype(np.float32), self.name)

    def ratio(self, size: int) -> float:
        return 0.5
