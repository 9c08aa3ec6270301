"""A hostile initiator on the in-memory network: bounded counters, state and log lines."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator

import numpy as np
import pytest

from gossip.averaging.pairwise import RAW_CODEC, Snapshot, encode
from gossip.exchanger import LOG_BURST, LOG_PER_S
from gossip.lru import Lru
from gossip.node import Node
from gossip.robust import MAX_PEER_RECORDS
from gossip.transport.memory import InMemoryNetwork
from gossip.transport.session import respond
from gossip.transport.status_pb import status_to_pb
from gossip.transport.wire import (
    Frame,
    decode_frame,
    encode_frame,
    snapshot_frames,
    verdict_frame,
    verdict_of,
)

from .conftest import make_peers

STATUS_LIMIT = 64 << 10


def offer_to(node: Node, sender: str, fingerprint: str | None = None) -> Snapshot:
    """A well-formed offer of ``node``'s model (or of another fingerprint) from ``sender``."""
    params = node.replica.params + np.float32(0.5)
    return Snapshot(
        sender, 1, "attacker:1", 0, fingerprint or node.replica.fingerprint,
        node.replica.num_params, RAW_CODEC, encode(params),
    )  # fmt: skip


def serve(node: Node, frames: list[Frame]) -> list[Frame]:
    """Run the responder on ``frames`` as the wire would deliver them."""

    def wire() -> Iterator[Frame]:
        for frame in frames:
            yield decode_frame(encode_frame(frame))

    return list(respond(wire(), node, 1 << 31))


def test_a_peers_refusal_reasons_are_counted_as_other(network: InMemoryNetwork) -> None:
    """Case 1: five refused verdicts with new 1 MB reasons leave a small status."""
    (node,) = make_peers(1, network, max_steps=0)
    before = node.replica.params.copy()
    for i in range(5):
        huge = f"{i}" + "r" * (1 << 20)
        offer = offer_to(node, f"attacker-{i}")
        serve(node, [*snapshot_frames(offer), verdict_frame(False, huge, "d" * (1 << 20))])
    assert node.refusals == {"other": 5}
    assert status_to_pb(node.status()).ByteSize() < STATUS_LIMIT
    np.testing.assert_array_equal(node.replica.params, before)


def test_per_sender_state_is_bounded(
    network: InMemoryNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    """Cases 2 and 4: refused offers from ever new ids keep bounded state and few log lines."""
    (node,) = make_peers(1, network, max_steps=0)
    senders = MAX_PEER_RECORDS + 500
    began = time.monotonic()
    with caplog.at_level(logging.INFO, logger="gossip.exchange"):
        for i in range(senders):
            serve(node, list(snapshot_frames(offer_to(node, f"x{i}", fingerprint="other"))))
    elapsed = time.monotonic() - began
    assert node.refusals == {"fingerprint_mismatch": senders}
    assert node.exchanger.guard.tracked() <= MAX_PEER_RECORDS
    assert node.exchanger.peers_tracked() <= 1024
    # one budget for every id: a burst, then LOG_PER_S lines a second
    assert len(caplog.records) <= LOG_BURST + LOG_PER_S * elapsed + 1


def test_lru_forgets_the_least_recently_used() -> None:
    lru: Lru[str, int] = Lru(2)
    lru["a"], lru["b"] = 1, 2
    assert lru.get("a") == 1  # "b" is now the oldest
    lru["c"] = 3
    assert "b" not in lru and lru.get("a") == 1 and lru.get("c") == 3
    assert len(lru) == 2 and lru.evictions == 1


@pytest.mark.parametrize(
    ("sender", "address"),
    [
        ("", "attacker:1"),
        ("evil\n00:00:00.000 WARNING FAKE", "attacker:1"),
        ("i" * (1 << 20), "attacker:1"),
        ("ok-id", "no port"),
        ("ok-id", "\x1b[31m:1"),
    ],
)
def test_invalid_ids_are_refused_at_the_edge(
    network: InMemoryNetwork, sender: str, address: str
) -> None:
    """Case 9: an id or address outside gossip.names' rules is refused and counted."""
    (node,) = make_peers(1, network, max_steps=0)
    before = node.replica.params.copy()
    offer = dataclasses.replace(offer_to(node, sender), address=address)
    (verdict,) = serve(node, [*snapshot_frames(offer), verdict_frame(True)])
    assert verdict_of(verdict) is not None and verdict_of(verdict).reason == "invalid_id"  # type: ignore[union-attr]
    assert node.refusals == {"invalid_id": 1}
    assert node.exchanger.guard.tracked() == 0 and node.exchanger.peers_tracked() <= 1
    np.testing.assert_array_equal(node.replica.params, before)
