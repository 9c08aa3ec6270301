"""Compact, vectorised coding of sorted index sets (for top-k).

Two forms, and the encoder keeps the smaller (one tag byte says which):

* ``varint``: gaps between consecutive indices (minus one), LEB128 varints;
  top-1% of a vector has gaps around 100, so about 1 byte per index instead of 4;
* ``bitmap``: one bit per position (``size / 8`` bytes), smaller above ~10% density.

No Python loop runs over the indices: the loops below are over byte
positions (at most 5) only.
"""

from __future__ import annotations

import numpy as np

from gossip.compression.base import refuse

VARINT = 0
BITMAP = 1
_MAX_VARINT_BYTES = 5
"""7 bits each: gaps below 2**35, far more than any vector we send."""


def varint_encode(values: np.ndarray) -> bytes:
    """LEB128 of non-negative integers (< 2**35), all at once."""
    v = values.astype(np.uint64, copy=False)
    if v.size == 0:
        return b""
    lengths = np.ones(v.size, dtype=np.int64)
    for b in range(1, _MAX_VARINT_BYTES):
        lengths += v >= np.uint64(1 << (7 * b))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    for b in range(int(lengths.max())):
        has = lengths > b
        byte = ((v[has] >> np.uint64(7 * b)) & np.uint64(0x7F)).astype(np.uint8)
        more = (lengths[has] > b + 1).astype(np.uint8) << 7
        out[starts[has] + b] = byte | more
    return out.tobytes()


def varint_decode(data: bytes | memoryview, count: int) -> np.ndarray:
    """Exactly ``count`` varints from ``data`` (all of it); ExchangeRefused otherwise."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if count == 0:
        if raw.size:
            raise refuse("size_mismatch", "index bytes after the last index")
        return np.zeros(0, dtype=np.uint64)
    if raw.size == 0 or raw[-1] & 0x80:
        raise refuse("truncated", "index varints end in the middle of a value")
    ends = np.flatnonzero((raw & 0x80) == 0)
    if ends.size != count:
        raise refuse("size_mismatch", f"{ends.size} indices coded, header says {count}")
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if int(lengths.max()) > _MAX_VARINT_BYTES:
        raise refuse("index_out_of_range", "an index varint is longer than 5 bytes")
    shift = (np.arange(raw.size) - np.repeat(starts, lengths)) * 7
    parts = (raw & 0x7F).astype(np.uint64) << shift.astype(np.uint64)
    return np.add.reduceat(parts, starts)


def encode(indices: np.ndarray, size: int) -> bytes:
    """Sorted, distinct indices below ``size`` -> tag byte + the smaller coding."""
    idx = indices.astype(np.int64, copy=False)
    gaps = np.diff(idx, prepend=-1) - 1
    varints = varint_encode(gaps)
    bitmap_bytes = -(-size // 8)
    if len(varints) <= bitmap_bytes:
        return bytes([VARINT]) + varints
    mask = np.zeros(size, dtype=bool)
    mask[idx] = True
    return bytes([BITMAP]) + np.packbits(mask).tobytes()


def decode(data: bytes | memoryview, count: int, size: int) -> np.ndarray:
    """``count`` sorted distinct indices below ``size`` (int64); ExchangeRefused when malformed."""
    if len(data) < 1:
        raise refuse("truncated", "no index coding")
    tag, body = data[0], memoryview(data)[1:]
    if tag == VARINT:
        gaps = varint_decode(body, count)
        indices = np.cumsum(gaps + np.uint64(1)) - np.uint64(1) if count else gaps
        if count and int(indices[-1]) >= size:
            raise refuse("index_out_of_range", f"index {int(indices[-1])} >= size {size}")
        return indices.astype(np.int64)
    if tag == BITMAP:
        if len(body) != -(-size // 8):
            raise refuse("truncated", f"bitmap has {len(body)} bytes for {size} positions")
        bits = np.unpackbits(np.frombuffer(body, dtype=np.uint8))
        if bits[size:].any():
            raise refuse("index_out_of_range", "bitmap sets a position beyond the vector")
        indices = np.flatnonzero(bits[:size])
        if indices.size != count:
            raise refuse("size_mismatch", f"bitmap has {indices.size} indices, header {count}")
        return indices.astype(np.int64)
    raise refuse("malformed", f"unknown index coding {tag}")
