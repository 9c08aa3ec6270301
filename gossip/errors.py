"""One error hierarchy for the whole package.

Every error a user can cause or meet derives from :class:`GossipError`; the CLI
turns any of them into one clear line (exit code 2 for :class:`UsageError`),
never a traceback. gRPC status codes are translated at the transport edge.

::

    GossipError
    ├── UsageError            bad flag, bad config value          (exit 2)
    │   └── DataError         unreadable / malformed data file     (exit 2)
    ├── ExchangeRefused       a peer's snapshot was refused (fingerprint, size, NaN/Inf)
    ├── WireError             malformed bytes/frames from a peer
    └── TransportError        the peer could not be reached or answered too late
        ├── PeerUnavailable
        └── DeadlineExceeded
"""

from __future__ import annotations


class GossipError(Exception):
    """Base of every error raised on purpose by gossip-train."""


class UsageError(GossipError):
    """The user asked for something invalid: a flag, a config value, a target."""


class DataError(UsageError):
    """A data set could not be loaded or does not have the expected shape."""


class ExchangeRefused(GossipError):
    """A parameter exchange was refused; ``reason`` is a short machine-readable tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class WireError(GossipError):
    """A peer sent frames that do not follow the wire contract."""


class TransportError(GossipError):
    """A remote call failed for reasons of the network or the peer's liveness."""


class PeerUnavailable(TransportError):
    """The peer refused the connection or is not there."""


class DeadlineExceeded(TransportError):
    """The peer did not answer within the call's deadline."""
