"""The pairwise rule with any codec: differences against per-neighbour references (CHOCO).

For a pair (i, j) both sides hold, bit for bit, ``h_i`` (i's parameters as j
knows them) and ``h_j`` (:mod:`gossip.averaging.references`). One exchange:

1. i sends ``q_i = C(x_i - h_i)``; j checks it and sends ``q_j = C(x_j - h_j)``;
2. both compute ``h_i' = h_i + dec(q_i)`` and ``h_j' = h_j + dec(q_j)`` from the
   same bytes (each decodes its own message too), so the copies stay identical;
3. i moves ``x_i += d`` with ``d = gamma * (h_j' - h_i')`` and says so; only
   then j moves ``x_j -= d``; both keep ``h_i' + d``, ``h_j' - d`` and a
   chained version.

The two increments are exact negatives (IEEE subtraction is antisymmetric),
so the pair's sum, hence the mean, is kept under every codec.
Both sides know the move exactly, so the references follow it for free and
the next difference holds only what changed elsewhere (training, other
neighbours). CHOCO-SGD leaves the move in the difference, to be sent through
the codec; with top-1% that made every step above ~0.05 unstable here, while
with the move in the references gamma = 0.5 (plain averaging) works for every
codec (bench/compression.py).
A codec that drops or rounds part of ``x - h`` leaves it in ``x - h``, to be
sent in a later exchange: the reference *is* the error feedback of the biased
codecs (``q = C(x - h_old - dec(q_old))`` is exactly EF-compression of the
model's change plus the previous residual). The residual is therefore not a
separate debt: a restart, which loses the references, loses no parameter
mass, only the pair's shared copies, and the next exchange starts them anew.

How a pair starts (``ref_version = 0`` in the header):

* **base**: first contact, both sides hold the same initial model (the header
  carries its hash): the references start from it, for free;
* **full**: after a reference mismatch, a lost verdict, an eviction or a
  restart: the references start from zero and the exchange sends the whole
  vector in fp16 (2 bytes per value), both directions.

A continuing exchange names its version; a responder whose version or record
of the sender's generation differs refuses it (``reference_mismatch``) and
both sides drop the pair, so the next exchange is a full one. The
initiator's references advance when it applies, the responder's only on the
"applied" verdict: when the verdict is lost the versions differ, and the next
exchange detects it.

Partial exchange (``blocks:K``): the vector is cut into K contiguous blocks
and a continuing exchange carries one of them, chosen at random by the
initiator; the responder answers with the same block. Starting exchanges
carry every block. Codec ``none`` without blocks needs no reference: it is the
plain rule of :mod:`gossip.averaging.pairwise`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np

from gossip.averaging.normalizer import Block, NormalizerShare, check
from gossip.averaging.pairwise import (
    Identity,
    Snapshot,
    check_header,
    increment,
)
from gossip.averaging.references import (
    LATEST_CHAIN,
    PairReference,
    ReferenceStore,
    next_version,
    start_version,
    vector_hash,
)
from gossip.averaging.spares import LIMIT, PER_PAIR, Spares
from gossip.compression import Codec, CompressionSpec, codec_for_header, parse_spec
from gossip.compression.base import decode_into, warm_up
from gossip.compression.fp16 import Fp16Codec
from gossip.compression.int8 import Int8Codec
from gossip.errors import ExchangeRefused
from gossip.replica import Replica

FULL_CODEC: Codec = Fp16Codec()
"""Dense codec of a full exchange (references starting from zero)."""
FAR_CODEC: Codec = Int8Codec()
"""What a continuing exchange is coded with while the pair is far apart (see FAR)."""
FAR = 0.05
"""A side whose difference to its reference is over this fraction of its parameters'
norm codes it with FAR_CODEC, when the pair's codec is coarser: a sign codec removes
about 40% of a difference per exchange, int8 about 99%. Training moves a model by
far less than this between two exchanges; models that started apart (different
seeds, a rejoin) or a reference that fell far behind do not.

