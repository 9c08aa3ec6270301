"""The transport seam: what a node needs from a network, and what it offers to one.

Two implementations stand behind it: :mod:`gossip.transport.grpc_transport`
(the only module that imports grpc) and :mod:`gossip.transport.memory` (the
in-memory network for unit and simulation tests, which encodes every message
through the same protobuf code). Guarantees every implementation keeps:

* every client call has a deadline and raises :class:`~gossip.errors.TransportError`
  (never hangs) when the peer is gone, slow or dies mid-call;
* a refused exchange raises :class:`~gossip.errors.ExchangeRefused` with the reason,
  whichever side refused it, and then neither side has applied anything;
* bytes on the wire (frames and their framing) are added to :class:`Traffic`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from gossip.averaging.pairwise import Snapshot
from gossip.membership.types import Digest
from gossip.status import Status
from gossip.transport.fetch import Fetched, FetchRequest


class ResponderSession(Protocol):
    """An accepted incoming exchange: the reply to send, then the initiator's verdict."""

    @property
    def reply(self) -> Snapshot: ...

    def commit(self, applied: bool, reason: str = "", detail: str = "") -> None:
        """Apply the own increment when the initiator applied its own; otherwise drop it.

        ``reason`` says why not: the initiator's refusal tag, or ``lost`` when the
        stream ended without a verdict (the initiator died or timed out).
        """


class Handler(Protocol):
    """The node, as the server side of the transport sees it."""

    def check_header(self, offer: Snapshot) -> None:
        """Refuse an offer early (before its payload arrives); raises ExchangeRefused."""

    def on_exchange(self, offer: Snapshot) -> ResponderSession:
        """Accept a complete offer and prepare the reply; raises ExchangeRefused."""

    def on_refused(self, reason: str, detail: str) -> None:
        """An offer was malformed on the wire: count and log it."""

    def on_push_pull(self, digest: Digest) -> Digest: ...

    def on_status(self) -> Status: ...

    def on_fetch(self, request: FetchRequest) -> Fetched:
        """This node's model for a catch-up; raises ExchangeRefused when it cannot serve one."""


Completion = Callable[[Snapshot], None]
"""Initiator's check-and-apply of the reply; raising ExchangeRefused refuses it."""


class Transport(Protocol):
    """The client side plus serving, as the node uses it."""

    traffic: Traffic

    def serve(self, listen: str, handler: Handler) -> str:
        """Start serving ``handler`` on ``listen`` (HOST:PORT, port 0 = any); return HOST:PORT."""

    def exchange(self, address: str, offer: Snapshot, complete: Completion, timeout: float) -> None:
        """Run one two-way exchange as the initiator (see gossip.averaging.pairwise)."""

    def push_pull(self, address: str, digest: Digest, timeout: float) -> Digest: ...

    def status(self, address: str, timeout: float) -> Status: ...

    def fetch(self, address: str, request: FetchRequest, timeout: float) -> Fetched:
        """One catch-up stream from a donor (gossip/bootstrap.py); GossipError on failure."""

    def stop(self, grace: float) -> None:
        """Stop serving, letting calls in flight finish for up to ``grace`` seconds."""


class Traffic:
    """Thread-safe counters of bytes on the wire, as the transport saw them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.received = 0

    def add(self, sent: int = 0, received: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.received += received
