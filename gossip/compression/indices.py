"""Compact coding of sorted index sets (for top-k).

Two forms, and the encoder keeps the smaller (one tag byte says which):

* ``varint``: gaps between consecutive indices (minus one), LEB128 varints;
  top-1% of a vector has gaps around 100, so about 1 byte per index instead of 4;
  or, for codecs that ask (``rice=True``), ``rice``: the same gaps Golomb-Rice
  coded, about 8 bits per index at 1% density and 5 at 10%;
* ``bitmap``: one bit per position (``size / 8`` bytes), smaller above ~10% density.

The loops over the indices are compiled (:mod:`gossip.compression.kernels`);
this module checks what came from a peer before a kernel reads it, and turns
what a kernel found wrong into the refusal.
"""

from __future__ import annotations

import numpy as np

from gossip.compression.base import refuse

VARINT = 0
BITMAP = 1
RICE = 2
_MAX_VARINT_BYTES = 5
"""7 bits each: gaps below 2**35, far more than any vector we send."""
_MAX_RICE_BITS = 40


def varint_encode(values: np.ndarray) -> bytes:
    """LEB128 of non-negative integers."""
    from gossip.compression import kernels

    out = np.empty(10 * values.size, dtype=np.uint8)  # 10 bytes hold any uint64
    return out[: kernels.varint_encode(values.astype(np.uint64, copy=False), out)].tobytes()


def varint_decode(data: bytes | memoryview, count: int) -> np.ndarray:
    """Exactly ``count`` varints from ``data`` (all of it, uint64); ExchangeRefused otherwise."""
    from gossip.compression import kernels

    raw = np.frombuffer(data, dtype=np.uint8)
    if count == 0 and raw.size:
        raise refuse("size_mismatch", "index bytes after the last index")
    if count and (raw.size == 0 or raw[-1] & 0x80):
        raise refuse("truncated", "index varints end in the middle of a value")
    ends = int(np.count_nonzero(raw < 0x80))
    if ends != count:
        raise refuse("size_mismatch", f"{ends} indices coded, header says {count}")
    values = np.empty(count, dtype=np.uint64)
    if kernels.varint_decode(raw, _MAX_VARINT_BYTES, values):
        raise refuse("index_out_of_range", "an index varint is longer than 5 bytes")
    return values


def encode(indices: np.ndarray, size: int, *, rice: bool = False) -> bytes:
    """Sorted, distinct indices below ``size`` -> tag byte + the smaller coding.

    ``rice``: the Golomb-Rice coding of the gaps competes too (peers older
    than it refuse it as ``malformed``, so only codecs newer than it ask).
    """
    from gossip.compression import kernels

    idx = indices.astype(np.int64, copy=False)
    gaps = kernels.gaps_of(idx)
    bitmap_bytes = -(-size // 8)
    if rice:
        code = rice_encode(gaps)
        if len(code) <= bitmap_bytes:
            return bytes([RICE]) + code
    else:
        varints = varint_encode(gaps)
        if len(varints) <= bitmap_bytes:
            return bytes([VARINT]) + varints
    mask = np.zeros(1 + bitmap_bytes, dtype=np.uint8)
    mask[0] = BITMAP
    kernels.bitmap_encode(idx, mask[1:])
    return mask.tobytes()


def decode(data: bytes | memoryview, count: int, size: int) -> np.ndarray:
    """``count`` sorted distinct indices below ``size`` (int64); ExchangeRefused when malformed."""
    from gossip.compression import kernels

    if len(data) < 1:
        raise refuse("truncated", "no index coding")
    tag, body = data[0], memoryview(data)[1:]
    if tag == VARINT:
        return _from_gaps(varint_decode(body, count), size)
    if tag == RICE:
        return _from_gaps(rice_decode(body, count), size)
    if tag == BITMAP:
        if len(body) != -(-size // 8):
            raise refuse("truncated", f"bitmap has {len(body)} bytes for {size} positions")
        bits = np.frombuffer(body, dtype=np.uint8)
        if size % 8 and bits[-1] & (0xFF >> (size % 8)):
            raise refuse("index_out_of_range", "bitmap sets a position beyond the vector")
        indices = np.empty(count + 8, dtype=np.int64)  # room for the kernel's last stores
        found = kernels.bitmap_decode(bits, indices)
        if found != count:
            raise refuse("size_mismatch", f"bitmap has {found} indices, header {count}")
        return indices[:count]
    raise refuse("malformed", f"unknown index coding {tag}")


def _from_gaps(gaps: np.ndarray, size: int) -> np.ndarray:
    """Indices (int64) from the gaps between them; refused when one lies beyond ``size``."""
    from gossip.compression import kernels

    indices = np.empty(gaps.size, dtype=np.int64)
    if kernels.positions_of(gaps, size, indices):
        raise refuse("index_out_of_range", f"an index lies beyond size {size}")
    return indices


# ---------------------------------------------------------------- Golomb-Rice


def rice_parameter(gaps: np.ndarray) -> tuple[int, int]:
    """The remainder width that codes ``gaps`` (uint64) in the fewest bits (near log2 of the
    mean gap), and that many bits."""
    from gossip.compression import kernels

    if gaps.size == 0:
        return 0, 0
    guess = max(0, int(np.log2(max(float(gaps.mean()), 1.0) * np.log(2))))
    first = max(0, guess - 2)
    costs = np.empty(min(_MAX_RICE_BITS, guess + 3) - first, dtype=np.uint64)
    kernels.rice_costs(gaps, first, costs)
    best = int(np.argmin(costs))  # the first of equals: the narrowest
    return first + best, int(costs[best])


def rice_encode(gaps: np.ndarray) -> bytes:
    """Golomb-Rice code of non-negative integers, in two streams.

    One byte ``b``; then the remainders ``g mod 2**b``, ``b`` bits each (most
    significant first); then the quotients ``g >> b`` in unary (ones closed by
    a zero), all of them; zero bits pad the last byte. The remainders come
    first so that every zero after them closes a quotient. Gaps of a top-k
    mask are about geometric, for which this is within a few percent of their
    entropy (~8.1 bits at 1% density against ~10 for byte varints).
    """
    from gossip.compression import kernels

    g = gaps.astype(np.uint64, copy=False)
    b, bits = rice_parameter(g)
    out = np.zeros(1 + -(-bits // 8), dtype=np.uint8)
    out[0] = b
    kernels.rice_encode(g, b, out[1:])
    return out.tobytes()


def rice_decode(data: bytes | memoryview, count: int) -> np.ndarray:
    """Exactly ``count`` integers from :func:`rice_encode`'s bytes; ExchangeRefused otherwise."""
    from gossip.compression import kernels

    if len(data) < 1:
        raise refuse("truncated", "no Rice parameter")
    b = data[0]
    if b >= _MAX_RICE_BITS:
        raise refuse("malformed", f"Rice parameter {b} too large")
    values = np.empty(count, dtype=np.uint64)
    padded = np.zeros(len(data) - 1 + 8, dtype=np.uint8)  # the kernel reads 8 bytes at a time
    padded[:-8] = np.frombuffer(data, dtype=np.uint8, offset=1)
    wrong = kernels.rice_decode(padded, b, values)
    if wrong == kernels.TRUNCATED:
        raise refuse("truncated", f"Rice code holds fewer than {count} values")
    if wrong == kernels.SIZE_MISMATCH:
        raise refuse("size_mismatch", f"Rice code of {count} values has bytes beyond them")
    if wrong == kernels.MALFORMED:
        raise refuse("malformed", "Rice code has bits set in its padding")
    return values