A peer that took no training step since the pair's last exchange (averaging only,
training over) uses FAR_CODEC for any difference over AGREED: its difference then
holds only the moves of its exchanges with other neighbours, which are the
averaging itself, not noise. Sign carries 40% of such a move and leaves the rest
in the references, so the next exchange adds the pair's distance plus up to 60%
of both moves: with 8 peers a peer's distance to the mean grew up to 1.44x in
one exchange (sequential, no concurrency) and 2.56x between two 0.2 s samples.
At 8 bits a value int8 leaves 0.4%, more progress per byte than 8 sign
exchanges (0.6^8 = 1.7%), and far fewer exchanges."""

RAW, BASE, FULL, CONTINUE = "raw", "base", "full", "continue"


AGREED = 1e-12
"""Two models whose squared distance is below this fraction of one's squared norm
(a relative distance of 1e-6, float32's rounding of a mean) agree: a peer with no
training step to share gossips on its timer again instead of at once."""


@dataclass(frozen=True)
class Mixing:
    """How a peer compresses its exchanges (from ``--compression`` and friends)."""

    spec: CompressionSpec = field(default_factory=lambda: parse_spec("none"))
    consensus_step: float | None = None
    """Gamma; None: the replica's ``alpha`` (0.5 works for every codec, bench/compression.py)."""
    reference_bytes: int = 256 << 20
    """Memory for per-neighbour references; at least one neighbour is always kept."""
    seed: int = 0


def block_slices(size: int, blocks: int, ids: tuple[int, ...]) -> list[slice]:
    """The slices of ``ids`` among ``blocks`` contiguous blocks (all of it for no ids)."""
    if not ids:
        return [slice(0, size)]
    return [slice(b * size // blocks, (b + 1) * size // blocks) for b in ids]


def gather(values: np.ndarray, slices: list[slice]) -> np.ndarray:
    """The selected parts of ``values`` as one vector, to read: a view when it is one part."""
    if len(slices) == 1:
        return values[slices[0]]
    return np.concatenate([values[s] for s in slices])


def scatter(values: np.ndarray, slices: list[slice], parts: np.ndarray) -> None:
    start = 0
    for s in slices:
        end = start + (s.stop - s.start)
        values[s] = parts[start:end]
        start = end


def raw_bytes(values: np.ndarray) -> bytes:
    """The float32 bytes of a private copy, without copying them again (40 ms at 10M values).

    A read-only view, typed ``bytes`` as ``Snapshot.payload`` is (see
    ``wire._received_payload``, which does the same for received payloads).
    """
    view = memoryview(np.ascontiguousarray(values, dtype="<f4")).cast("B")  # type: ignore[arg-type]
    return cast(bytes, view.toreadonly())


def plus(decoded: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``known + decoded``, into ``decoded`` when it is a fresh vector of its own.

    A codec's decode returns a new array (none's is a read-only view of the
    payload): adding into it spares a 40 MB vector at 10M parameters. IEEE
    addition commutes, so the bits are those of ``known + decoded`` either way.
    """
    total: np.ndarray
    if decoded.flags.writeable and decoded.dtype == known.dtype:
        total = np.add(decoded, known, out=decoded)
    else:
        total = known + decoded
    return total


def moved(own: np.ndarray, peer: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair's references after a move of ``delta`` here and ``-delta`` there (step 3).

    In place: both are this exchange's own new vectors (decoded sums), never shared.
    """
    own += delta
    peer -= delta
    return own, peer


def _squared_norm(values: np.ndarray, what: str) -> float:
    """``||values||^2``; ExchangeRefused unless every value is finite.

    One pass where ``isfinite`` takes two: the sum is finite when every value is,
    except for float32 overflow (values beyond ~1e19), which the slow path tells apart.
    """
    squared = float(np.dot(values, values))
    if not np.isfinite(squared):
        if not np.isfinite(values).all():
            raise ExchangeRefused("non_finite", f"{what} contains NaN or Inf")
        squared = float(np.dot(values.astype(np.float64), values))
    return squared


@dataclass
class Outgoing:
    """An offer in flight, and what the initiator needs to finish it."""

    peer_id: str
    mode: str
    codec: Codec
    slices: list[slice]
    offer: Snapshot
    new_own: np.ndarray
    ref: PairReference | None
    stamp: tuple[int, int, int] = (0, 0, 0)
    """What it was built from: the replica's writes, the step, the references' version."""
    normalizer: Block | None = None
    """The block of our shared normalizer the offer carries, as both sides decode it."""


class ResponderPending:
    """An accepted offer waiting for the initiator's verdict (see ResponderSession)."""

    def __init__(
        self,
        mixer: Mixer,
        offer: Snapshot,
        reply: Snapshot,
        mode: str,
        slices: list[slice],
        delta: np.ndarray,
        refs: tuple[PairReference | None, np.ndarray, np.ndarray, int],
    ) -> None:
        self._mixer = mixer
        self.offer = offer
        self.reply = reply
        self.mode = mode
        self._slices = slices
        self._delta = delta
        self._refs = refs
        self.normalizer: tuple[Block, Block] | None = None
        """Our block of the shared normalizer and the offer's, when both carry one."""

    def commit(self, applied: bool) -> None:
        mixer, sender = self._mixer, self.offer.sender_id
        try:
            if not applied:  # nothing of this exchange is kept: its vectors are spare
                raw = self.mode == RAW  # (its own and peer vectors are the reply and offer)
                mixer.spares.give(self._delta, *(() if raw else self._refs[1:3]))
                return
            mixer.replica.add(self._delta, self._slices)
            if self.normalizer is not None and mixer.normalizer is not None:
                mixer.normalizer.apply(*self.normalizer)
            if self.mode == RAW:
                mixer.spares.give(self._delta)
                return
            ref, new_own, new_peer, version = self._refs
            mixer.keep(
                sender,
                self.offer.generation,
                ref,
                self._slices,
                new_own,
                new_peer,
                version,
                self.reply.step,
            )
            mixer.spares.give(self._delta)
        finally:
            if self.mode != RAW:
                mixer.store.release(sender)


class Mixer:
    """One peer's side of the rule: builds offers and replies, applies them, keeps references.

    Pure: no clock, no I/O, no lock; randomness from ``mixing.seed``. Its owner
    runs one exchange at a time (gossip/schedule.py); a second one with the same
    neighbour is refused ``busy`` here too.
    """

    def __init__(
        self,
        replica: Replica,
        mixing: Mixing,
        identity: Callable[[], Identity],
        step: Callable[[], int],
        base: np.ndarray | None = None,
        check_delta: Callable[[np.ndarray], np.ndarray] | None = None,
        free_speed: Callable[[], float] = lambda: 0.0,
        normalizer: NormalizerShare | None = None,
    ) -> None:
        self.replica = replica
        self.normalizer = normalizer
        """The model's shared Adam normalizer, averaged beside the parameters; None: not shared."""
        self.spec = mixing.spec
        self.raw = self.spec.codec.name == "none"
        self.gamma = mixing.consensus_step or replica.alpha
        self.base = (base if base is not None else replica.params).copy()
        self.base_hash = vector_hash(self.base)
        self.store = ReferenceStore(mixing.reference_bytes, 2 * self.base.nbytes)
        self.spares = Spares(self.base.size)
        """Vectors of finished exchanges for the next ones (codec ``none``: the increment)."""
        self._rng = np.random.default_rng([mixing.seed, 0x6D6978])
        self._identity = identity
        self._step = step
        self._free_speed = free_speed
        self.check_delta = check_delta
        """Robust averaging (gossip/robust.py): may clip an increment or refuse it."""
        self._distances: dict[str, float] = {}
        self.apart = False
        """The last exchange we started found the pair apart (see AGREED)."""
        self._kept: Outgoing | None = None
        """An offer refused ``busy``, for the retry while nothing it was built from moved."""

    # ------------------------------------------------------------ initiator

    def warm_up(self, neighbours: int = 1) -> None:
        """Load the compiled loops of the codecs this rule sends with (its own, a full
        exchange's and a far pair's) before the first exchange needs them
        (:func:`compression.base.warm_up`). A peer's offer in another codec still loads
        that one's on first use. Maps the spare vectors too, with the references of
        ``neighbours`` pairs within the memory budget (gossip/averaging/spares.py)."""
        if not self.raw:
            for codec in (self.spec.codec, FULL_CODEC, FAR_CODEC):
                warm_up(codec)
            if self.spec.blocks == 1:
                pairs = min(max(neighbours, 1), self.store.max_pairs)
                self.spares.fill(LIMIT + PER_PAIR * pairs)

    def offer(self, peer_id: str) -> Outgoing:
        """Build the offer for ``peer_id``; ExchangeRefused('busy') when one is already running.

        The offer refused ``busy`` last is offered again, unchanged, when it was
        for this peer and nothing it was built from moved since (see :meth:`_current`):
        the retry of a 10M offer costs no new snapshot and no encoding.
        """
        kept, self._kept = self._kept, None  # at most one kept: freed before building anew
        if self.raw:
            if kept is not None and self._current(kept, peer_id, None):
                return kept
            return self._with_normalizer(self._raw_offer(peer_id))
        ref = self.store.acquire(peer_id)
        if kept is not None and self._current(kept, peer_id, ref):
            return kept
        kept = None
        try:
            codec: Codec = self.spec.codec
            ids: tuple[int, ...] = ()
            own_ref: np.ndarray | None
            idle = False
            if ref is not None:
                mode, own_ref, version, base = CONTINUE, ref.own, ref.version, 0
                ids = self._choose_blocks()
                idle = self._idle(ref)
            elif self.store.met(peer_id):
                mode, own_ref, version, base, codec = FULL, None, 0, 0, FULL_CODEC
            else:
                mode, own_ref, version, base = BASE, self.base, 0, self.base_hash
            slices = block_slices(self.replica.num_params, self.spec.blocks, ids)
            stamp = self._stamp(ref)  # before the copy (see _raw_offer)
            x = self._snapshot_of(slices)
            known = gather(own_ref, slices) if own_ref is not None else None
            codec, payload, seed, new_own = self._encode(codec, x, known, idle)
            offer = self._snapshot(codec.name, payload, seed, version, base, self._blocks(ids), ids)
            return self._with_normalizer(
                Outgoing(peer_id, mode, codec, slices, offer, new_own, ref, stamp)
            )
        except BaseException:
            self.store.release(peer_id)
            raise

    def _with_normalizer(self, out: Outgoing) -> Outgoing:
        """``out`` carrying the next block of our shared normalizer, when we share one."""
        offered = self.normalizer.offer() if self.normalizer is not None else None
        if offered is None:
            return out
        payload, out.normalizer = offered
        out.offer = replace(out.offer, normalizer=payload, normalizer_offset=out.normalizer.offset)
        return out

    def _raw_offer(self, peer_id: str) -> Outgoing:
        ids = self._choose_blocks()
        slices = block_slices(self.replica.num_params, self.spec.blocks, ids)
        stamp = self._stamp(None)  # before the copy: a write meanwhile makes it stale, not lost
        own = self.replica.gather(slices)
        offer = self._snapshot("none", raw_bytes(own), 0, 0, 0, self._blocks(ids), ids)
        return Outgoing(peer_id, RAW, self.spec.codec, slices, offer, own, None, stamp)

    def _stamp(self, ref: PairReference | None) -> tuple[int, int, int]:
        return (self.replica.writes, self._step(), 0 if ref is None else ref.version)

    def _current(self, kept: Outgoing, peer_id: str, ref: PairReference | None) -> bool:
        """``kept`` is what :meth:`offer` would build now, bar the codec's random seed.

        Same peer, same pair references (the same object at the same version, or
        none), and the parameters not written since (no increment, no step).
        An offer whose parameters moved would be answered from a stale snapshot:
        its increment lands on a model that other exchanges moved, which can overshoot
        (gossip/schedule.py); rebuilding it is what keeps one exchange at a time exact.
        """
        return kept.peer_id == peer_id and kept.ref is ref and kept.stamp == self._stamp(ref)

    def finish(self, out: Outgoing, reply: Snapshot) -> None:
        """Check the reply and apply our increment (and keep the references); ExchangeRefused.

        The shared normalizer's block moves only when both carried one, and only after the
        parameters' increment applied."""
        check_header(reply, self.replica.fingerprint, self.replica.num_params)
        peer = self._reply_normalizer(out, reply)
        self._finish(out, reply)
        if peer is not None and out.normalizer is not None and self.normalizer is not None:
            self.normalizer.apply(out.normalizer, peer)

    def _reply_normalizer(self, out: Outgoing, reply: Snapshot) -> Block | None:
        """The reply's block, checked against what we offered; None: it carries none."""
        if not reply.normalizer:
            return None
        mine = out.normalizer
        if mine is None or reply.normalizer_offset != mine.offset:
            raise ExchangeRefused("bad_normalizer", "the reply answers no normalizer block of ours")
        return check(reply.normalizer, mine.offset, mine.offset + mine.values.size)

    def _finish(self, out: Outgoing, reply: Snapshot) -> None:
        offer = out.offer
        mine = (offer.blocks, offer.block_ids, offer.ref_version, offer.ref_base)
        theirs = (reply.blocks, reply.block_ids, reply.ref_version, reply.ref_base)
        if mine != theirs or (reply.codec != offer.codec and reply.codec not in self._answers(out)):
            raise ExchangeRefused("malformed", f"reply {theirs} does not answer offer {mine}")
        if reply.ref_chain > offer.ref_chain:
            raise ExchangeRefused("malformed", f"reply chains {reply.ref_chain}, a newer chain")
        size = out.new_own.size
        codec = out.codec if reply.codec == offer.codec else FAR_CODEC
        if out.mode == RAW:
            peer = codec.decode(reply.payload, size, reply.seed)  # checked in the increment
            delta = self._move(out, peer, self.spares.take(size))
            self.replica.add(delta, out.slices)
            self.spares.give(delta)
            return
        peer = self._decode(codec, reply.payload, size, reply.seed)  # checked in the increment
        if out.mode == CONTINUE:
            assert out.ref is not None
            if out.ref.peer_generation != reply.generation:
                raise ExchangeRefused("reference_mismatch", "the peer restarted")
            new_peer = plus(peer, gather(out.ref.peer, out.slices))
            version = out.ref.version
        else:
            new_peer = plus(peer, self.base) if out.mode == BASE else peer
            version = start_version(offer.ref_base, offer.generation, reply.generation)
        delta = self._move(out, new_peer, self.spares.take(size))
        self.replica.add(delta, out.slices)
        version = next_version(version, offer.payload, reply.payload, reply.ref_chain)
        own, peer_ref = moved(out.new_own, new_peer, delta)
        step = out.offer.step
        self.keep(out.peer_id, reply.generation, out.ref, out.slices, own, peer_ref, version, step)
        self.spares.give(delta)

    def _move(self, out: Outgoing, peer: np.ndarray, into: np.ndarray | None = None) -> np.ndarray:
        """Our checked increment toward ``peer``, and this exchange's consensus distance sample.

        The sample is ``0.5 * ||peer - own||^2`` of the two decoded estimates, read
        off the increment in the same pass (a partial ``blocks:K`` exchange sees a
        random part of the vector: scaled up).
        """
        move = increment(out.new_own, peer, self.gamma, into)
        scale = self.replica.num_params / max(move.size, 1)
        squared = _squared_norm(move, "increment") / (self.gamma * self.gamma)
        self._distances[out.peer_id] = 0.5 * scale * squared
        own = float(np.dot(out.new_own, out.new_own))
        self.apart = squared > AGREED * own
        return self._robust(move)

    def take_distance(self, peer_id: str) -> float | None:
        """The sample of the last exchange we started with ``peer_id`` (once; None: none)."""
        return self._distances.pop(peer_id, None)

    def done(self, out: Outgoing, reason: str = "") -> None:
        """The offer is over (applied or not): free the pair; a mismatch drops its references.

        An offer refused ``busy`` (at its header: nothing was applied on either side)
        is kept for the retry.
        """
        self._kept = out if reason == "busy" else None
        if out.mode == RAW:
            return
        if reason == "reference_mismatch":
            self.store.drop(out.peer_id)
        self.store.release(out.peer_id)

    # ------------------------------------------------------------ responder

    def accept(self, offer: Snapshot) -> ResponderPending:
        """Check a complete offer and prepare our reply; ExchangeRefused with a reason.

        An offer with a block of the sender's shared normalizer is answered with ours at the
        same offset when we share one (ExchangeRefused 'bad_normalizer' for a bad block)."""
        check_header(offer, self.replica.fingerprint, self.replica.num_params)
        answered = None
        if offer.normalizer and self.normalizer is not None:
            answered = self.normalizer.answer(offer.normalizer, offer.normalizer_offset)
        pending = self._accept(offer)
        if answered is not None:
            peer, payload, own = answered
            pending.reply = replace(pending.reply, normalizer=payload, normalizer_offset=own.offset)
            pending.normalizer = (own, peer)
        return pending

    def _accept(self, offer: Snapshot) -> ResponderPending:
        """The parameters' part of :meth:`accept`, once the header is checked."""
        codec = codec_for_header(offer.codec)
        gamma = offer.consensus_step or self.gamma
        if not 0.0 < gamma <= 1.0:
            raise ExchangeRefused("malformed", f"consensus step {gamma} is not in (0, 1]")
        slices = block_slices(self.replica.num_params, offer.blocks, offer.block_ids)
        size = sum(s.stop - s.start for s in slices)
        chain = min(offer.ref_chain, LATEST_CHAIN)  # one the initiator knows too
        if offer.codec == "none" and offer.ref_version == 0 and offer.ref_base == 0:
            peer = codec.decode(offer.payload, size, offer.seed)  # checked in the increment
            own = self.replica.gather(slices)
            delta = self._checked(increment(own, peer, gamma, self.spares.take(size)))
            reply = self._snapshot(
                "none", raw_bytes(own), 0, 0, 0, offer.blocks, offer.block_ids, gamma, chain
            )
            return ResponderPending(self, offer, reply, RAW, slices, delta, (None, own, peer, 0))
        sender = offer.sender_id
        ref = self.store.acquire(sender)
        try:
            mode, own_ref, peer_ref, version = self._responder_refs(offer, ref)
            peer = self._decode(codec, offer.payload, size, offer.seed)  # checked in the increment
            new_peer = plus(peer, gather(peer_ref, slices)) if peer_ref is not None else peer
            x = self._snapshot_of(slices)
            known = gather(own_ref, slices) if own_ref is not None else None
            idle = mode == CONTINUE and ref is not None and self._idle(ref)
            codec, payload, seed, new_own = self._encode(codec, x, known, idle)
            delta = self._checked(increment(new_own, new_peer, gamma, self.spares.take(size)))
            reply = self._snapshot(
                codec.name,
                payload,
                seed,
                offer.ref_version,
                offer.ref_base,
                offer.blocks,
                offer.block_ids,
                gamma,
                chain,
            )
            version = next_version(version, offer.payload, reply.payload, chain)
            own, peer_ref = moved(new_own, new_peer, delta)
            refs = (ref if mode == CONTINUE else None, own, peer_ref, version)
            return ResponderPending(self, offer, reply, mode, slices, delta, refs)
        except BaseException:
            self.store.release(sender)
            raise

    def _responder_refs(
        self, offer: Snapshot, ref: PairReference | None
    ) -> tuple[str, np.ndarray | None, np.ndarray | None, int]:
        """Which references this offer is coded against; refuses (and resets) a mismatch."""
        sender = offer.sender_id
        if offer.ref_version == 0:
            if offer.block_ids:
                raise ExchangeRefused("malformed", "a starting exchange carries every block")
            start = start_version(offer.ref_base, offer.generation, self._identity().generation)
            if offer.ref_base == 0:
                return FULL, None, None, start
            if offer.ref_base == self.base_hash and not self.store.met(sender):
                return BASE, self.base, self.base, start
            self.store.drop(sender)
            why = "a different initial model" if offer.ref_base != self.base_hash else "a restart"
            raise ExchangeRefused("reference_mismatch", f"{why}: a full exchange is needed")
        known = ref is not None and (ref.version, ref.peer_generation) == (
            offer.ref_version,
            offer.generation,
        )
        if ref is None or not known:
            self.store.drop(sender)
            raise ExchangeRefused(
                "reference_mismatch",
                f"reference version {offer.ref_version:x} unknown here: a full exchange is needed",
            )
        return CONTINUE, ref.own, ref.peer, ref.version

    # ------------------------------------------------------------ shared

    def _checked(self, delta: np.ndarray) -> np.ndarray:
        """A finite increment, passed through ``check_delta`` (both sides clip alike)."""
        _squared_norm(delta, "increment")
        return self._robust(delta)

    def _robust(self, delta: np.ndarray) -> np.ndarray:
        return delta if self.check_delta is None else self.check_delta(delta)

    def keep(
        self,
        peer_id: str,
        peer_generation: int,
        ref: PairReference | None,
        slices: list[slice],
        new_own: np.ndarray,
        new_peer: np.ndarray,
        version: int,
        step: int,
    ) -> None:
        """Store the pair's new references (both sides applied); ``step``: our snapshot's."""
        if ref is None:
            ref = PairReference(peer_generation, version, new_own, new_peer, step)
        elif new_own.size == ref.own.size:  # the whole vector: the new ones replace the old
            old = (ref.own, ref.peer)
            ref.own, ref.peer, ref.version, ref.step = new_own, new_peer, version, step
            self.spares.give(*old)
        else:
            scatter(ref.own, slices, new_own)
            scatter(ref.peer, slices, new_peer)
            ref.version, ref.step = version, step
        for evicted in self.store.commit(peer_id, ref):
            self.spares.give(evicted.own, evicted.peer)

    def _idle(self, ref: PairReference) -> bool:
        """We took no training step since the pair's last exchange (see _encode)."""
        return ref.step == self._step()

    def _answers(self, out: Outgoing) -> tuple[str, ...]:
        """The codecs a reply to ``out`` may use besides the offer's own: FAR_CODEC when far."""
        coded_against_references = out.mode in (BASE, CONTINUE)
        return (FAR_CODEC.name,) if coded_against_references and self._coarse(out.codec) else ()

    @staticmethod
    def _coarse(codec: Codec) -> bool:
        return codec.ratio(1 << 16) < FAR_CODEC.ratio(1 << 16)

    def _encode(
        self, codec: Codec, x: np.ndarray, known: np.ndarray | None, idle: bool = False
    ) -> tuple[Codec, bytes, int, np.ndarray]:
        """Encode ``x - known``; the codec used (FAR_CODEC when far), payload, seed, known + dec.

        Far is FAR of the parameters' norm; ``idle`` (no training step since the pair's
        last exchange), anything over AGREED: the difference then holds only moves of
        other exchanges, which a coarse codec carries in part and whose residual makes
        the next increment overshoot (see FAR).
        ``x`` is the caller's private snapshot: the difference is computed into it.
        """
        diff = x
        if known is not None:
            norm = float(np.dot(x, x)) if self._coarse(codec) else 0.0
            diff = np.subtract(x, known, out=x)
            far = AGREED if idle else FAR * FAR
            if norm and float(np.dot(diff, diff)) > far * norm:
                codec = FAR_CODEC
        seed = int(self._rng.integers(1, 1 << 62))  # drawn always: the block choice stays put
        if not codec.seeded:  # ignored by the codec: 0 keeps it out of the header (10 bytes)
            seed = 0
        payload = codec.encode(diff, seed)
        decoded = decode_into(codec, payload, diff.size, seed, diff)  # the difference is sent
        if decoded is not diff:
            self.spares.give(diff)
        if known is None and not decoded.flags.writeable:
            decoded = decoded.copy()
        return codec, payload, seed, decoded if known is None else plus(decoded, known)

    def _snapshot_of(self, slices: list[slice]) -> np.ndarray:
        """A private copy of the parameters in ``slices``, into a spare vector."""
        return self.replica.gather(slices, self.spares.take(sum(s.stop - s.start for s in slices)))

    def _decode(self, codec: Codec, payload: bytes, size: int, seed: int) -> np.ndarray:
        """A peer's payload decoded, into a spare vector when the codec can."""
        out = self.spares.take(size)
        decoded = decode_into(codec, payload, size, seed, out)
        if decoded is not out:
            self.spares.give(out)
        return decoded

    def _choose_blocks(self) -> tuple[int, ...]:
        if self.spec.blocks == 1:
            return ()
        return (int(self._rng.integers(self.spec.blocks)),)

    def _blocks(self, ids: tuple[int, ...]) -> int:
        return self.spec.blocks if ids else 1

    def _snapshot(
        self,
        codec: str,
        payload: bytes,
        seed: int,
        version: int,
        base: int,
        blocks: int,
        ids: tuple[int, ...],
        gamma: float | None = None,
        chain: int = LATEST_CHAIN,
    ) -> Snapshot:
        me = self._identity()
        return Snapshot(
            sender_id=me.id,
            generation=me.generation,
            address=me.address,
            step=self._step(),
            fingerprint=self.replica.fingerprint,
            num_params=self.replica.num_params,
            codec=codec,
            payload=payload,
            seed=seed,
            ref_version=version,
            ref_base=base,
            blocks=blocks,
            block_ids=ids,
            consensus_step=self.gamma if gamma is None else gamma,
            free_speed=self._free_speed(),
            ref_chain=chain,
        )
