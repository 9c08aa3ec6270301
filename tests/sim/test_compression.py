"""Compressed gossip on the in-memory network: mass kept, consensus, references, refusals."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from typing import Any

import numpy as np
import pytest

from gossip.averaging.compressed import ResponderPending
from gossip.averaging.pairwise import Snapshot
from gossip.averaging.references import BLAKE2B_PAYLOADS, CRC_PAYLOADS, next_version
from gossip.averaging.spares import LIMIT, PER_PAIR
from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork

from .conftest import consensus_distance, make_peers

CODECS = ["none", "fp16", "int8", "qsgd:7", "sign", "topk:0.1", "topk:0.01", "topk:0.01:sign",
          "randk:0.1", "blocks:4+int8", "blocks:3+none"]  # fmt: skip


def ready(peers: list[Node]) -> list[Node]:
    for peer in peers:  # a catch-up phase (checkpoint work) gates exchanges until set
        event = getattr(peer, "_ready", None)
        if event is not None:
            event.set()
    return peers


def spread(peers: list[Node], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    for peer in peers:
        peer.replica.params[:] += rng.standard_normal(peer.replica.num_params).astype(np.float32)
    return np.mean([p.replica.params.astype(np.float64) for p in peers], axis=0)


@pytest.mark.parametrize("codec", CODECS)
def test_mean_is_kept_and_models_agree_under_every_codec(codec: str) -> None:
    network = InMemoryNetwork(seed=0)
    peers = ready(make_peers(8, network, max_steps=0, compression=codec))
    before = spread(peers)
    distance = consensus_distance(peers)
    pick = random.Random(0)
    for _ in range(300):
        i, j = pick.sample(range(8), 2)
        assert peers[i].exchange_with(peers[j].id, peers[j].address), peers[i].refusals
    after = np.mean([p.replica.params.astype(np.float64) for p in peers], axis=0)
    assert np.linalg.norm(after - before) / np.linalg.norm(before) < 1e-6
    assert consensus_distance(peers) < distance  # disagreement shrinks
    if codec in ("none", "fp16", "int8", "blocks:3+none"):
        assert consensus_distance(peers) < 1e-3 * distance


def test_pair_references_stay_identical_and_follow_the_move() -> None:
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, max_steps=0, compression="topk:0.01"))
    spread([a, b])
    start = np.linalg.norm(a.replica.params - b.replica.params)
    for _ in range(400):
        assert a.exchange_with(b.id, b.address)
        ab = a.exchanger.mixer.store._pairs.get(b.id)
        ba = b.exchanger.mixer.store._pairs.get(a.id)
        assert ab is not None and ba is not None
        np.testing.assert_array_equal(ab.own, ba.peer)  # bit for bit on both sides
        np.testing.assert_array_equal(ab.peer, ba.own)
    # only the residual x - h is left to send: the move itself is never sent back, so
    # with training frozen the pair reaches the exact average of the two models
    assert np.linalg.norm(a.replica.params - b.replica.params) < 1e-3 * start


def test_references_are_bounded_reported_and_eviction_means_a_full_exchange() -> None:
    network = InMemoryNetwork(seed=0)
    num_params = 6570  # mlp:64,32 on digits
    peers = ready(make_peers(4, network, max_steps=0, compression="topk:0.01",
                             reference_memory=2.5 * 8 * num_params / (1 << 20)))  # fmt: skip
    a = peers[0]
    for other in peers[1:]:
        assert a.exchange_with(other.id, other.address)
    status = a.status()
    assert status.references.count == 2 and status.references.evictions == 1
    assert status.references.bytes == 2 * 2 * 4 * num_params
    assert "full" not in status.bytes.by_codec  # first contacts start from the shared model
    assert a.exchange_with(peers[1].id, peers[1].address)  # evicted: a full exchange
    by_codec = a.status().bytes.by_codec
    assert by_codec["full"].sent > 2 * num_params > by_codec["topk:0.01"].sent / 3


@pytest.mark.parametrize("codec", ["none", "topk:0.03:sign", "blocks:4+int8"])
def test_bytes_per_codec_are_the_bytes_on_the_wire_at_both_ends(codec: str) -> None:
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, max_steps=0, compression=codec))
    spread([a, b])
    for _ in range(5):  # a starting exchange, then continuing ones (headers left out)
        assert a.exchange_with(b.id, b.address) and b.exchange_with(a.id, a.address)
    for peer in (a, b):
        counted = peer.exchanger.bytes_by_codec().values()
        assert sum(c["sent"] for c in counted) == peer.transport.traffic.sent
        assert sum(c["received"] for c in counted) == peer.transport.traffic.received
    assert a.transport.traffic.sent == b.transport.traffic.received > 0
    if codec == "topk:0.03:sign":  # a continuing exchange of mlp:64,32: 2 payloads + ~100 bytes
        payloads = 2 * len(a.exchanger.mixer.spec.codec.encode(a.replica.params, 1))
        before = a.transport.traffic.sent + a.transport.traffic.received
        assert a.exchange_with(b.id, b.address)
        after = a.transport.traffic.sent + a.transport.traffic.received
        assert after - before < payloads + 110, (after - before, payloads)


def codecs_sent(a: Node, b: Node, exchanges: int, train: bool = False) -> list[set[str]]:
    """The codecs of ``a``'s offers, exchange by exchange (a step on each side before each)."""
    codecs = []
    for _ in range(exchanges):
        if train:
            a.trainer.step()
            b.trainer.step()
        sent = {k: v["sent"] for k, v in a.exchanger.bytes_by_codec().items()}
        assert a.exchange_with(b.id, b.address)
        now = a.exchanger.bytes_by_codec()
        codecs.append({k for k, v in now.items() if v["sent"] != sent.get(k, 0)})
    return codecs


