"""An in-memory network for unit and simulation tests, with fault knobs.

Calls are synchronous and run in the caller's thread, but every message is
serialised and parsed through the same code as gRPC (wire.py), so encoding
bugs show up without sockets. Faults: a node can be taken down, pairs can be
partitioned, and a seeded fraction of calls can be dropped.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TypeVar

from gossip.averaging.pairwise import Snapshot
from gossip.errors import ExchangeRefused, PeerUnavailable
from gossip.membership.types import Digest
from gossip.status import Status
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport.base import Completion, Handler, Traffic
from gossip.transport.control import status_from_bytes
from gossip.transport.fetch import (
    Fetched,
    FetchRequest,
    fetch_frames,
    read_fetch,
    request_from_pb,
    request_to_pb,
)
from gossip.transport.session import counted, initiate, respond
from gossip.transport.status_pb import status_to_pb
from gossip.transport.wire import (
    GRPC_FRAME_OVERHEAD,
    Frame,
    decode_digest,
    decode_frame,
    encode_digest,
    encode_frame,
    snapshot_frames,
)

M = TypeVar("M", pb.FetchRequest, pb.FetchFrame)


def _through_wire(message: M) -> M:
    """Serialise and parse, as a real carrier would."""
    return type(message).FromString(message.SerializeToString())


def _frame_through_wire(frame: Frame) -> Frame:
    """An Exchange frame serialised and parsed as gRPC's codec does."""
    return decode_frame(encode_frame(frame))


class InMemoryNetwork:
    """The shared medium: addresses to handlers, plus the faults to inject."""

    def __init__(self, seed: int = 0, drop_rate: float = 0.0) -> None:
        self.handlers: dict[str, Handler] = {}
        self.traffic: dict[str, Traffic] = {}
        """Each served address's byte counters: both ends of an exchange count, as on gRPC."""
        self.down: set[str] = set()
        self.drop_rate = drop_rate
        self._cut: set[frozenset[str]] = set()
        self._rng = random.Random(seed)

    def transport(self, max_payload_bytes: int = 1 << 31) -> InMemoryTransport:
        return InMemoryTransport(self, max_payload_bytes)

    def partition(self, side_a: set[str], side_b: set[str]) -> None:
        self._cut.update(frozenset((a, b)) for a in side_a for b in side_b)

    def heal(self) -> None:
        self._cut.clear()

    def route(self, source: str, target: str) -> Handler:
        """The target's handler, or PeerUnavailable when a fault is in the way."""
        handler = self.handlers.get(target)
        if (
            handler is None
            or target in self.down
            or source in self.down
            or frozenset((source, target)) in self._cut
            or (self.drop_rate > 0 and self._rng.random() < self.drop_rate)
        ):
            raise PeerUnavailable(f"{target}: unavailable (in-memory network)")
        return handler


class InMemoryTransport:
    """One node's end of an :class:`InMemoryNetwork`."""

    def __init__(self, network: InMemoryNetwork, max_payload_bytes: int) -> None:
        self.network = network
        self.traffic = Traffic()
        self.max_payload_bytes = max_payload_bytes
        self.address = ""

    def serve(self, listen: str, handler: Handler) -> str:
        self.address = listen
        self.network.handlers[listen] = handler
        self.network.traffic[listen] = self.traffic
        return listen

    def stop(self, grace: float) -> None:
        self.network.handlers.pop(self.address, None)
        self.network.traffic.pop(self.address, None)

    def exchange(self, address: str, offer: Snapshot, complete: Completion, timeout: float) -> None:
        handler = self.network.route(self.address, address)
        verdicts: list[Frame] = []

        def requests() -> Iterator[Frame]:
            yield from (_frame_through_wire(f) for f in snapshot_frames(offer))
            yield from (_frame_through_wire(f) for f in verdicts)

        theirs = self.network.traffic.get(address, Traffic())
        offered = counted(counted(requests(), self.traffic, sent=True), theirs, sent=False)
        replies = counted(respond(offered, handler, self.max_payload_bytes), theirs, sent=True)
        wire_replies = (_frame_through_wire(f) for f in replies)
        try:
            initiate(
                offer,
                counted(wire_replies, self.traffic, sent=False),
                complete,
                verdicts.append,
                self.max_payload_bytes,
            )
        finally:
            for _ in replies:  # let the responder read the verdict and commit
                pass

    def push_pull(self, address: str, digest: Digest, timeout: float) -> Digest:
        handler = self.network.route(self.address, address)
        request = len(encoded := encode_digest(digest)) + GRPC_FRAME_OVERHEAD
        reply_bytes = encode_digest(handler.on_push_pull(decode_digest(encoded)))
        reply = len(reply_bytes) + GRPC_FRAME_OVERHEAD
        self.traffic.add(sent=request, received=reply)
        self.network.traffic.get(address, Traffic()).add(sent=reply, received=request)
        return decode_digest(reply_bytes)

    def status(self, address: str, timeout: float) -> Status:
        handler = self.network.route(self.address, address)
        reply = status_to_pb(handler.on_status()).SerializeToString()
        return Status.from_json(status_from_bytes(reply))

    def fetch(self, address: str, request: FetchRequest, timeout: float) -> Fetched:
        handler = self.network.route(self.address, address)
        try:
            fetched = handler.on_fetch(request_from_pb(_through_wire(request_to_pb(request))))
        except ExchangeRefused as refused:  # as gRPC reports the donor's refusal
            raise ExchangeRefused(refused.reason, f"{address}: {refused.detail}") from refused
        frames = (_through_wire(frame) for frame in fetch_frames(fetched))
        return read_fetch(frames, self.max_payload_bytes)
