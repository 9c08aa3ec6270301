"""The codecs' hot loops, compiled by numba: one pass over the values where numpy needs several.

A numpy operation on 10M values is a trip through memory (5-12 ms on the
2-core machine), and most codecs need five to ten of them; these loops do
the whole job in one pass, three to ten times faster. Only the codec modules
import this one, on their first encode or decode, so ``import gossip`` and
``gossip-ctl`` do not pay numba's import (about half a second).

Shapes that LLVM vectorizes: fixed inner loops over a bucket (256 or 128
values, the callers pass whole rows) and branchless integer bit operations;
a scalar loop with branches is about ten times slower. ``fastmath`` only
where the result need not be exact (qsgd's encoder); payloads of the
deterministic codecs are byte-identical to numpy's (sign's scale even sums
in numpy's pairwise order). Bounds checks are off: the callers check every
length and index that came from a peer before a kernel sees them.

Compiled code is cached on disk (next to this file, else in the user's cache
directory or ``NUMBA_CACHE_DIR``; numba writes it atomically, so processes
compiling at once do not clash); where nothing is writable each process
compiles for itself (seconds; a peer does it at start-up, ``Mixer.warm_up``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numba import extending

_Kernel = TypeVar("_Kernel", bound=Callable[..., Any])


def _compiled(*, fastmath: bool = False) -> Callable[[_Kernel], _Kernel]:
    """numba's ``njit`` with the options every kernel shares, typed for mypy."""

    def compile_kernel(function: _Kernel) -> _Kernel:
        options: dict[str, Any] = {"nogil": True, "boundscheck": False, "fastmath": fastmath}
        try:
            return cast(_Kernel, numba.njit(cache=True, **options)(function))
        except RuntimeError:  # no writable cache directory: compile in each process
            return cast(_Kernel, numba.njit(**options)(function))

    return compile_kernel


_U32 = np.uint32
_U64 = np.uint64
_ABS = np.uint32(0x7FFFFFFF)
_INF_BITS = np.uint32(0x7F800000)
_NEGATIVE_ZERO = np.uint32(0x80000000)


def _bitcast(source: Any, target: Any) -> Callable[[Any], Any]:
    """A compiled reinterpretation of a 32-bit value's bits (no memory, unlike ``.view``)."""

    def typed(typing_context: Any, value: Any) -> tuple[Any, Callable[..., Any]]:
        def generate(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), generate

    return cast(Callable[[Any], Any], extending.intrinsic(typed))


_as_f32 = _bitcast(numba.types.uint32, numba.types.float32)
_as_u32 = _bitcast(numba.types.float32, numba.types.uint32)


