"""Compact, vectorised coding of sorted index sets (for top-k).

Two forms, and the encoder keeps the smaller (one tag byte says which):

* ``varint``: gaps between consecutive indices (minus one), LEB128 varints;
  top-1% of a vector has gaps around 100, so about 1 byte per index instead of 4;
  or, for codecs that ask (``rice=True``), ``rice``: the same gaps Golomb-Rice
  coded, about 8 bits per index at 1% density and 5 at 10%;
* ``bitmap``: one bit per position (``size / 8`` bytes), smaller above ~10% density.

No Python loop runs over the indices: the loops below are over byte
positions (at most 5) or remainder bits (at most 39) only.
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
    """LEB128 of non-negative integers (< 2**35), all at once.

    Every value's first byte is written by one ``np.repeat`` (one copy per
    byte the value takes); only the values longer than a byte, few in a
    top-k's gaps, are then visited again for their further bytes.
    """
    v = values.astype(np.uint64, copy=False)
    if v.size == 0:
        return b""
    longest = max(1, -(-int(v.max()).bit_length() // 7))
    long = v >= np.uint64(0x80)
    first = (v & np.uint64(0x7F)).astype(np.uint8)
    if longest == 1:  # every value fits in one byte, which is its own varint
        return first.tobytes()
    first |= long.view(np.uint8) << np.uint8(7)
    several = np.flatnonzero(long)
    rest = v[several]
    extra = np.ones(several.size, dtype=np.int64)  # bytes after the first
    for b in range(2, longest):
        extra += rest >= np.uint64(1 << (7 * b))
    lengths = np.ones(v.size, dtype=np.intp)
    lengths[several] += extra
    out = np.repeat(first, lengths)
    starts = several + np.cumsum(extra) - extra  # where each long value's first byte went
    for b in range(1, longest):
        has = np.flatnonzero(extra >= b)
        byte = (rest[has] >> np.uint64(7 * b)).astype(np.uint8) & np.uint8(0x7F)
        byte |= (extra[has] > b).view(np.uint8) << np.uint8(7)
        out[starts[has] + b] = byte
    return out.tobytes()


def varint_decode(data: bytes | memoryview, count: int) -> np.ndarray:
    """Exactly ``count`` varints from ``data`` (all of it); ExchangeRefused otherwise."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if count == 0:
        if raw.size:
            raise refuse("size_mismatch", "index bytes after the last index")
        return np.zeros(0, dtype=np.int64)
    if raw.size == 0 or raw[-1] & 0x80:
        raise refuse("truncated", "index varints end in the middle of a value")
    if raw.size == count and int(raw.max()) < 0x80:  # one byte each: the bytes are the values
        return raw.astype(np.int64)
    ends = np.flatnonzero(raw < 0x80)
    if ends.size != count:
        raise refuse("size_mismatch", f"{ends.size} indices coded, header says {count}")
    values = raw[ends].astype(np.int64)  # the last byte of each: the highest 7 bits
    lengths = gaps_between(ends)
    longer = np.flatnonzero(lengths)  # gaps between ends: the bytes before the last
    if longer.size:
        lengths = lengths[longer] + 1
        if int(lengths.max()) > _MAX_VARINT_BYTES:
            raise refuse("index_out_of_range", "an index varint is longer than 5 bytes")
        end, rest = ends[longer], values[longer]
        for back in range(1, int(lengths.max())):  # earlier bytes, lower bits
            has = lengths > back
            rest[has] = (rest[has] << 7) | (raw[end[has] - back] & 0x7F)
        values[longer] = rest
    return values


