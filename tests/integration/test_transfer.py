"""A 10M-parameter exchange between two GrpcTransports on 127.0.0.1.

Both ends live in this process (two servers would be two nodes); the payloads
are chunked, streamed and reassembled for real. No wall-clock assertions: the
speed is measured by bench/transfer.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from gossip.averaging.pairwise import (
    RAW_CODEC,
    Snapshot,
    check_header,
    decode,
    encode,
    increment,
)
from gossip.errors import DeadlineExceeded
from gossip.membership.types import Digest
from gossip.replica import Replica
from gossip.status import Status
from gossip.transport.grpc_transport import GrpcTransport

NUM_PARAMS = 10_000_000
FINGERPRINT = "test-transfer"


def snapshot_of(replica: Replica, sender: str) -> tuple[Snapshot, np.ndarray]:
    payload = encode(replica.gather([slice(0, replica.num_params)]))
    own = decode(payload, replica.num_params)
    return Snapshot(sender, 1, sender, 0, FINGERPRINT, replica.num_params, RAW_CODEC, payload), own


def checked(replica: Replica, offer: Snapshot) -> np.ndarray:
    check_header(offer, replica.fingerprint, replica.num_params)
    return decode(offer.payload, replica.num_params)


def apply(replica: Replica, own: np.ndarray, peer: np.ndarray) -> None:
    """The plain rule: move by alpha of the difference of the two decoded snapshots."""
    replica.add(increment(own, peer, replica.alpha), [slice(0, replica.num_params)])


class Pending:
    def __init__(self, replica: Replica, reply: Snapshot, own: np.ndarray, peer: np.ndarray):
        self.reply = reply
        self._replica, self._own, self._peer = replica, own, peer
        self.commits: list[tuple[bool, str]] = []

    def commit(self, applied: bool, reason: str = "", detail: str = "") -> None:
        self.commits.append((applied, reason))
        if applied:
            apply(self._replica, self._own, self._peer)


class Responder:
    """A minimal Handler: check the offer, reply with our snapshot, apply on the verdict."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.sessions: list[Pending] = []

    def check_header(self, offer: Snapshot) -> None:
        pass

    def on_exchange(self, offer: Snapshot) -> Pending:
        peer = checked(self.replica, offer)
        reply, own = snapshot_of(self.replica, "responder")
        self.sessions.append(Pending(self.replica, reply, own, peer))
        return self.sessions[-1]

    def on_refused(self, reason: str, detail: str) -> None:
        raise AssertionError(f"refused: {reason} {detail}")

    def on_push_pull(self, digest: Digest) -> Digest:
        return digest

    def on_status(self) -> Status:
        return Status()


@pytest.fixture
def transports() -> Iterator[tuple[GrpcTransport, GrpcTransport]]:
    initiator, responder = GrpcTransport(), GrpcTransport()
    yield initiator, responder
    initiator.stop(0)
    responder.stop(0)


