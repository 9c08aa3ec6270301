"""Per-neighbour references for compressed exchanges: bounded, versioned, reported.

For every neighbour ``j`` a peer keeps two vectors that ``j`` holds bit for bit
too: ``own`` (our parameters as ``j`` knows them) and ``peer`` (``j``'s as we
know them), and a ``version`` that both sides chain over every exchange they
both applied. A mismatch of versions or generations means the two copies may
differ; the exchange is refused and both sides drop them, so the next
exchange is a full one (see :mod:`gossip.averaging.compressed`).

Memory is bounded: at most ``budget_bytes`` of references (at least one
neighbour), least recently used evicted first; an evicted neighbour gets a
full exchange next time. References live in memory only: a restart loses
them, and so does the neighbour's view of us (our generation changes).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from gossip.errors import ExchangeRefused

MET_LIMIT = 4096
"""Neighbour ids remembered (not their vectors) to tell a first contact from a reset."""


@dataclass
class PairReference:
    """What one neighbour and we both hold, identically."""

    peer_generation: int
    version: int
    own: np.ndarray
    peer: np.ndarray
    step: int = -1
    """Our training step when the pair last exchanged (see compressed.Mixer._encode)."""

    @property
    def nbytes(self) -> int:
        return int(self.own.nbytes + self.peer.nbytes)


def start_version(base: int, initiator_generation: int, responder_generation: int) -> int:
    """The version both sides derive for a pair that starts now."""
    digest = hashlib.blake2b(digest_size=8)
    for value in (base, initiator_generation, responder_generation):
        digest.update(int(value).to_bytes(8, "little", signed=False))
    return int.from_bytes(digest.digest(), "little") or 1


BLAKE2B_PAYLOADS, CRC_PAYLOADS = 0, 1
"""Chains of ``next_version`` (the header's ``ref_chain``): what an exchange's payloads add.

blake2b reads about 1 GB/s here, so hashing both 1 MB payloads of an int8 exchange
of 1M parameters took 2 ms per side on its critical path (the responder hashes
before it replies, the initiator before its verdict), as much as the rest of the
rule; CRC-32 reads 4 GB/s. The chain only has to tell a pair whose copies may
differ (a lost verdict: one side applied, the other not) from one whose copies
match: every link hashes the previous version, so it moves on every exchange, and
a payload's length and CRC-32 still tell apart two sides that saw different bytes.
Peers of releases before the header field send and answer 0 (blake2b over the
payloads) and are answered with it."""
LATEST_CHAIN = CRC_PAYLOADS


def next_version(version: int, offer: bytes, reply: bytes, chain: int = LATEST_CHAIN) -> int:
    """Chain the version over both payloads of an exchange both sides applied."""
    digest = hashlib.blake2b(version.to_bytes(8, "little"), digest_size=8)
    for payload in (offer, reply):
        if chain == BLAKE2B_PAYLOADS:
            digest.update(payload)
        else:
            digest.update(struct.pack("<QI", len(payload), zlib.crc32(payload)))
    return int.from_bytes(digest.digest(), "little") or 1


def vector_hash(values: np.ndarray) -> int:
    """A non-zero 64-bit hash of a vector (identifies the shared initial model)."""
    digest = hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") or 1


class ReferenceStore:
    """LRU map neighbour id -> :class:`PairReference`, one exchange per neighbour at a time.

    No lock: its owner runs one exchange at a time (gossip/schedule.py), and
    :meth:`status` may read meanwhile (it copies what it sums first).
    """

    def __init__(self, budget_bytes: int, pair_bytes: int) -> None:
        self.max_pairs = max(1, budget_bytes // max(pair_bytes, 1))
        self._pairs: OrderedDict[str, PairReference] = OrderedDict()
        self._met: OrderedDict[str, None] = OrderedDict()
        self._busy: set[str] = set()
        self.evictions = 0
        self.resets = 0

    def acquire(self, peer_id: str) -> PairReference | None:
        """Reserve the pair for one exchange; ExchangeRefused('busy') if one is running."""
        if peer_id in self._busy:
            raise ExchangeRefused("busy", f"an exchange with {peer_id} is already running")
        self._busy.add(peer_id)
        ref = self._pairs.get(peer_id)
        if ref is not None:
            self._pairs.move_to_end(peer_id)
        return ref

    def release(self, peer_id: str) -> None:
        self._busy.discard(peer_id)

    def met(self, peer_id: str) -> bool:
        """True when we exchanged references with this neighbour before (kept or not)."""
        return peer_id in self._met or peer_id in self._pairs

    def commit(self, peer_id: str, ref: PairReference) -> list[PairReference]:
        """Keep ``ref`` (both sides applied), evicting the least recently used beyond the bound;
        the evicted references (their vectors are free)."""
        self._pairs[peer_id] = ref
        self._pairs.move_to_end(peer_id)
        self._met[peer_id] = None
        self._met.move_to_end(peer_id)
        while len(self._met) > MET_LIMIT:
            self._met.popitem(last=False)
        evicted = []
        for victim in list(self._pairs):
            if len(self._pairs) <= self.max_pairs:
                break
            if victim not in self._busy and victim != peer_id:
                evicted.append(self._pairs.pop(victim))
                self.evictions += 1
        return evicted

    def drop(self, peer_id: str) -> None:
        """Forget the pair's references (a mismatch): the next exchange is a full one."""
        if self._pairs.pop(peer_id, None) is not None:
            self.resets += 1
        self._met[peer_id] = None

    def status(self) -> dict[str, int]:
        pairs = list(self._pairs.values())  # one copy: an exchange may commit meanwhile
        return {
            "count": len(pairs),
            "bytes": sum(r.nbytes for r in pairs),
            "max_count": self.max_pairs,
            "evictions": self.evictions,
            "resets": self.resets,
        }
