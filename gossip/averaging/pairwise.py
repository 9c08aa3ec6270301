"""The pairwise, two-way averaging rule, free of any transport.

An exchange between an initiator ``i`` and a responder ``j``:

1. ``i`` takes a snapshot ``s_i`` of its parameters and sends it, encoded.
2. ``j`` checks it (fingerprint, size, finite values), takes its own snapshot
   ``s_j`` and sends it back.
3. ``i`` checks ``s_j`` and applies ``x_i += alpha * (dec(s_j) - dec(s_i))``, then
   tells ``j`` it did; only then ``j`` applies ``x_j += alpha * (dec(s_i) - dec(s_j))``.

Each side uses the *decoded* form of both snapshots (its own one decoded
locally too), so the two increments are exact negatives for any codec and the
pair's sum is conserved. Increments, not assignments, keep the local SGD steps
taken while the exchange was on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossip.compression import codec_for_header
from gossip.errors import ExchangeRefused

RAW_CODEC = "none"
"""Raw little-endian float32 (other codecs: :mod:`gossip.compression`)."""


@dataclass(frozen=True)
class Identity:
    """Who we are in a snapshot header."""

    id: str
    generation: int
    address: str


@dataclass(frozen=True)
class Snapshot:
    """One side's parameters as they travel: identity, model identity and encoded payload.

    The fields after ``payload`` describe compressed exchanges
    (:mod:`gossip.averaging.compressed`); their defaults are a plain exchange.
    """

    sender_id: str
    generation: int
    address: str
    step: int
    fingerprint: str
    num_params: int
    codec: str
    payload: bytes
    seed: int = 0
    """Seed of the codec's randomness (random-k positions, stochastic rounding)."""
    free_speed: float = 0.0
    """The sender's training steps per second of its own compute; 0: not training (gossip.pace)."""
    ref_version: int = 0
    """Version of the pair's references the payload is coded against; 0: the pair starts."""
    ref_base: int = 0
    """When starting: hash of the shared initial model the references start from; 0: zero."""
    blocks: int = 1
    """Number of blocks the vector is cut into for this exchange."""
    block_ids: tuple[int, ...] = ()
    """The blocks carried, in order; empty: all of the vector."""
    consensus_step: float = 0.0
    """The initiator's step (alpha or gamma) that both sides use; 0: the responder's own."""
    normalizer: bytes = b""
    """A block of the sender's shared Adam normalizer in bfloat16 (gossip/averaging/normalizer.py);
    empty: it shares none."""
    normalizer_offset: int = 0
    """Where that block starts in the vector."""
    ref_chain: int = 0
    """How both sides chain ``ref_version`` over this exchange (gossip.averaging.references)."""


def encode(params: np.ndarray) -> bytes:
    """Encode parameters for the wire (raw little-endian float32)."""
    return np.ascontiguousarray(params, dtype="<f4").tobytes()


def decode(payload: bytes | bytearray | memoryview, num_params: int) -> np.ndarray:
    """Decode a payload, refusing a wrong size; returns a float32 vector."""
    expected = 4 * num_params
    if len(payload) != expected:
        raise ExchangeRefused(
            "size_mismatch", f"payload has {len(payload)} bytes, expected {expected}"
        )
    return np.frombuffer(payload, dtype="<f4").astype(np.float32, copy=False)


def check_header(snapshot: Snapshot, fingerprint: str, num_params: int) -> None:
    """Refuse, before any payload arrives, a different architecture, size or codec.

    A continuing snapshot (``ref_version`` set) may leave out the fingerprint
    and size: the pair's start checked them, and the references it names
    exist only for that start (an unknown version is refused when the
    payload is decoded, :mod:`gossip.averaging.compressed`).
    """
    left_out = snapshot.ref_version != 0 and not snapshot.fingerprint and not snapshot.num_params
    if not left_out and snapshot.fingerprint != fingerprint:
        raise ExchangeRefused(
            "fingerprint_mismatch",
            f"peer model {snapshot.fingerprint} differs from local model {fingerprint}",
        )
    if not left_out and snapshot.num_params != num_params:
        raise ExchangeRefused(
            "size_mismatch", f"peer has {snapshot.num_params} parameters, local model {num_params}"
        )
    codec_for_header(snapshot.codec)
    ids = snapshot.block_ids
    if not 1 <= snapshot.blocks <= max(num_params, 1) or (snapshot.blocks == 1 and ids):
        raise ExchangeRefused("malformed", f"{snapshot.blocks} blocks of {num_params} values")
    if ids and (list(ids) != sorted(set(ids)) or ids[-1] >= snapshot.blocks):
        raise ExchangeRefused("index_out_of_range", f"block ids {ids} of {snapshot.blocks}")


def half_squared_distance(own: np.ndarray, peer: np.ndarray) -> float:
    """``0.5 * ||peer - own||^2`` in float64: one exchange's sample of the consensus distance."""
    diff = peer.astype(np.float64) - own.astype(np.float64)
    return 0.5 * float(np.dot(diff, diff))


def increment(
    own: np.ndarray, peer: np.ndarray, alpha: float, out: np.ndarray | None = None
) -> np.ndarray:
    """The move toward the peer: ``alpha * (peer - own)`` (exact negative of the peer's).

    ``out``: where to write it (a spare vector, gossip/averaging/spares.py).
    """
    delta: np.ndarray = np.subtract(peer, own, out=out)
    delta *= np.float32(alpha)  # in place: one 10M temporary less (the same bits)
    return delta