@pytest.mark.slow
def test_10m_parameter_exchange_ends_at_the_pairwise_mean(
    transports: tuple[GrpcTransport, GrpcTransport],
) -> None:
    rng = np.random.default_rng(7)
    x_i = rng.standard_normal(NUM_PARAMS, dtype=np.float32)
    x_j = rng.standard_normal(NUM_PARAMS, dtype=np.float32) + np.float32(3.0)
    replica_i = Replica(x_i.copy(), FINGERPRINT, alpha=0.5)
    replica_j = Replica(x_j.copy(), FINGERPRINT, alpha=0.5)
    initiator, responder = transports
    handler = Responder(replica_j)
    address = responder.serve("127.0.0.1:0", handler)

    offer, own_i = snapshot_of(replica_i, "initiator")

    def complete(reply: Snapshot) -> None:
        apply(replica_i, own_i, checked(replica_i, reply))

    initiator.exchange(address, offer, complete, timeout=120.0)

    # The responder commits after reading the verdict, possibly just after the call returns.
    assert len(handler.sessions) == 1
    session = handler.sessions[0]
    deadline = time.monotonic() + 30.0
    while not session.commits and time.monotonic() < deadline:
        time.sleep(0.01)  # polling with a deadline, not waiting a fixed time
    assert session.commits == [(True, "")]

    # x_i += 0.5 * (x_j - x_i) and x_j += 0.5 * (x_i - x_j), in float32 as the rule computes them.
    expected_i = x_i + np.float32(0.5) * (x_j - x_i)
    expected_j = x_j + np.float32(0.5) * (x_i - x_j)
    np.testing.assert_array_equal(replica_i.params, expected_i)
    np.testing.assert_array_equal(replica_j.params, expected_j)
    np.testing.assert_allclose(replica_i.params, (x_i + x_j) / 2, atol=1e-6)
    # the pair's sum is conserved (increments are exact negatives)
    np.testing.assert_allclose(replica_i.params + replica_j.params, x_i + x_j, atol=1e-5)

    # Each side sends its 40 MB snapshot and receives the peer's: 80 MB through each side.
    payload = 4 * NUM_PARAMS
    for transport in (initiator, responder):
        assert transport.traffic.sent >= payload
        assert transport.traffic.received >= payload
        assert transport.traffic.sent + transport.traffic.received >= 2 * payload
    assert initiator.traffic.sent == responder.traffic.received
    assert responder.traffic.sent == initiator.traffic.received


class LateResponder(Responder):
    """Replies only after the initiator's deadline has passed."""

    def on_exchange(self, offer: Snapshot) -> Pending:
        time.sleep(1.0)
        return super().on_exchange(offer)


def small_exchange(
    transports: tuple[GrpcTransport, GrpcTransport], handler_class: type[Responder]
) -> tuple[Replica, Responder, str, Snapshot, np.ndarray]:
    """Zeros offered to a responder holding ones (1000 values): the initiator's side."""
    replica_i = Replica(np.zeros(1000, dtype=np.float32), FINGERPRINT)
    handler = handler_class(Replica(np.ones(1000, dtype=np.float32), FINGERPRINT))
    address = transports[1].serve("127.0.0.1:0", handler)
    offer, own_i = snapshot_of(replica_i, "initiator")
    return replica_i, handler, address, offer, own_i


def first_commit(handler: Responder) -> list[tuple[bool, str]]:
    """The responder's commit of its first exchange, polled (it follows the call's end)."""
    deadline = time.monotonic() + 30.0
    while not (handler.sessions and handler.sessions[0].commits) and time.monotonic() < deadline:
        time.sleep(0.01)
    return handler.sessions[0].commits


def test_a_late_reply_is_never_applied_on_either_side(
    transports: tuple[GrpcTransport, GrpcTransport],
) -> None:
    _, handler, address, offer, _ = small_exchange(transports, LateResponder)
    applied: list[Snapshot] = []
    with pytest.raises(DeadlineExceeded):
        transports[0].exchange(address, offer, applied.append, timeout=0.3)
    assert first_commit(handler) == [(False, "lost")] and applied == []
    np.testing.assert_array_equal(handler.replica.params, 1.0)


def test_an_applied_reply_still_gets_its_verdict_across_past_the_deadline(
    transports: tuple[GrpcTransport, GrpcTransport],
) -> None:
    """Applying took longer than the timeout: the verdict still reaches the responder."""
    replica_i, handler, address, offer, own_i = small_exchange(transports, Responder)

    def slow_apply(reply: Snapshot) -> None:
        time.sleep(1.2)  # a busy machine: past the 1 s timeout, within the verdict's grace
        apply(replica_i, own_i, checked(replica_i, reply))

    transports[0].exchange(address, offer, slow_apply, timeout=1.0)
    assert first_commit(handler) == [(True, "")]
    np.testing.assert_array_equal(replica_i.params + handler.replica.params, 1.0)  # sum kept
