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

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, cast

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


class DecodesInto(Protocol):
    """A codec that can decode into a vector the caller owns (int8, sign, fp16)."""

    def decode_into(self, payload: bytes, size: int, seed: int, out: np.ndarray) -> np.ndarray:
        """``decode`` written into ``out`` (``size`` float32 values, contiguous); returns it."""


def decode_into(codec: Codec, payload: bytes, size: int, seed: int, out: np.ndarray) -> np.ndarray:
    """``codec.decode`` into ``out`` when the codec can, else a vector of its own.

    The caller tells the two apart by identity (``result is out``). Writing into a
    vector that is already mapped spares the page faults of a fresh one: 40 MB at
    10M parameters, which cost more system time than the decoding itself on a
    busy machine (``bench/large.py``, docs/architecture.md).
    """
    if not hasattr(codec, "decode_into"):
        return codec.decode(payload, size, seed)
    return cast(DecodesInto, codec).decode_into(payload, size, seed, out)


def warm_up(codec: Codec) -> None:
    """Encode and decode a small vector once, so that the codec's compiled loops are loaded
    (or, with a cold cache, compiled: seconds) now rather than in the middle of the first
    exchange, where they would hold the GIL while training, heartbeats and checkpoints wait."""
    values = np.linspace(-1, 1, 1000, dtype=F32)
    codec.decode(codec.encode(values, 1), values.size, 1)


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


def rows_of(values: np.ndarray, bucket: int) -> Iterator[tuple[slice, np.ndarray]]:
    """``values`` as (rows, ``bucket``) arrays with their rows, what the kernels loop over.

    The full buckets as one view, then the last bucket when it is short, as a
    zero-padded copy, read-only when ``values`` are (a kernel compiles once per
    argument type, and read-only is one).
    """
    full = values.size // bucket
    if full:
        yield slice(0, full), values[: full * bucket].reshape(full, bucket)
    if full * bucket < values.size:
        tail = np.zeros((1, bucket), dtype=values.dtype)
        tail[0, : values.size - full * bucket] = values[full * bucket :]
        tail.flags.writeable = values.flags.writeable
        yield slice(full, full + 1), tail


RowKernel = Callable[[slice, np.ndarray, np.ndarray], None]
"""``kernel(rows, piece, target)``: decode the payload rows ``piece`` (buckets ``rows``) into
``target``, a (rows, bucket) float32 array."""


def decode_rows(
    pieces: Iterable[tuple[slice, np.ndarray]], out: np.ndarray, bucket: int, kernel: RowKernel
) -> np.ndarray:
    """Run ``kernel`` over ``pieces`` (:func:`rows_of` a payload) into ``out`` (its ``size``
    values): in place where whole buckets fit, through a scratch row for a short last one."""
    for rows, piece in pieces:
        start = rows.start * bucket
        fit = min(rows.stop, rows.start + (out.size - start) // bucket)
        whole = fit - rows.start
        if whole:
            target = out[start : start + whole * bucket].reshape(whole, bucket)
            kernel(slice(rows.start, fit), piece[:whole], target)
        if fit < rows.stop:  # the short last bucket
            scratch = np.empty((rows.stop - fit, bucket), dtype=out.dtype)
            kernel(slice(fit, rows.stop), piece[whole:], scratch)
            out[fit * bucket :] = scratch.reshape(-1)[: out.size - fit * bucket]
    return out


def frozen(buffer: np.ndarray) -> bytes:
    """A payload built in place in ``buffer``, without copying it into a ``bytes``: a
    read-only view, typed ``bytes`` as ``Snapshot.payload`` is (see ``wire``, which sends
    such views as it sends a float32 snapshot's)."""
    return cast(bytes, memoryview(buffer).cast("B").toreadonly())  # type: ignore[arg-type]


def join(*parts: np.ndarray) -> bytes:
    """The payload: the contiguous arrays' bytes one after the other, copied once."""
    return b"".join(part.data for part in parts)


def finite(values: np.ndarray, codec: str) -> np.ndarray:
    if not np.isfinite(values).all():
        raise refuse("non_finite", f"{codec} payload decodes to NaN or Inf")
    return values


def read_scales(payload: bytes, count: int, codec: str) -> np.ndarray:
    """The ``count`` float32 scales a payload starts with; refused unless finite and >= 0."""
    scales = finite(np.frombuffer(payload, dtype=F32, count=count), codec)
    if (scales < 0).any():
        raise refuse("malformed", f"{codec} payload has a negative scale")
    return scales
