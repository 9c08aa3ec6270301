"""Dialing peers over gRPC: channel options, TLS, the cluster token, and errors in our terms.

Apart from :mod:`gossip.transport.grpc_transport`, which needs numpy for the
exchanges, so that ``gossip-ctl`` makes its Status calls with gRPC and the
generated messages alone (and starts about as fast as ``import grpc``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import grpc

from gossip.errors import DeadlineExceeded, PeerUnavailable, TransportError
from gossip.lru import Lru

if TYPE_CHECKING:  # loaded only for a token or TLS: gossip-ctl without them skips it
    from gossip.transport.security import Security

MAX_MESSAGE_BYTES = 4 << 20
"""Per-message limit on both sides: four times a chunk (wire.CHUNK_BYTES), so a chunk and
its header fit with room to spare."""

CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # reconnect quickly to a peer that comes back (defaults back off up to 120 s)
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def translate(exc: grpc.RpcError, address: str) -> TransportError:
    """Turn a gRPC failure into our error hierarchy, naming the peer."""
    code = exc.code() if isinstance(exc, grpc.Call) else None
    detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"{address}: no answer before the deadline")
    if code == grpc.StatusCode.UNAVAILABLE:
        return PeerUnavailable(f"{address}: unavailable ({detail})")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return TransportError(f"{address}: rejected: {detail}")
    name = code.name if code is not None else "ERROR"
    return TransportError(f"{address}: {name} ({detail})")


MAX_CHANNELS = 256
"""Channels kept open at once (as many as a view has live members); the least recently
used beyond is let go."""


class Channels:
    """A channel per peer address, opened on first use with ``security``; close() ends all.

    ``security`` None: plaintext, no token. Addresses come from peers (membership
    hearsay can name any number), and each open channel holds a connection and
    about 40 KiB, so at most ``capacity`` are kept and a call that failed lets
    its channel go (:meth:`forget`): the next call to that address dials afresh.
    A channel let go is not closed: calls still running on it finish, then gRPC
    closes it.
    """

    def __init__(self, security: Security | None = None, capacity: int = MAX_CHANNELS) -> None:
        self.security = security
        self._channels: Lru[str, grpc.Channel] = Lru(capacity)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._channels)

    def get(self, address: str) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = self._open(address)
                self._channels[address] = channel
            return channel

    def forget(self, address: str) -> None:
        """Let the channel to ``address`` go (its call failed): the next call dials again."""
        with self._lock:
            self._channels.pop(address)

    def _open(self, address: str) -> grpc.Channel:
        if self.security is None or not (self.security.tls or self.security.token):
            return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        from gossip.transport.security import ClientToken, channel_credentials

        tls = self.security.tls
        if tls is not None:
            channel = grpc.secure_channel(
                address, channel_credentials(tls), options=CHANNEL_OPTIONS
            )
        else:
            channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        if self.security.token:
            channel = grpc.intercept_channel(channel, ClientToken(self.security.token))
        return channel

    def close(self) -> None:
        with self._lock:
            channels = [channel for _, channel in self._channels.items()]
            self._channels = Lru(self._channels.capacity)
        for channel in channels:
            channel.close()