def test_a_training_pair_far_apart_codes_in_int8_until_it_is_close() -> None:
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, compression="sign"))
    spread([a, b])  # differences as large as the parameters: sign would remove ~40% a time
    codecs = codecs_sent(a, b, 5, train=True)
    assert codecs[0] == {"int8"} and codecs[-1] == {"sign"}


def test_a_pair_that_does_not_train_codes_in_int8_until_it_agrees() -> None:
    """Idle, a difference holds only averaging moves: int8 until agreement, then sign."""
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, max_steps=0, compression="sign"))
    spread([a, b])
    distance = consensus_distance([a, b])
    codecs = codecs_sent(a, b, 5)
    assert codecs[:2] == [{"int8"}, {"int8"}] and codecs[-1] == {"sign"}
    assert consensus_distance([a, b]) < 1e-9 * distance


def test_a_lost_verdict_is_detected_and_the_next_exchange_resets_the_pair() -> None:
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, max_steps=0, compression="topk:0.01"))
    spread([a, b])
    assert a.exchange_with(b.id, b.address)
    b.exchanger.mixer.store.drop(a.id)  # as if b never got the verdict / restarted
    before_a, before_b = a.replica.params.copy(), b.replica.params.copy()
    assert not a.exchange_with(b.id, b.address)
    assert a.refusals == {"reference_mismatch": 1} == b.refusals
    np.testing.assert_array_equal(a.replica.params, before_a)
    np.testing.assert_array_equal(b.replica.params, before_b)
    total = a.replica.params.astype(np.float64) + b.replica.params
    assert a.exchange_with(b.id, b.address)  # full exchange, then back to top-k
    for _ in range(4):  # after int8 while the pair (not training) still differs
        assert a.exchange_with(b.id, b.address)
    assert set(a.status().bytes.by_codec) - {"int8"} == {"topk:0.01", "full"}
    np.testing.assert_allclose(a.replica.params + b.replica.params.astype(np.float64), total,
                               atol=1e-5)  # fmt: skip


def test_a_restarted_peer_gets_a_full_exchange() -> None:
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, max_steps=0, compression="sign"))
    assert a.exchange_with(b.id, b.address) and b.exchange_with(a.id, a.address)
    network.handlers.pop(b.address)
    (b2,) = ready(
        make_peers(1, network, max_steps=0, compression="sign", id="p1", listen=b.address)
    )
    assert not a.exchange_with(b2.id, b2.address)  # a's references name b's old generation
    assert a.refusals == {"reference_mismatch": 1}
    assert a.exchange_with(b2.id, b2.address)
    assert "full" in a.status().bytes.by_codec