def _count_leading_zeros(typing_context: Any, value: Any) -> tuple[Any, Callable[..., Any]]:
    def generate(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctlz(args[0], context.get_constant(numba.types.boolean, False))

    return numba.types.uint64(numba.types.uint64), generate


_leading_zeros = cast(Callable[[Any], Any], extending.intrinsic(_count_leading_zeros))
"""Zero bits above the highest one of a uint64 (64 for zero), one instruction."""


# ---------------------------------------------------------------- sign (buckets of 256)


@_compiled()
def sign_encode(rows: np.ndarray, sums: np.ndarray, bits: np.ndarray) -> None:
    """Per row of 256: the sum of magnitudes (numpy's pairwise order: two halves of eight
    interleaved partial sums), and one bit per value, set where ``value >= 0`` (-0.0 too;
    not NaN), most significant first as ``np.packbits``."""
    u = rows.view(np.uint32)
    partial = np.zeros(8, dtype=np.float32)
    for b in range(rows.shape[0]):
        total = np.float32(0.0)
        for half in range(2):
            partial[:] = 0
            for i in range(half * 128, half * 128 + 128, 8):
                for j in range(8):
                    partial[j] += abs(rows[b, i + j])
            p = partial
            total += ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
        sums[b] = total
        for k in range(32):
            byte = _U32(0)
            for j in range(8):
                x = u[b, 8 * k + j]
                positive = _U32((x <= _INF_BITS) | (x == _NEGATIVE_ZERO))
                byte |= positive << _U32(7 - j)
            bits[b, k] = byte


@_compiled()
def sign_decode(scales: np.ndarray, bits: np.ndarray, out: np.ndarray) -> None:
    """Per row of 256: the row's scale (>= 0, checked by the caller), negated where the bit is 0."""
    o = out.view(np.uint32)
    s = scales.view(np.uint32)
    for b in range(out.shape[0]):
        scale = s[b]
        for k in range(32):
            byte = _U32(bits[b, k])
            for j in range(8):
                negative = ((byte >> _U32(7 - j)) & _U32(1)) ^ _U32(1)
                o[b, 8 * k + j] = scale | (negative << _U32(31))


# ---------------------------------------------------------------- int8 (buckets of 256)


@_compiled()
def int8_encode(rows: np.ndarray, scales: np.ndarray, levels: np.ndarray) -> None:
    """Per row of 256: ``peak = max|v|`` (NaN if any is), ``scale = peak / 127`` and each
    value times ``127 / peak`` (0 when the peak is 0) rounded half to even."""
    u = rows.view(np.uint32)
    for b in range(rows.shape[0]):
        peak_bits = _U32(0)  # magnitudes' bits order as the magnitudes; NaN's above all
        for i in range(256):
            peak_bits = max(peak_bits, u[b, i] & _ABS)
        peak = _as_f32(peak_bits)
        inverse = np.float32(127) / peak if peak_bits else np.float32(0)
        for i in range(256):
            levels[b, i] = np.int8(np.rint(rows[b, i] * inverse))
        scales[b] = peak / np.float32(127)


@_compiled()
def int8_decode(scales: np.ndarray, levels: np.ndarray, out: np.ndarray) -> None:
    """Per row of 256: level times the row's scale."""
    for b in range(out.shape[0]):
        scale = scales[b]
        for i in range(256):
            out[b, i] = np.float32(levels[b, i]) * scale


# ---------------------------------------------------------------- fp16


@_compiled()
def fp16_encode(values: np.ndarray, half: np.ndarray) -> None:
    """Float32 to float16 bits, magnitudes clipped to 65504, NaN as 0x7E00 (see ``fp16``:
    adding ``2**(e + 13)`` leaves the half's bits, rounded to nearest even, in the sum)."""
    u = values.view(np.uint32)
    for i in range(values.size):
        x = u[i]
        magnitude_bits = min(x & _ABS, _U32(0x477FE000))  # 65504; NaN is replaced below
        addend_bits = max((magnitude_bits & _INF_BITS) + _U32(0x06800000), _U32(0x3F000000))
        total = np.float32(_as_f32(magnitude_bits) + _as_f32(addend_bits))
        r = _as_u32(total)
        bits = (r >> _U32(13)) + (r & _U32(0x0FFF)) - _U32(126 << 10)
        bits |= (x >> _U32(16)) & _U32(0x8000)
        half[i] = np.uint16(0x7E00) if (x & _ABS) > _INF_BITS else np.uint16(bits)


@_compiled()
def fp16_decode(half: np.ndarray, out: np.ndarray) -> bool:
    """Float16 bits to float32; False when any is Inf or NaN (exponent all ones)."""
    exponents = np.uint16(0)
    for i in range(half.size):
        h = half[i]
        exponents = max(exponents, h & np.uint16(0x7C00))
        bits = (np.int32(np.int16(h)) << np.int32(13)) & np.int32(-0x70002000)
        out[i] = _as_f32(np.uint32(bits)) * np.float32(2.0**112)
    return bool(exponents != np.uint16(0x7C00))


# ---------------------------------------------------------------- qsgd (buckets of 128)


@_compiled(fastmath=True)
def qsgd_encode(
    rows: np.ndarray, first: int, levels: int, key: np.uint32, norms: np.ndarray, body: np.ndarray
) -> None:
    """Per row of 128: the L2 norm, and each value as ``level + levels`` in ``[0, 2 levels]``,
    rounded up or down at random so that the level is right on average; two per byte (the
    first in the high half) when ``body`` has 64 columns, else the signed level's byte.

    The random bits of values ``2i`` and ``2i + 1`` (``first`` is the first row's bucket)
    are the halves of a hash of ``i`` and ``key``: unbiased (16 uniform bits each, the hash
    is a bijection of ``i``), reproducible from the seed, and computed in the loop, which a
    generator's stream is not.
    """
    s = np.float32(levels)
    unit = np.float32(2.0**-16)
    offsets = np.empty(128, dtype=np.uint8)
    for b in range(rows.shape[0]):
        squares = np.float32(0.0)
        for i in range(128):
            squares += rows[b, i] * rows[b, i]
        norm = np.sqrt(squares)
        norms[b] = norm
        factor = s / norm if norm > 0 else np.float32(0.0)
        start = _U32((first + b) * 64)
        for k in range(64):  # the truncation of a level >= 0 is its floor
            bits = _mix(start + _U32(k), key)
            high = rows[b, 2 * k] * factor + s + np.float32(bits >> _U32(16)) * unit
            low = rows[b, 2 * k + 1] * factor + s + np.float32(bits & _U32(0xFFFF)) * unit
            offsets[2 * k] = np.uint8(min(max(high, np.float32(0.0)), 2 * s))
            offsets[2 * k + 1] = np.uint8(min(max(low, np.float32(0.0)), 2 * s))
        if body.shape[1] == 64:
            for k in range(64):
                body[b, k] = (offsets[2 * k] << np.uint8(4)) | offsets[2 * k + 1]
        else:
            for i in range(128):
                body[b, i] = offsets[i] - np.uint8(levels)


@_compiled()
def _mix(index: np.uint32, key: np.uint32) -> np.uint32:
    """A 32-bit hash of ``index`` under ``key`` (murmur3's finalizer of a Weyl step):
    a bijection of ``index``, so its bits are uniform over all indices."""
    h = _U32(index * _U32(0x9E3779B1) + key)
    h = _U32(h ^ (h >> _U32(16)))
    h = _U32(h * _U32(0x85EBCA6B))
    h = _U32(h ^ (h >> _U32(13)))
    h = _U32(h * _U32(0xC2B2AE35))
    return _U32(h ^ (h >> _U32(16)))


@_compiled()
def qsgd_decode_nibbles(steps: np.ndarray, body: np.ndarray, levels: int, out: np.ndarray) -> int:
    """Per row of 128 (64 bytes of two offset levels): ``(offset - levels) * step``, from a
    table of the 16 a row can hold; returns the largest offset, which the caller checks
    against ``2 levels``."""
    high_largest = low_largest = np.int32(0)
    table = np.empty(16, dtype=np.float32)
    for b in range(out.shape[0]):
        for n in range(16):
            table[n] = np.float32(n - levels) * steps[b]
        for k in range(64):
            byte = np.int32(body[b, k])
            high, low = byte >> 4, byte & 15
            high_largest, low_largest = max(high_largest, high), max(low_largest, low)
            out[b, 2 * k] = table[high]
            out[b, 2 * k + 1] = table[low]
    return int(max(high_largest, low_largest))


@_compiled()
def qsgd_decode_bytes(steps: np.ndarray, body: np.ndarray, out: np.ndarray) -> int:
    """Per row of 128 signed levels: ``level * step``; returns the largest ``|level|``."""
    largest = np.int32(0)
    for b in range(out.shape[0]):
        step = steps[b]
        for i in range(128):
            level = np.int32(body[b, i])
            largest = max(largest, abs(level))
            out[b, i] = np.float32(level) * step
    return int(largest)


# ---------------------------------------------------------------- top-k selection


@_compiled()
def candidates_above(
    values: np.ndarray, threshold_bits: np.uint32, positions: np.ndarray, bits: np.ndarray
) -> int:
    """The positions (in order) and bits of the values whose magnitude is at least the
    threshold (NaN too); returns how many. ``positions`` and ``bits`` have room for every
    value. Magnitudes compare as their bits (``bits & 0x7FFFFFFF``: NaN above Inf), and the
    store is unconditional, the count advancing only on a hit: no branch to mispredict."""
    u = values.view(np.uint32)
    found = 0
    for i in range(values.size):
        positions[found] = i
        bits[found] = u[i]
        found += (u[i] & _ABS) >= threshold_bits
    return found


@_compiled()
def kth_largest(bits: np.ndarray, k: int) -> np.uint32:
    """The ``k``-th largest (1 <= k <= size) magnitude, as bits, of values given as bits: a
    histogram of the high 16 bits finds its bucket, a second of the low 16 bits within that
    bucket finds it."""
    counts = np.zeros(1 << 15, dtype=np.int32)
    for i in range(bits.size):
        counts[(bits[i] & _ABS) >> _U32(16)] += 1
    high, above = _bucket_of(counts, k)
    counts = np.zeros(1 << 16, dtype=np.int32)
    for i in range(bits.size):
        magnitude = bits[i] & _ABS
        if magnitude >> _U32(16) == high:
            counts[magnitude & _U32(0xFFFF)] += 1
    low, _ = _bucket_of(counts, k - above)
    return _U32((high << 16) | low)


@_compiled()
def _bucket_of(counts: np.ndarray, k: int) -> tuple[int, int]:
    """The bucket holding the ``k``-th largest, and how many lie in the buckets above it."""
    above = 0
    for bucket in range(counts.size - 1, -1, -1):
        if above + counts[bucket] >= k:
            return bucket, above
        above += counts[bucket]
    return 0, above


@_compiled()
def keep_largest(
    positions: np.ndarray, bits: np.ndarray, kth: np.uint32, chosen: np.ndarray, kept: np.ndarray
) -> None:
    """The candidates whose magnitude is above ``kth``, then the lowest-positioned of those
    equal to it, ``kept.size`` in all (``kth`` from :func:`kth_largest`), in order: their
    positions into ``chosen`` and their values into ``kept`` (both one longer than the count:
    the last store may be no hit)."""
    ties = kept.size - 1
    for i in range(bits.size):
        ties -= (bits[i] & _ABS) > kth
    found = 0
    kept_bits = kept.view(np.uint32)
    for i in range(bits.size):
        magnitude = bits[i] & _ABS
        tie = (magnitude == kth) & (ties > 0)
        ties -= tie
        chosen[found] = positions[i]
        kept_bits[found] = bits[i]
        found += (magnitude > kth) | tie


@_compiled()
def scatter(positions: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """``out[positions] = values`` (positions sorted, distinct, in range: checked by the
    caller). ``out`` comes from ``np.zeros``, whose fresh pages the OS zeroes as they are
    first touched: cheaper than writing the zeros between the positions ourselves."""
    for j in range(positions.size):
        out[positions[j]] = values[j]


# ---------------------------------------------------------------- index codings

TRUNCATED, SIZE_MISMATCH, MALFORMED, OUT_OF_RANGE = 1, 2, 3, 4
"""What a decoding kernel found wrong (0: nothing); the caller raises the matching refusal."""


@_compiled()
def gaps_of(positions: np.ndarray) -> np.ndarray:
    """Each position minus one more than the one before (the first: itself), as uint64."""
    gaps = np.empty(positions.size, dtype=np.uint64)
    previous = -1
    for i in range(positions.size):
        gaps[i] = positions[i] - previous - 1
        previous = positions[i]
    return gaps


@_compiled()
def varint_encode(values: np.ndarray, out: np.ndarray) -> int:
    """LEB128 of ``values`` (uint64) into ``out`` (room for 10 bytes each); returns the length."""
    n = 0
    for i in range(values.size):
        x = values[i]
        while x >= _U64(0x80):
            out[n] = np.uint8((x & _U64(0x7F)) | _U64(0x80))
            x >>= _U64(7)
            n += 1
        out[n] = np.uint8(x)
        n += 1
    return n


@_compiled()
def varint_decode(data: np.ndarray, longest: int, values: np.ndarray) -> int:
    """LEB128 values from ``data`` into ``values``, whose size the caller checked to be the
    number of bytes below 0x80 (last byte included); OUT_OF_RANGE if one is longer than
    ``longest`` bytes."""
    n = 0
    value = np.uint64(0)
    length = 0
    for i in range(data.size):
        byte = _U64(data[i])
        value |= (byte & _U64(0x7F)) << _U64(7 * length)
        length += 1
        if byte < _U64(0x80):
            values[n] = value
            n += 1
            value = np.uint64(0)
            length = 0
        elif length >= longest:
            return OUT_OF_RANGE
    return 0


@_compiled()
def positions_of(gaps: np.ndarray, size: int, positions: np.ndarray) -> int:
    """Positions from gaps (inverse of :func:`gaps_of`); OUT_OF_RANGE when one is >= ``size``."""
    position = np.int64(-1)
    for i in range(gaps.size):
        if gaps[i] >= _U64(size):  # checked before the sum, which could wrap around
            return OUT_OF_RANGE
        position += np.int64(gaps[i]) + 1
        positions[i] = position
    return OUT_OF_RANGE if position >= size else 0


@_compiled()
def bitmap_encode(positions: np.ndarray, out: np.ndarray) -> None:
    """Set the bit of each position in ``out`` (zeroed; most significant bit first)."""
    for i in range(positions.size):
        p = positions[i]
        out[p >> 3] |= np.uint8(0x80 >> (p & 7))


@_compiled()
def bitmap_decode(data: np.ndarray, positions: np.ndarray) -> int:
    """The number of set bits; when it is ``positions.size - 8`` (room for the unconditional
    stores of the last byte), their positions, in order, into ``positions``."""
    found = 0
    for i in range(data.size):
        byte = data[i]
        for j in range(8):
            found += (byte >> np.uint8(j)) & np.uint8(1)
    if found != positions.size - 8:
        return found
    n = 0
    for i in range(data.size):
        byte = data[i]
        if byte:
            for j in range(8):
                positions[n] = 8 * i + j
                n += (byte >> np.uint8(7 - j)) & np.uint8(1)
    return found


@_compiled()
def rice_costs(gaps: np.ndarray, first: int, costs: np.ndarray) -> None:
    """Bits of the Rice code of ``gaps`` with ``first + j`` remainder bits, into ``costs[j]``."""
    costs[:] = 0
    for i in range(gaps.size):
        for j in range(costs.size):
            costs[j] += (gaps[i] >> _U64(first + j)) + _U64(first + j + 1)


@_compiled()
def rice_encode(gaps: np.ndarray, b: int, out: np.ndarray) -> None:
    """Golomb-Rice code with ``b`` remainder bits (see ``indices.rice_encode``) into ``out``
    (sized by the caller): all remainders, then all quotients in unary (ones closed by a
    zero), through a bit buffer written out 32 bits at a time."""
    buffer, filled, n = _U64(0), 0, 0
    mask = (_U64(1) << _U64(b)) - _U64(1)
    for i in range(gaps.size if b else 0):
        remainder = gaps[i] & mask
        if b > 32:
            buffer, filled, n = _emit(buffer, filled, n, out, remainder >> _U64(32), b - 32)
            remainder &= _U64(0xFFFFFFFF)
        buffer, filled, n = _emit(buffer, filled, n, out, remainder, min(b, 32))
    for i in range(gaps.size):
        q = gaps[i] >> _U64(b)
        while q >= _U64(32):
            buffer, filled, n = _emit(buffer, filled, n, out, _U64(0xFFFFFFFF), 32)
            q -= _U64(32)
        ones = ((_U64(1) << q) - _U64(1)) << _U64(1)
        buffer, filled, n = _emit(buffer, filled, n, out, ones, int(q) + 1)
    padding = -filled % 8  # the last bits, zero-padded to a byte
    buffer <<= _U64(padding)
    filled += padding
    while filled > 0:
        filled -= 8
        out[n] = np.uint8((buffer >> _U64(filled)) & _U64(0xFF))
        n += 1


@_compiled()
def _emit(
    buffer: np.uint64, filled: int, n: int, out: np.ndarray, value: np.uint64, width: int
) -> tuple[np.uint64, int, int]:
    """Append ``width`` (<= 32) bits to the buffer, which holds ``filled`` (< 32), writing 32
    of them to ``out[n:]`` when it has that many; the new buffer, filled and n."""
    buffer = (buffer << _U64(width)) | value
    filled += width
    if filled >= 32:
        filled -= 32
        word = buffer >> _U64(filled)
        for j in range(4):
            out[n + j] = np.uint8((word >> _U64(24 - 8 * j)) & _U64(0xFF))
        n += 4
        buffer &= (_U64(1) << _U64(filled)) - _U64(1)
    return buffer, filled, n


@_compiled()
def rice_decode(padded: np.ndarray, b: int, values: np.ndarray) -> int:
    """``values.size`` integers from the Rice code in ``padded`` (after the parameter byte,
    then 8 zero bytes): TRUNCATED when it holds fewer, SIZE_MISMATCH when it has bytes beyond
    the last value, MALFORMED when padding bits are set. Reads through a 64-bit window; a
    quotient is the count of its leading ones (one instruction)."""
    data = padded[:-8]
    count = values.size
    total = 8 * data.size
    if count * b > total:
        return TRUNCATED
    bit = 0
    window, valid = _U64(0), 0  # the next bits from ``bit`` on, left-aligned; how many
    for i in range(count if b else 0):
        if valid < b:
            window, valid = _refill(padded, bit)
        values[i] = window >> _U64(64 - b)
        window <<= _U64(b)
        valid -= b
        bit += b
    if not b:
        values[:] = 0
    window, valid = _refill(padded, bit)
    for i in range(count):
        q = 0
        while True:
            ones = int(_leading_zeros(~window))  # at most ``valid``: the bits below are zero
            if ones < valid:  # the closing zero is in the window
                q += ones
                bit += ones + 1
                window = (window << _U64(ones)) << _U64(1)
                valid -= ones + 1
                break
            q += valid
            bit += valid
            window, valid = _refill(padded, bit)
        if bit > total:  # the closing zero was beyond the data
            return TRUNCATED
        if valid < 32:
            window, valid = _refill(padded, bit)
        if q >= 1 << (62 - b):  # beyond any size: keep it large without wrapping
            q = 1 << (62 - b)
        values[i] |= _U64(q) << _U64(b)
    if (bit + 7) // 8 != data.size:
        return SIZE_MISMATCH
    if bit & 7 and data[bit >> 3] & np.uint8(0xFF >> (bit & 7)):
        return MALFORMED
    return 0


@_compiled()
def _refill(padded: np.ndarray, bit: int) -> tuple[np.uint64, int]:
    """The bits of ``padded`` from ``bit`` on, left-aligned in 64, and how many are valid."""
    return _window(padded, bit) << _U64(bit & 7), 64 - (bit & 7)


@_compiled()
def _window(data: np.ndarray, bit: int) -> np.uint64:
    """The 8 bytes from the one holding ``bit``, big-endian (``data`` has 8 bytes of padding)."""
    first = bit >> 3
    window = _U64(0)
    for j in range(8):
        window = (window << _U64(8)) | _U64(data[first + j])
    return window


# ---------------------------------------------------------------- rand-k


@_compiled()
def stratified(draws: np.ndarray, starts: np.ndarray, widths: np.ndarray, out: np.ndarray) -> None:
    """One position per stratum: its start plus a 32-bit random fraction of its width."""
    for i in range(out.size):
        out[i] = starts[i] + ((_U64(draws[i]) * widths[i]) >> _U64(32))


@_compiled()
def gather(values: np.ndarray, positions: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = values[positions[i]]`` (positions in range: the caller's own)."""
    for i in range(out.size):
        out[i] = values[positions[i]]
