"""``HOST:PORT`` addresses as the user types them: flags, seeds, targets.

Apart from :mod:`gossip.config` so that ``gossip-ctl`` checks ``--target``
without loading numpy (the config validates codecs, which need it).
"""

from __future__ import annotations

from gossip.errors import UsageError


def parse_address(text: str, what: str = "address") -> tuple[str, int]:
    """Split ``HOST:PORT`` (IPv6 as ``[::1]:PORT``); raise UsageError when malformed."""
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"{what} must be HOST:PORT with a port from 0 to 65535, got {text!r}")
    return host, int(port_text)


def parse_peers(text: str) -> tuple[str, ...]:
    """A comma-separated list of ``HOST:PORT`` seeds (empty entries ignored)."""
    peers = tuple(p.strip() for p in text.split(",") if p.strip())
    for peer in peers:
        parse_address(peer, "each --peers entry")
    return peers
