"""Both roles of the two-way exchange for one peer, with its counters and log lines.

The averaging rule itself is pure (:mod:`gossip.averaging.pairwise`); this is
where it meets the transport: the initiator's call with its deadline, the
responder's accept-reply-commit, and the bookkeeping of ok / failed / refused
exchanges that status and logs show.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from gossip.averaging.pairwise import RAW_CODEC, Replica, Snapshot, check_header
from gossip.clock import Clock
from gossip.errors import ExchangeRefused, TransportError, WireError
from gossip.transport.base import Transport

log = logging.getLogger("gossip.exchange")

LOG_REPEAT_S = 10.0
"""The same warning about the same peer is logged at most once per this many seconds."""


@dataclass(frozen=True)
class Identity:
    """Who we are in a snapshot header."""

    id: str
    generation: int
    address: str


@dataclass
class ExchangeCounts:
    ok: int = 0
    failed: int = 0
    refused: int = 0


class _Pending:
    """An accepted incoming exchange waiting for the initiator's verdict."""

    def __init__(
        self, exchanger: Exchanger, peer_id: str, reply: Snapshot, own: np.ndarray, peer: np.ndarray
    ) -> None:
        self._exchanger = exchanger
        self._peer_id = peer_id
        self._own = own
        self._peer = peer
        self.reply = reply

    def commit(self, applied: bool, reason: str = "", detail: str = "") -> None:
        if applied:
            self._exchanger.replica.apply(self._own, self._peer)
            self._exchanger.count("ok")
        elif reason == "lost":
            self._exchanger.count("failed")
        else:
            self._exchanger.refused(self._peer_id, reason, f"our reply was refused: {detail}")


class Exchanger:
    """Runs exchanges as initiator and answers them as responder, counting the outcomes."""

    def __init__(
        self,
        replica: Replica,
        transport: Transport,
        clock: Clock,
        identity: Callable[[], Identity],
        step: Callable[[], int],
        timeout: float,
    ) -> None:
        self.replica = replica
        self.transport = transport
        self.clock = clock
        self.timeout = timeout
        self._identity = identity
        self._step = step
        self._lock = threading.Lock()
        self._counts = ExchangeCounts()
        self._refusals: dict[str, int] = {}
        self._last_warned: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------ initiator

    def exchange_with(self, peer_id: str, address: str) -> bool:
        """One two-way exchange as the initiator; True when both sides applied it."""
        payload, own = self.replica.snapshot()

        def complete(reply: Snapshot) -> None:
            self.replica.apply(own, self.replica.check(reply))

        try:
            self.transport.exchange(address, self.snapshot(payload), complete, self.timeout)
        except ExchangeRefused as refused:
            self.refused(peer_id, refused.reason, refused.detail)
            return False
        except (TransportError, WireError) as exc:
            self.count("failed")
            self._warn(peer_id, "failed", f"exchange with {peer_id} failed: {exc}", logging.INFO)
            return False
        self.count("ok")
        return True

    def snapshot(self, payload: bytes) -> Snapshot:
        me = self._identity()
        return Snapshot(
            sender_id=me.id,
            generation=me.generation,
            address=me.address,
            step=self._step(),
            fingerprint=self.replica.fingerprint,
            num_params=self.replica.num_params,
            codec=RAW_CODEC,
            payload=payload,
        )

    # ------------------------------------------------------------ responder

    def check_header(self, offer: Snapshot) -> None:
        try:
            check_header(offer, self.replica.fingerprint, self.replica.num_params)
        except ExchangeRefused as refused:
            self.refused(offer.sender_id, refused.reason, refused.detail)
            raise

    def on_exchange(self, offer: Snapshot) -> _Pending:
        try:
            peer = self.replica.check(offer)
        except ExchangeRefused as refused:
            self.refused(offer.sender_id, refused.reason, refused.detail)
            raise
        payload, own = self.replica.snapshot()
        return _Pending(self, offer.sender_id, self.snapshot(payload), own, peer)

    # ------------------------------------------------------------ bookkeeping

    def counts(self) -> dict[str, int]:
        with self._lock:
            return asdict(self._counts)

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._refusals)

    def count(self, result: str) -> None:
        with self._lock:
            setattr(self._counts, result, getattr(self._counts, result) + 1)

    def refused(self, peer_id: str, reason: str, detail: str) -> None:
        with self._lock:
            self._counts.refused += 1
            self._refusals[reason] = self._refusals.get(reason, 0) + 1
        self._warn(peer_id, reason, f"exchange with {peer_id} refused ({reason}): {detail}")

    def _warn(self, peer_id: str, key: str, message: str, level: int = logging.WARNING) -> None:
        now = self.clock.now()
        with self._lock:
            last = self._last_warned.get((peer_id, key))
            if last is not None and now - last < LOG_REPEAT_S:
                return
            self._last_warned[(peer_id, key)] = now
        log.log(level, "%s: %s", self._identity().id, message)
