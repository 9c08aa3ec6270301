"""Averaging Adam's shared normalizer in the exchanges, beside the parameters.

With ``--share-normalizer on`` our Adam divides by a smoothed estimate of the
cluster's second moment (``Adam.shared_normalizer``) that is only right once
the peers average it: one peer's estimate from one or two samples is far off,
the mean of all is close (bench/scale_isolate.py). An exchange therefore
carries a block of it in the header (``normalizer``, ``normalizer_offset``),
in bfloat16 (2 bytes a value: a normalizer needs its scale, not its last
digits), at most :data:`MAX_BYTES` per exchange: a larger model's vector goes
round in blocks, the next exchange the next block.

The rule is the parameters' one (gossip/averaging/pairwise.py): each side
moves half of the difference of the two *decoded* blocks, its own decoded
too, so the two increments are exact negatives and the pair's sum is kept;
each side applies only when its parameters' increment applies, so a refusal
leaves both untouched. A side without a normalizer (sharing off, another
framework, no step yet) sends none and answers none: neither side moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gossip.errors import ExchangeRefused

MAX_BYTES = 1 << 20
"""Most normalizer bytes one snapshot carries (a 512 Ki-value block)."""
MAX_VALUES = MAX_BYTES // 2


def to_bf16(values: np.ndarray) -> bytes:
    """float32 -> bfloat16 bytes (little-endian), rounded to nearest even."""
    bits = np.ascontiguousarray(values, dtype="<f4").view("<u4")
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))) >> 16
    return bytes(rounded.astype("<u2").tobytes())


def from_bf16(payload: bytes | memoryview) -> np.ndarray:
    """bfloat16 bytes -> float32 values."""
    half = np.frombuffer(payload, dtype="<u2")
    return (half.astype(np.uint32) << np.uint32(16)).view(np.float32)


@dataclass(frozen=True)
class Block:
    """One side's block of the normalizer as both sides use it (decoded from bf16)."""

    offset: int
    values: np.ndarray


def block_length(size: int, offset: int) -> int:
    return min(MAX_VALUES, size - offset)


def check(payload: bytes | memoryview, offset: int, size: int) -> Block:
    """A peer's block, decoded; ExchangeRefused('bad_normalizer') for a wrong size or value.

    ``size``: our normalizer's length (the models' sizes already agree).
    """
    if not 0 <= offset < size or len(payload) != 2 * block_length(size, offset):
        raise ExchangeRefused(
            "bad_normalizer",
            f"{len(payload)} bytes at offset {offset}: expected "
            f"{2 * block_length(size, offset) if 0 <= offset < size else 0} of {size} values",
        )
    values = from_bf16(payload)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ExchangeRefused("bad_normalizer", "a normalizer value is NaN, Inf or negative")
    return Block(offset, values)


class NormalizerShare:
    """Reads and averages the model's shared normalizer, a block per exchange.

    ``source`` returns the vector itself (updated in place), or None while there
    is none; ``lock`` is the one the model's steps write it under (the replica's).
    """

    def __init__(
        self, source: Callable[[], np.ndarray | None], lock: threading.Lock | None = None
    ) -> None:
        self._source = source
        self._lock = lock or threading.Lock()
        self._next = 0  # where the next offer's block starts

    def offer(self) -> tuple[bytes, Block] | None:
        """Our next block to offer (bf16 bytes and their decoded values), None: none to share."""
        with self._lock:
            vector = self._source()
            if vector is None or vector.size == 0:
                return None
            offset = self._next if self._next < vector.size else 0
            own = vector[offset : offset + block_length(vector.size, offset)].copy()
        self._next = offset + own.size
        return self._encoded(offset, own)

    def answer(self, payload: bytes | memoryview, offset: int) -> tuple[Block, bytes, Block] | None:
        """The peer's block checked, and ours at the same offset; None: we share none.

        ExchangeRefused('bad_normalizer') for a block that is not a normalizer's.
        """
        with self._lock:
            vector = self._source()
            if vector is None or vector.size == 0:
                return None
            peer = check(payload, offset, vector.size)
            own = vector[offset : offset + peer.values.size].copy()
        return (peer, *self._encoded(offset, own))

    def apply(self, own: Block, peer: Block) -> None:
        """Move our block half way to the peer's (both decoded): the pair's sum is kept."""
        move = (peer.values - own.values) * np.float32(0.5)
        with self._lock:
            vector = self._source()
            if vector is None or vector.size < own.offset + move.size:
                return  # the optimizer dropped it since (a new size): nothing to move
            target = vector[own.offset : own.offset + move.size]
            target += move
            np.maximum(target, 0.0, out=target)  # a second moment; rounding may not go below 0

    @staticmethod
    def _encoded(offset: int, own: np.ndarray) -> tuple[bytes, Block]:
        payload = to_bf16(own)
        return payload, Block(offset, from_bf16(payload))
