"""The exchange protocol (gossip.transport.session), both sides driven in one thread.

As the in-memory transport does: the responder is a generator of frames; the
initiator reads its replies and appends its verdict to the responder's input.
Every frame goes through the wire encoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from gossip.averaging.pairwise import RAW_CODEC, Snapshot
from gossip.errors import ExchangeRefused, WireError
from gossip.membership.types import Digest
from gossip.status import Status
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport.session import initiate, respond
from gossip.transport.wire import CHUNK_BYTES, decode_frame, encode_frame, snapshot_frames

LIMIT = 1 << 31


def snap(sender: str, size: int, fill: int, fingerprint: str = "fp") -> Snapshot:
    return Snapshot(
        sender, 1, f"{sender}:1", 0, fingerprint, size // 4, RAW_CODEC, bytes([fill]) * size
    )


def wire(frames: Iterator[pb.Frame]) -> Iterator[pb.Frame]:
    for frame in frames:
        yield decode_frame(encode_frame(frame))


@dataclass
class Commit:
    applied: bool
    reason: str
    detail: str


@dataclass
class Pending:
    reply: Snapshot
    commits: list[Commit]

    def commit(self, applied: bool, reason: str = "", detail: str = "") -> None:
        self.commits.append(Commit(applied, reason, detail))


@dataclass
class FakeHandler:
    reply: Snapshot
    refuse_header: str = ""
    refuse_offer: str = ""
    offers: list[Snapshot] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def check_header(self, offer: Snapshot) -> None:
        assert offer.payload == b""
        if self.refuse_header:
            raise ExchangeRefused(self.refuse_header, "header refused")

    def on_exchange(self, offer: Snapshot) -> Pending:
        if self.refuse_offer:
            raise ExchangeRefused(self.refuse_offer, "offer refused")
        self.offers.append(offer)
        return Pending(self.reply, self.commits)

    def on_refused(self, reason: str, detail: str) -> None:
        self.refused.append(reason)

    def on_push_pull(self, digest: Digest) -> Digest:
        return digest

    def on_status(self) -> Status:
        return Status()


def run_exchange(offer: Snapshot, handler: FakeHandler, refuse_reply: str = "") -> list[Snapshot]:
    """One exchange as the in-memory transport runs it; returns what the initiator completed."""
    verdicts: list[pb.Frame] = []
    completed: list[Snapshot] = []

    def requests() -> Iterator[pb.Frame]:
        yield from snapshot_frames(offer)
        yield from verdicts

    def complete(reply: Snapshot) -> None:
        if refuse_reply:
            raise ExchangeRefused(refuse_reply, "reply refused")
        completed.append(reply)

    replies = respond(wire(requests()), handler, LIMIT)
    try:
        initiate(offer, wire(replies), complete, verdicts.append, LIMIT)
    finally:
        for _ in replies:
            pass
    return completed


@pytest.mark.parametrize("size", [0, 4, CHUNK_BYTES, 2 * CHUNK_BYTES + 4])
def test_exchange_swaps_snapshots_and_both_sides_apply(size: int) -> None:
    offer, reply = snap("i", size, 1), snap("r", size, 2)
    handler = FakeHandler(reply)
    completed = run_exchange(offer, handler)
    assert completed == [reply]
    assert handler.offers == [offer]
    assert handler.commits == [Commit(True, "", "")]


@pytest.mark.parametrize("where", ["header", "offer"])
def test_responder_refusal_reaches_the_initiator_and_nobody_applies(where: str) -> None:
    handler = FakeHandler(snap("r", 8, 2), **{f"refuse_{where}": "fingerprint_mismatch"})
    with pytest.raises(ExchangeRefused) as info:
        run_exchange(snap("i", 8, 1), handler)
    assert info.value.reason == "fingerprint_mismatch"
    assert "peer:" in info.value.detail
    assert handler.commits == []
    assert handler.offers == []


def test_initiator_refusal_reaches_the_responder_which_drops_its_increment() -> None:
    handler = FakeHandler(snap("r", 8, 2))
    with pytest.raises(ExchangeRefused) as info:
        run_exchange(snap("i", 8, 1), handler, refuse_reply="non_finite")
    assert info.value.reason == "non_finite"
    assert handler.commits == [Commit(False, "non_finite", "reply refused")]


def test_lost_verdict_commits_nothing_with_reason_lost() -> None:
    handler = FakeHandler(snap("r", 8, 2))
    replies = respond(wire(snapshot_frames(snap("i", 8, 1))), handler, LIMIT)
    frames = list(replies)  # the initiator's stream ends without a verdict
    assert frames[0].WhichOneof("kind") == "header"
    assert handler.commits == [Commit(False, "lost", "the initiator sent no verdict")]


def test_lost_verdict_when_the_initiator_goes_away_mid_reply() -> None:
    handler = FakeHandler(snap("r", 3 * CHUNK_BYTES, 2))
    replies = respond(wire(snapshot_frames(snap("i", 8, 1))), handler, LIMIT)
    next(replies)
    next(replies)
    replies.close()  # the carrier drops the stream (GeneratorExit)
    assert handler.commits == [Commit(False, "lost", "the initiator sent no verdict")]


def test_malformed_offer_is_refused_and_reported() -> None:
    handler = FakeHandler(snap("r", 8, 2))
    replies = list(respond(iter([pb.Frame(chunk=b"x")]), handler, LIMIT))
    assert [f.WhichOneof("kind") for f in replies] == ["verdict"]
    assert replies[0].verdict.reason == "malformed"
    assert handler.refused == ["malformed"]
    assert handler.commits == []


def test_offer_over_the_limit_is_refused_as_malformed() -> None:
    handler = FakeHandler(snap("r", 8, 2))
    replies = list(respond(snapshot_frames(snap("i", 64, 1)), handler, max_payload_bytes=63))
    assert replies[0].verdict.reason == "malformed"
    assert handler.refused == ["malformed"]


def test_empty_request_stream_yields_nothing() -> None:
    handler = FakeHandler(snap("r", 8, 2))
    assert list(respond(iter([]), handler, LIMIT)) == []


def test_initiator_rejects_a_malformed_reply_and_says_so() -> None:
    sent: list[pb.Frame] = []
    with pytest.raises(WireError):
        initiate(snap("i", 8, 1), iter([pb.Frame(chunk=b"x")]), lambda s: None, sent.append, LIMIT)
    assert [f.verdict.reason for f in sent] == ["malformed"]
    with pytest.raises(WireError, match="without answering"):
        initiate(snap("i", 8, 1), iter([]), lambda s: None, sent.append, LIMIT)