def test_mixed_codecs_interoperate_the_initiator_decides() -> None:
    network = InMemoryNetwork(seed=0)
    a = ready(make_peers(1, network, max_steps=0, compression="int8"))[0]
    b = ready(make_peers(1, network, max_steps=0, compression="topk:0.01", id="b",
                         listen="simb:1"))[0]  # fmt: skip
    spread([b])
    for initiator, responder in ((a, b), (b, a)):
        a.trainer.step()  # a pair that trains keeps its codec once close (idle ones: int8)
        b.trainer.step()
        total = a.replica.params.astype(np.float64) + b.replica.params
        assert initiator.exchange_with(responder.id, responder.address)
        np.testing.assert_allclose(a.replica.params + b.replica.params.astype(np.float64),
                                   total, atol=1e-5)  # fmt: skip
    assert set(b.status().bytes.by_codec) == {"int8", "topk:0.01"}


def test_nan_is_refused_under_compression_and_nobody_moves() -> None:
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, max_steps=0, compression="int8"))
    b.replica.params[3] = np.nan
    before_a, before_b = a.replica.params.copy(), b.replica.params.copy()
    assert not a.exchange_with(b.id, b.address)
    assert a.refusals == {"non_finite": 1}
    np.testing.assert_array_equal(a.replica.params, before_a)
    np.testing.assert_array_equal(b.replica.params, before_b)


@pytest.mark.parametrize(("codec", "tolerance"), [("int8", 0.01), ("sign", 0.02)])
def test_compressed_gossip_trains_close_to_float32(codec: str, tolerance: float) -> None:
    accuracy = {}
    for spec in ("none", codec):
        network = InMemoryNetwork(seed=1)
        peers = ready(make_peers(4, network, compression=spec))
        pick = random.Random(1)
        for _ in range(60):
            for peer in peers:
                for _ in range(10):
                    peer.trainer.step()
            for _ in range(2):
                i, j = pick.sample(range(4), 2)
                peers[i].exchange_with(peers[j].id, peers[j].address)
        accuracy[spec] = float(np.mean([p.trainer.evaluate().metric for p in peers]))
    assert accuracy[codec] >= accuracy["none"] - tolerance, accuracy


def test_spare_vectors_are_reused_bounded_and_never_shared() -> None:
    network = InMemoryNetwork(seed=0)
    num_params = 6570  # mlp:64,32 on digits: two pairs' references fit, not three
    peers = ready(make_peers(4, network, max_steps=0, compression="sign",
                             reference_memory=2.5 * 8 * num_params / (1 << 20)))  # fmt: skip
    for peer in peers:
        peer.exchanger.mixer.warm_up()  # maps the spares, as a node does before exchanging
        assert peer.exchanger.mixer.spares.count == LIMIT + PER_PAIR
    before = spread(peers)
    pick = random.Random(1)
    for _ in range(40):
        i, j = pick.sample(range(4), 2)
        a, b = peers[i], peers[j]
        if pick.random() < 0.2:  # a lost verdict now and then: a reset, then a full exchange
            b.exchanger.mixer.store.drop(a.id)
        a.exchange_with(b.id, b.address)
        for peer in peers:
            mixer = peer.exchanger.mixer
            assert mixer.spares.count <= LIMIT + PER_PAIR
            held = [r for pair in mixer.store._pairs.values() for r in (pair.own, pair.peer)]
            held += [peer.replica.params, mixer.base]
            for spare in mixer.spares._free:  # a spare is nobody's memory any more
                assert not any(np.shares_memory(spare, h) for h in held)
        ab, ba = a.exchanger.mixer.store._pairs.get(b.id), b.exchanger.mixer.store._pairs.get(a.id)
        if ab is not None and ba is not None and ab.version == ba.version:
            np.testing.assert_array_equal(ab.own, ba.peer)  # bit for bit on both sides
            np.testing.assert_array_equal(ab.peer, ba.own)
    for peer in peers:  # evictions happened, and what was given back stays bounded
        assert peer.status().references.evictions > 0
        assert peer.exchanger.mixer.spares.count <= LIMIT
    after = np.mean([p.replica.params.astype(np.float64) for p in peers], axis=0)
    assert np.linalg.norm(after - before) / np.linalg.norm(before) < 1e-6


