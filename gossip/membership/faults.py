"""TEST-ONLY fault hook: partitions between real processes, for bench/membership.py and tests.

Enabled only when the environment variable ``GOSSIP_TEST_FAULTS`` names a JSON
file ``{"groups": [["HOST:PORT", ...], ...]}``; ``Node`` then wraps its
transport in :class:`PartitionedTransport`. A call from a member of one group
to a member of another fails as if the network dropped it (PeerUnavailable);
addresses in no group talk to everyone. The file is re-read when it changes,
so a benchmark cuts and heals a running cluster by rewriting it. Every node
applies it to its own outgoing calls, so a cut is symmetric. Nothing in the
product reads this variable otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gossip.averaging.pairwise import Snapshot
from gossip.errors import PeerUnavailable
from gossip.membership.types import Digest
from gossip.status import Status
from gossip.transport.base import Completion, Handler, Transport
from gossip.transport.fetch import Fetched, FetchRequest

ENV = "GOSSIP_TEST_FAULTS"


class PartitionFile:
    """The groups of a fault file, re-read whenever its modification time changes."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._mtime = -1.0
        self._group: dict[str, int] = {}

    def cut(self, source: str, target: str) -> bool:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            mtime = 0.0
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                groups = json.loads(self.path.read_text()).get("groups", [])
            except (OSError, ValueError, AttributeError):
                groups = []
            self._group = {a: i for i, group in enumerate(groups) for a in group}
        a, b = self._group.get(source), self._group.get(target)
        return a is not None and b is not None and a != b


class PartitionedTransport:
    """A transport whose outgoing calls across a cut of the fault file fail."""

    def __init__(self, inner: Transport, path: str) -> None:
        self.inner = inner
        self.traffic = inner.traffic
        self.faults = PartitionFile(path)
        self.address = ""

    def _check(self, address: str) -> None:
        if self.faults.cut(self.address, address):
            raise PeerUnavailable(f"{address}: unavailable (test partition)")

    def serve(self, listen: str, handler: Handler) -> str:
        self.address = self.inner.serve(listen, handler)
        return self.address

    def exchange(self, address: str, offer: Snapshot, complete: Completion, timeout: float) -> None:
        self._check(address)
        self.inner.exchange(address, offer, complete, timeout)

    def push_pull(self, address: str, digest: Digest, timeout: float) -> Digest:
        self._check(address)
        return self.inner.push_pull(address, digest, timeout)

    def status(self, address: str, timeout: float) -> Status:
        return self.inner.status(address, timeout)

    def fetch(self, address: str, request: FetchRequest, timeout: float) -> Fetched:
        self._check(address)
        return self.inner.fetch(address, request, timeout)

    def stop(self, grace: float) -> None:
        self.inner.stop(grace)


def wrap_from_env(transport: Transport) -> Transport:
    """``transport``, wrapped in the test partition hook when GOSSIP_TEST_FAULTS is set."""
    path = os.environ.get(ENV)
    return PartitionedTransport(transport, path) if path else transport
