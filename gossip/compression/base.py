"""The codec protocol every compressor implements, and the checks they share.

A codec turns a float32 vector into bytes and back. It never sees the model
or the network: the averaging rule (:mod:`gossip.averaging.compressed`)
decides *what* is compressed (the difference to a reference known to both
sides) and decodes its own message too, so both sides add the same numbers.

Decoding validates everything that came from a peer and raises
:class:`~gossip.errors.ExchangeRefused` with a reason tag: ``truncated``
(payload too short or too long for its header), ``index_out_of_range``,
``size_mismatch`` (a decoded vector of the wrong length), ``non_finite``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from gossip.errors import ExchangeRefused

F32 = np.dtype("<f4")


class Codec(Protocol):
    """One compressor: ``decode(encode(v, seed), v.size, seed)`` approximates ``v``."""

    @property
    def name(self) -> str:
        """Canonical spec, e.g. ``topk:0.01``; what the header's ``codec`` field carries."""

    @property
    def biased(self) -> bool:
        """True when ``E[decode(encode(v))] != v`` (top-k, rand-k without rescaling, sign, ...)."""

    @property
    def seeded(self) -> bool:
        """True when ``seed`` matters (rand-k positions, qsgd rounding); else the header sends 0."""

    def encode(self, values: np.ndarray, seed: int) -> bytes:
        """Compress a float32 vector; ``seed`` drives any randomness (shared with the decoder)."""

    def decode(self, payload: bytes, size: int, seed: int) -> np.ndarray:
        """A float32 vector of ``size`` values; ExchangeRefused for anything malformed."""

    def ratio(self, size: int) -> float:
        """Estimated payload bytes over raw float32 bytes (``4 * size``) for ``size`` values."""


def refuse(reason: str, detail: str) -> ExchangeRefused:
    return ExchangeRefused(reason, detail)


def expect_length(payload: bytes | memoryview, expected: int, codec: str) -> None:
    if len(payload) != expected:
        raise refuse(
            "truncated" if len(payload) < expected else "size_mismatch",
            f"{codec} payload has {len(payload)} bytes, expected {expected}",
        )


def as_f32(values: np.ndarray) -> np.ndarray:
    """The vector as contiguous little-endian float32 (no copy when it already is)."""
    return np.ascontiguousarray(values, dtype=F32)


def buckets(size: int, bucket: int) -> int:
    """Number of buckets of ``bucket`` values covering ``size`` values (the last may be short)."""
    return -(-size // bucket)


def padded(values: np.ndarray, bucket: int) -> np.ndarray:
    """``values`` reshaped to (buckets, bucket), zero-padded at the end."""
    count = buckets(values.size, bucket)
    if values.size == count * bucket:
        return values.reshape(count, bucket)
    out = np.zeros(count * bucket, dtype=values.dtype)
    out[: values.size] = values
    return out.reshape(count, bucket)


def finite(values: np.ndarray, codec: str) -> np.ndarray:
    if not np.isfinite(values).all():
        raise refuse("non_finite", f"{codec} payload decodes to NaN or Inf")
    return values