def test_codec_none_adds_its_increments_from_one_spare_vector() -> None:
    network = InMemoryNetwork(seed=0)
    peers = ready(make_peers(3, network, max_steps=0, compression="none"))
    before = spread(peers)
    pick = random.Random(2)
    kept: dict[str, int] = {}
    for _ in range(12):
        i, j = pick.sample(range(3), 2)
        assert peers[i].exchange_with(peers[j].id, peers[j].address)
        for peer in peers:
            spares = peer.exchanger.mixer.spares._free
            assert len(spares) <= 1  # one increment at a time, given back once applied
            for spare in spares:
                assert not np.shares_memory(spare, peer.replica.params)
                kept.setdefault(peer.id, id(spare))
                assert id(spare) == kept[peer.id]  # the same vector, exchange after exchange
    assert len(kept) == 3  # every peer kept one
    after = np.mean([p.replica.params.astype(np.float64) for p in peers], axis=0)
    assert np.linalg.norm(after - before) / np.linalg.norm(before) < 1e-6


def test_a_node_maps_the_references_of_its_seed_peers_within_the_budget() -> None:
    network = InMemoryNetwork(seed=0)
    num_params = 6570  # mlp:64,32 on digits: two pairs' references fit the budget, not three
    budget = 2.5 * 8 * num_params / (1 << 20)
    seeds = tuple(f"sim{i}:1" for i in range(1, 8))
    few, many = ready(make_peers(1, network, compression="sign", peers=seeds[:1]) +
                      make_peers(1, network, compression="sign", peers=seeds, id="q",
                                 listen="simq:1", reference_memory=budget))  # fmt: skip
    few.warm_up()
    many.warm_up()
    assert few.exchanger.mixer.spares.count == LIMIT + PER_PAIR
    assert many.exchanger.mixer.spares.count == LIMIT + PER_PAIR * 2  # capped by the budget


def _capture(node: Node) -> list[tuple[bytes, bytes]]:
    """The (offer, reply) payloads of every offer ``node`` accepts."""
    seen: list[tuple[bytes, bytes]] = []
    accept = node.exchanger.mixer.accept

    def recording(offer: Snapshot) -> ResponderPending:
        pending = accept(offer)
        seen.append((bytes(offer.payload), bytes(pending.reply.payload)))
        return pending

    node.exchanger.mixer.accept = recording  # type: ignore[method-assign]
    return seen


def _headers_say(node: Node, chain: int) -> None:
    """Every snapshot ``node`` sends names ``chain``, as a release before ref_chain sends 0."""
    build = node.exchanger.mixer._snapshot

    def naming(*args: Any, **kwargs: Any) -> Snapshot:
        return dataclasses.replace(build(*args, **kwargs), ref_chain=chain)

    node.exchanger.mixer._snapshot = naming  # type: ignore[method-assign]


def test_an_offer_of_the_old_chain_is_answered_and_chained_with_it() -> None:
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, max_steps=0, compression="int8"))
    spread([a, b])
    _headers_say(a, BLAKE2B_PAYLOADS)  # a peer of a release before the field
    seen = _capture(b)
    versions = []
    for _ in range(3):
        assert a.exchange_with(b.id, b.address), a.refusals
        ab, ba = a.exchanger.mixer.store._pairs[b.id], b.exchanger.mixer.store._pairs[a.id]
        assert ab.version == ba.version
        versions.append(ab.version)
    offer, reply = seen[-1]  # the old chain: blake2b over the previous version and both payloads
    old = hashlib.blake2b(versions[1].to_bytes(8, "little") + offer + reply, digest_size=8)
    assert versions[2] == int.from_bytes(old.digest(), "little")
    assert next_version(versions[1], offer, reply) != versions[2]  # ours differs: the field says


def test_a_reply_naming_a_newer_chain_than_the_offer_is_refused() -> None:
    network = InMemoryNetwork(seed=0)
    a, b = ready(make_peers(2, network, max_steps=0, compression="int8"))
    spread([a, b])
    _headers_say(a, BLAKE2B_PAYLOADS)
    _headers_say(b, CRC_PAYLOADS)
    before_a, before_b = a.replica.params.copy(), b.replica.params.copy()
    assert not a.exchange_with(b.id, b.address)
    assert a.refusals == {"malformed": 1}
    np.testing.assert_array_equal(a.replica.params, before_a)
    np.testing.assert_array_equal(b.replica.params, before_b)
