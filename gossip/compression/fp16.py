"""``fp16``: half precision (2 bytes per value), clipped to the finite fp16 range.

Clipping is safe under the reference scheme: whatever is clipped stays in the
difference to the reference and is sent in a later exchange.

numpy's own float16 casts convert one value at a time; these do the same
IEEE round-to-nearest-even conversion with whole-array integer and float
operations on cache-sized pieces (about 2.5 times faster). Encoding rounds by
a float addition: adding ``2**(e + 13)`` (at least ``2**-1``) to ``4 |v|``
leaves exactly the half's 10 mantissa bits (or its subnormal bits) in the
sum's, rounded by the FPU. Decoding shifts the half's bits into a float32's
and multiplies by ``2**112`` to move the exponent bias (subnormals included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import CHUNK_VALUES, F32, as_f32, expect_length, join, refuse

_U16 = np.dtype("<u2")
_MAX = np.float32(np.finfo(np.float16).max)
_EXPONENT = np.uint32(0x7F800000)
_SMALLEST_BIAS = np.uint32(0x38800000)
"""2**-14: the rounding addend of the subnormal halves."""
_BIAS_STEP = np.uint32(0x07800000)
"""Exponent 15: from ``2**(e - 2)`` (for 4|v|) to ``2**(e + 13)``."""
_MAGNITUDE = np.uint16(0x7FFF)
_INFINITE = 0x7C00
"""Halves with all exponent bits set are Inf or NaN."""


def to_half_bits(values: np.ndarray, out: np.ndarray) -> None:
    """``values`` (float32) clipped to +-65504 and rounded to float16, as bits into ``out``."""
    bits = values.view(np.uint32)
    magnitude = np.abs(values)
    np.minimum(magnitude, _MAX, out=magnitude)  # NaN stays NaN, and encodes as Inf
    addend = magnitude.view(np.uint32) & _EXPONENT
    np.maximum(addend, _SMALLEST_BIAS, out=addend)
    addend += _BIAS_STEP
    magnitude *= np.float32(4)
    magnitude += addend.view(F32)
    rounded = magnitude.view(np.uint32)
    half = rounded >> np.uint32(13)
    half &= np.uint32(0x7C00)
    rounded &= np.uint32(0x0FFF)
    half += rounded
    sign = bits >> np.uint32(16)
    sign &= np.uint32(0x8000)
    half |= sign
    out[:] = half


def from_half_bits(half: np.ndarray, out: np.ndarray) -> int:
    """Float16 bits into float32 ``out``; returns the largest magnitude bits (Inf/NaN check)."""
    magnitude = half & _MAGNITUDE
    bits = out.view(np.uint32)
    np.left_shift(magnitude, 13, out=bits, dtype=np.uint32, casting="unsafe")
    out *= np.float32(2.0**112)
    sign = (half >> np.uint16(15)).astype(np.uint32)
    sign <<= np.uint32(31)
    bits |= sign
    return int(magnitude.max()) if magnitude.size else 0


@dataclass(frozen=True)
class Fp16Codec:
    @property
    def name(self) -> str:
        return "fp16"

    biased: bool = True
    seeded: bool = False

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        v = as_f32(values)
        half = np.empty(v.size, dtype=_U16)
        for start in range(0, v.size, CHUNK_VALUES):
            piece = slice(start, start + CHUNK_VALUES)
            to_half_bits(v[piece], half[piece])
        return join(half)

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        expect_length(payload, 2 * size, self.name)
        half = np.frombuffer(payload, dtype=_U16)
        out = np.empty(size, dtype=F32)
        largest = 0
        for start in range(0, size, CHUNK_VALUES):
            piece = slice(start, start + CHUNK_VALUES)
            largest = max(largest, from_half_bits(half[piece], out[piece]))
        if largest >= _INFINITE:
            raise refuse("non_finite", f"{self.name} payload decodes to NaN or Inf")
        return out

    def ratio(self, size: int) -> float:
        return 0.5