def encode(indices: np.ndarray, size: int, *, rice: bool = False) -> bytes:
    """Sorted, distinct indices below ``size`` -> tag byte + the smaller coding.

    ``rice``: the Golomb-Rice coding of the gaps competes too (peers older
    than it refuse it as ``malformed``, so only codecs newer than it ask).
    """
    idx = indices.astype(np.int64, copy=False)
    gaps = gaps_between(idx)
    bitmap_bytes = -(-size // 8)
    if rice:
        code = rice_encode(gaps)
        if len(code) <= bitmap_bytes:
            return bytes([RICE]) + code
    else:
        varints = varint_encode(gaps)
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
        return _from_gaps(varint_decode(body, count), size)
    if tag == RICE:
        return _from_gaps(rice_decode(body, count), size)
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


def _from_gaps(gaps: np.ndarray, size: int) -> np.ndarray:
    """Indices (int64) from the gaps between them; refused when one lies beyond ``size``."""
    if not gaps.size:
        return gaps.astype(np.int64)
    if int(gaps.max()) >= size:  # checked before the sum, which could wrap around
        raise refuse("index_out_of_range", f"index gap {int(gaps.max())} >= size {size}")
    indices = gaps.astype(np.int64, copy=False)  # gaps < size: no sign, no overflow
    indices += 1
    np.cumsum(indices, out=indices)
    indices -= 1
    if int(indices[-1]) >= size:
        raise refuse("index_out_of_range", f"index {int(indices[-1])} >= size {size}")
    return indices


# ---------------------------------------------------------------- Golomb-Rice


def rice_bits(gaps: np.ndarray, b: int) -> int:
    """Bits of the Rice code of ``gaps`` with ``b`` remainder bits (unary quotient + 1 + b)."""
    return int((gaps >> np.uint64(b)).sum()) + gaps.size * (1 + b)


def rice_parameter(gaps: np.ndarray) -> int:
    """The remainder width that codes ``gaps`` in the fewest bits (near log2 of the mean gap)."""
    if gaps.size == 0:
        return 0
    guess = max(0, int(np.log2(max(float(gaps.mean()), 1.0) * np.log(2))))
    candidates = range(max(0, guess - 2), min(_MAX_RICE_BITS, guess + 3))
    return min(candidates, key=lambda b: rice_bits(gaps, b))


def rice_encode(gaps: np.ndarray) -> bytes:
    """Golomb-Rice code of non-negative integers, two streams so decoding is vectorised.

    One byte ``b``; then the remainders ``g mod 2**b``, ``b`` bits each (most
    significant first); then the quotients ``g >> b`` in unary (ones closed by
    a zero), all of them; zero bits pad the last byte. The remainders come
    first so that every zero after them closes a quotient. Gaps of a top-k
    mask are about geometric, for which this is within a few percent of their
    entropy (~8.1 bits at 1% density against ~10 for byte varints).
    """
    g = gaps.astype(np.uint64, copy=False)
    b = rice_parameter(g)
    quotients = (g >> np.uint64(b)).astype(np.int64)
    remainder_bits = g.size * b
    bits = np.ones(remainder_bits + int(quotients.sum()) + g.size, dtype=np.uint8)
    bits[remainder_bits + np.cumsum(quotients + 1) - 1] = 0  # the closing zero of each quotient
    if b:
        low = (g & np.uint64((1 << b) - 1)).astype(_narrow(b))
        columns = bits[:remainder_bits].reshape(g.size, b)
        for j in range(b):
            np.bitwise_and(low >> (b - 1 - j), 1, out=columns[:, j], casting="unsafe")
    return bytes([b]) + np.packbits(bits).tobytes()


def _narrow(b: int) -> np.dtype:
    """The narrowest unsigned type of ``b`` bits or more."""
    return np.dtype(
        next(
            t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if 8 * np.dtype(t).itemsize >= b
        )
    )


def rice_decode(data: bytes | memoryview, count: int) -> np.ndarray:
    """Exactly ``count`` integers from :func:`rice_encode`'s bytes; ExchangeRefused otherwise."""
    if len(data) < 1:
        raise refuse("truncated", "no Rice parameter")
    b = data[0]
    if b >= _MAX_RICE_BITS:
        raise refuse("malformed", f"Rice parameter {b} too large")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8, offset=1))
    remainder_bits = count * b
    ends = np.flatnonzero(bits[remainder_bits:] == 0)[:count]
    if ends.size < count:
        raise refuse("truncated", f"Rice code holds fewer than {count} values")
    needed = remainder_bits + (int(ends[-1]) + 1 if count else 0)
    if -(-needed // 8) != -(-bits.size // 8):
        raise refuse(
            "size_mismatch", f"Rice code of {count} values needs {needed} bits, has {bits.size}"
        )
    if bits[needed:].any():
        raise refuse("malformed", "Rice code has bits set in its padding")
    values = gaps_between(ends).astype(np.uint64) << np.uint64(b)
    if b:
        columns = bits[:remainder_bits].reshape(count, b)
        low = columns[:, 0].astype(_narrow(b))
        for j in range(1, b):
            low <<= 1
            low |= columns[:, j]
        values |= low
    return values


def gaps_between(positions: np.ndarray) -> np.ndarray:
    """Positions (sorted, distinct, from 0) minus one more than the one before: what
    the codings store (the first gap is the first position)."""
    gaps = np.empty_like(positions)
    gaps[:1] = positions[:1]
    np.subtract(positions[1:], positions[:-1], out=gaps[1:])
    gaps[1:] -= 1
    return gaps
