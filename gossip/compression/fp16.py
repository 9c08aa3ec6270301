"""``fp16``: half precision (2 bytes per value), clipped to the finite fp16 range.

Clipping is safe under the reference scheme: whatever is clipped stays in the
difference to the reference and is sent in a later exchange.

numpy's own float16 casts convert one value at a time; these do the same
IEEE round-to-nearest-even conversion with whole-array integer and float
operations on cache-sized pieces (two to three times faster). Encoding rounds
by a float addition: ``|v| + 2**(e + 13)`` (``e`` the exponent of ``|v|``, at
least -14) keeps exactly the half's mantissa (or its subnormal bits) in the
sum's low 12 bits, rounded by the FPU, and the half's exponent in the sum's.
Decoding shifts the half's bits (sign-extended) into a float32's and
multiplies by ``2**112`` to move the exponent bias (subnormals included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import CHUNK_VALUES, F32, as_f32, expect_length, join, refuse

_U16 = np.dtype("<u2")
_MAX = np.float32(np.finfo(np.float16).max)
_EXPONENT = np.uint32(0x7F800000)
_SMALLEST_ADDEND = np.uint32(0x3F000000)
"""2**-1, whose last bit is 2**-24: the rounding addend of halves below 2**-14."""
_ADDEND_STEP = np.uint32(0x06800000)
"""13 in the exponent field: from ``2**e`` to ``2**(e + 13)``."""
_OFFSET = np.uint32(126 << 10)
"""The sum's exponent field (shifted) minus the half's, plus the mantissa's leading one."""
_HALF_BITS = np.int32(-0x70002000)
"""0x8FFFE000: sign and the 15 bits a half's magnitude lands on after ``<< 13``."""
_NAN = np.uint16(0x7E00)
_LIMIT = np.float32(65536)
"""Decoded Inf and NaN halves land at or beyond this; finite ones below."""


def to_half_bits(values: np.ndarray, out: np.ndarray) -> None:
    """``values`` (float32) clipped to +-65504 and rounded to float16, as bits into ``out``."""
    magnitude = np.abs(values)
    np.clip(magnitude, 0, _MAX, out=magnitude)  # clip, not minimum: numpy's is 4x faster
    nan = bool(np.isnan(magnitude.max())) if magnitude.size else False
    addend = magnitude.view(np.uint32) & _EXPONENT
    addend += _ADDEND_STEP
    np.clip(addend, _SMALLEST_ADDEND, _EXPONENT + _ADDEND_STEP, out=addend)
    magnitude += addend.view(F32)
    rounded = magnitude.view(np.uint32)
    half = rounded >> np.uint32(13)
    rounded &= np.uint32(0x0FFF)
    half += rounded
    half -= _OFFSET
    sign = values.view(np.uint32) >> np.uint32(16)
    sign &= np.uint32(0x8000)
    half |= sign
    out[:] = half
    if nan:  # sent as NaN, which the decoder refuses
        out[np.isnan(values)] = _NAN


def from_half_bits(half: np.ndarray, out: np.ndarray) -> bool:
    """Float16 bits into float32 ``out``; False if any was Inf or NaN."""
    bits = out.view(np.int32)
    bits[:] = half.view(np.int16)
    bits <<= np.int32(13)
    bits &= _HALF_BITS
    out *= np.float32(2.0**112)
    return not out.size or bool(out.max() < _LIMIT and out.min() > -_LIMIT)


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
        finite = True
        for start in range(0, size, CHUNK_VALUES):
            piece = slice(start, start + CHUNK_VALUES)
            finite &= from_half_bits(half[piece], out[piece])
        if not finite:
            raise refuse("non_finite", f"{self.name} payload decodes to NaN or Inf")
        return out

    def ratio(self, size: int) -> float:
        return 0.5
