"""``fp16``: half precision (2 bytes per value), clipped to the finite fp16 range.

Clipping is safe under the reference scheme: whatever is clipped stays in the
difference to the reference and is sent in a later exchange.

numpy's own float16 casts convert one value at a time; the kernel
(:func:`gossip.compression.kernels.fp16_encode`) does the same IEEE
round-to-nearest-even conversion with integer and float operations that
vectorize. Encoding rounds by a float addition: ``|v| + 2**(e + 13)`` (``e``
the exponent of ``|v|``, at least -14) keeps exactly the half's mantissa (or
its subnormal bits) in the sum's low 12 bits, rounded by the FPU, and the
half's exponent in the sum's. Decoding shifts the half's bits (sign-extended)
into a float32's and multiplies by ``2**112`` to move the exponent bias
(subnormals included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression.base import F32, as_f32, expect_length, frozen, refuse

_U16 = np.dtype("<u2")


@dataclass(frozen=True)
class Fp16Codec:
    @property
    def name(self) -> str:
        return "fp16"

    biased: bool = True
    seeded: bool = False

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        from gossip.compression import kernels

        v = as_f32(values)
        half = np.empty(v.size, dtype=_U16)
        kernels.fp16_encode(v, half)  # NaN is sent as NaN, which the decoder refuses
        return frozen(half)

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        return self.decode_into(payload, size, seed, np.empty(size, dtype=F32))

    def decode_into(self, payload: bytes, size: int, seed: int, out: np.ndarray) -> np.ndarray:
        from gossip.compression import kernels

        expect_length(payload, 2 * size, self.name)
        if not kernels.fp16_decode(np.frombuffer(payload, dtype=_U16), out):
            raise refuse("non_finite", f"{self.name} payload decodes to NaN or Inf")
        return out

    def ratio(self, size: int) -> float:
        return 0.5
