"""Both roles of the two-way exchange for one peer, with its counters and log lines.

The averaging rule itself is pure (:mod:`gossip.averaging.pairwise` for the
plain rule, :mod:`gossip.averaging.compressed` for codecs and references);
this is where it meets the transport: the initiator's call with its deadline,
the responder's accept-reply-commit, and the bookkeeping of ok / failed /
refused exchanges and of bytes per codec that status and logs show.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gossip.averaging.compressed import FULL, Mixer, Mixing, Outgoing, ResponderPending
from gossip.averaging.normalizer import NormalizerShare
from gossip.averaging.pairwise import Identity, Snapshot, check_header
from gossip.clock import Clock
from gossip.errors import ExchangeRefused, TransportError, WireError
from gossip.logsafe import LogBudget, held_note
from gossip.names import address_problem, id_problem
from gossip.refusals import reason_key, short_detail
from gossip.replica import Replica
from gossip.robust import Guard
from gossip.schedule import Schedule
from gossip.status import Protection
from gossip.transport.base import Transport
from gossip.transport.wire import snapshot_wire_bytes, verdict_wire_bytes

__all__ = ["ExchangeCounts", "Exchanger", "Identity"]

log = logging.getLogger("gossip.exchange")

LOG_REPEAT_S = 10.0
"""The same warning about the same peer is logged at most once per this many seconds."""
LOG_PER_S, LOG_BURST = 1.0, 20
"""Warnings about all peers together: at most a burst of 20 lines, then one a second."""
MAX_BYTE_KEYS = 16
"""Codec keys the byte counters keep; traffic under any further one is counted as ``other``."""


ROUTINE_REFUSALS = ("reference_mismatch", "busy")
"""Refusals logged at INFO: they end in a full exchange or a retry, not a bad peer."""


@dataclass
class ExchangeCounts:
    ok: int = 0
    failed: int = 0
    refused: int = 0


def codec_key(snapshot: Snapshot) -> str:
    """The key bytes are counted under: the codec, or ``full`` for a full (reset) exchange."""
    starting = snapshot.ref_version == 0 and snapshot.ref_base == 0 and snapshot.codec != "none"
    return FULL if starting else snapshot.codec


def check_names(offer: Snapshot) -> None:
    """Refuse (``invalid_id``) a sender id or address outside gossip.names' rules.

    A continuing snapshot leaves the address out (gossip.transport.wire).
    """
    problem = id_problem(offer.sender_id) or (offer.address and address_problem(offer.address))
    if problem:
        raise ExchangeRefused("invalid_id", f"the sender gave {problem}")


class _Pending:
    """An accepted incoming exchange waiting for the initiator's verdict."""

    def __init__(self, exchanger: Exchanger, pending: ResponderPending) -> None:
        self._exchanger = exchanger
        self._pending = pending
        self.reply = pending.reply

    def commit(self, applied: bool, reason: str = "", detail: str = "") -> None:
        exchanger, peer_id = self._exchanger, self._pending.offer.sender_id
        try:
            self._pending.commit(applied)
        finally:
            exchanger.schedule.end(peer_id, completed=applied, started_here=False)
        sent = snapshot_wire_bytes(self.reply, answering=self._pending.offer)
        verdict = 0 if reason == "lost" else verdict_wire_bytes(applied, reason, detail)
        exchanger.count_bytes(codec_key(self.reply), sent=sent, received=verdict)
        if applied:
            exchanger.count("ok")
        elif reason == "lost":
            exchanger.count("failed")
        else:
            exchanger.refused(peer_id, reason, f"our reply was refused: {detail}")


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
        mixing: Mixing | None = None,
        schedule: Schedule | None = None,
        guard: Guard | None = None,
        on_failed: Callable[[str], None] | None = None,
        normalizer: NormalizerShare | None = None,
    ) -> None:
        self.replica = replica
        self.transport = transport
        self.clock = clock
        self.timeout = timeout
        self.guard = guard
        """Robust averaging: checks each increment, quarantines peers that keep sending bad ones."""
        self._guard_lock = threading.Lock()  # the guard is pure: its calls are serialised here
        self.on_failed = on_failed
        """Told the peer id of each exchange we started that failed (membership evidence)."""
        check_delta = self._check_delta if guard is not None else None
        self.schedule = schedule or Schedule(0, clock)
        self.mixer = Mixer(
            replica,
            mixing or Mixing(),
            identity,
            step,
            check_delta=check_delta,
            free_speed=self.schedule.free_speed,
            normalizer=normalizer,
        )
        """One exchange at a time, in either role (gossip.schedule)."""
        self._identity = identity
        self._lock = threading.Lock()
        self._counts = ExchangeCounts()
        self._refusals: dict[str, int] = {}
        self._bytes: dict[str, dict[str, int]] = {}
        self._log_budget = LogBudget(LOG_REPEAT_S, LOG_PER_S, LOG_BURST)

    # ------------------------------------------------------------ initiator

    def exchange_with(self, peer_id: str, address: str) -> bool:
        """One two-way exchange as the initiator; True when both sides applied it."""
        try:
            self.schedule.begin(peer_id)
        except ExchangeRefused as busy:  # another exchange is running here
            log.debug("%s: skipped exchange with %s: %s", self._identity().id, peer_id, busy)
            return False
        outcome = "quarantined"
        try:
            if not self._quarantined(peer_id):
                outcome = self._initiate(peer_id, address)
        finally:
            self.schedule.end(
                peer_id, completed=outcome == "", started_here=True, retry=outcome == "busy"
            )
        return outcome == ""

    def _initiate(self, peer_id: str, address: str) -> str:
        """Offer, and apply the reply; "" when both sides applied, else why not."""
        try:
            out = self.mixer.offer(peer_id)
        except ExchangeRefused as busy:  # the mixer's own pair guard (the schedule comes first)
            log.debug("%s: skipped exchange with %s: %s", self._identity().id, peer_id, busy)
            return busy.reason
        key = codec_key(out.offer)
        reason = ""
        try:
            self._run(out, address)
        except ExchangeRefused as refused:
            reason = refused.reason
            self.refused(peer_id, refused.reason, refused.detail)
        except (TransportError, WireError) as exc:
            reason = "failed"
            self.count("failed")
            if self.on_failed is not None:
                self.on_failed(peer_id)
            self._warn(peer_id, "failed", f"exchange with {peer_id} failed: {exc}", logging.INFO)
        finally:
            self.mixer.done(out, reason)
            self.count_bytes(key, sent=snapshot_wire_bytes(out.offer) + verdict_wire_bytes())
        if not reason:
            self.count("ok")
        return reason

    def _run(self, out: Outgoing, address: str) -> None:
        def complete(reply: Snapshot) -> None:
            received = snapshot_wire_bytes(reply, answering=out.offer)
            self.count_bytes(codec_key(reply), received=received)
            self.schedule.heard(reply.sender_id, reply.step, reply.free_speed)
            self.mixer.finish(out, reply)

        self.transport.exchange(address, out.offer, complete, self.timeout)

    # ------------------------------------------------------------ responder

    def check_header(self, offer: Snapshot) -> None:
        try:
            check_names(offer)
            self.admit(offer.sender_id)
            check_header(offer, self.replica.fingerprint, self.replica.num_params)
            self.schedule.heard(offer.sender_id, offer.step, offer.free_speed)  # busy or not
            self.schedule.check(offer.sender_id, *self._admission(offer))
        except ExchangeRefused as refused:
            self.refused(offer.sender_id, refused.reason, refused.detail)
            raise

    def on_exchange(self, offer: Snapshot) -> _Pending:
        self.count_bytes(codec_key(offer), received=snapshot_wire_bytes(offer))
        sender = offer.sender_id
        try:
            self.schedule.begin(sender, *self._admission(offer))
        except ExchangeRefused as refused:
            self.refused(sender, refused.reason, refused.detail)
            raise
        try:
            pending = self.mixer.accept(offer)
        except BaseException as exc:
            self.schedule.end(sender, completed=False, started_here=False)
            if isinstance(exc, ExchangeRefused):
                self.refused(sender, exc.reason, exc.detail)
            raise
        return _Pending(self, pending)

    # ------------------------------------------------------------ robust averaging

    def admit(self, peer_id: str) -> None:
        """Raise ExchangeRefused('quarantined') for a peer in quarantine (also for catch-up)."""
        if self.guard is not None:
            with self._guard_lock:
                self.guard.admit(peer_id, self.clock.now())

    def _quarantined(self, peer_id: str) -> bool:
        if self.guard is None:
            return False
        with self._guard_lock:
            return self.guard.quarantined(peer_id, self.clock.now())

    def _check_delta(self, delta: np.ndarray) -> np.ndarray:
        """An increment through robust averaging, before it is applied (gossip/robust.py)."""
        assert self.guard is not None
        own_norm = float(np.linalg.norm(self.replica.params))  # a bound: a torn read is fine
        with self._guard_lock:
            return self.guard.check(delta, own_norm)

    def _strike(self, peer_id: str, reason: str) -> bool:
        """Count a refusal against the peer; True when that quarantines it."""
        if self.guard is None:
            return False
        with self._guard_lock:
            return self.guard.strike(peer_id, reason, self.clock.now())

    def _admission(self, offer: Snapshot) -> tuple[float, bool]:
        """How long the offer may wait for its turn, and whether we yield to it.

        Of two crossing offers, the one from the smaller id goes through.
        """
        return self.schedule.admission_wait(), offer.sender_id < self._identity().id

    # ------------------------------------------------------------ bookkeeping

    def peers_tracked(self) -> int:
        """Peers whose warnings are rate-limited now (bounded: gossip.logsafe.LogBudget)."""
        return len(self._log_budget)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return asdict(self._counts)

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._refusals)

    def bytes_by_codec(self) -> dict[str, dict[str, int]]:
        """Exchange bytes on the wire (frames + gRPC framing) per codec, ``full`` for resets."""
        with self._lock:
            return {k: dict(v) for k, v in self._bytes.items()}

    def protection(self) -> Protection:
        """Quarantined peers and robust-averaging counters (gossip/robust.py)."""
        if self.guard is None:
            return Protection()
        with self._guard_lock:
            return self.guard.status(self.clock.now())

    def compression_status(self) -> dict[str, Any]:
        """References kept for neighbours (count, bytes, max_count, evictions, resets) and gamma."""
        return {**self.mixer.store.status(), "consensus_step": self.mixer.gamma}

    def count(self, result: str) -> None:
        with self._lock:
            setattr(self._counts, result, getattr(self._counts, result) + 1)

    def count_bytes(self, key: str, sent: int = 0, received: int = 0) -> None:
        with self._lock:
            if key not in self._bytes and len(self._bytes) >= MAX_BYTE_KEYS:
                key = "other"  # codec names come from peers' headers: a bounded set of keys
            entry = self._bytes.setdefault(key, {"sent": 0, "received": 0})
            entry["sent"] += sent
            entry["received"] += received

    def refused(self, peer_id: str, reason: str, detail: str) -> None:
        """Count and log a refusal, ours or the peer's, under its reason in gossip.refusals."""
        reason, detail = reason_key(reason), short_detail(detail)
        if id_problem(peer_id):
            peer_id = "?"  # an id that breaks the rules is neither a key nor a log field
        with self._lock:
            self._counts.refused += 1
            self._refusals[reason] = self._refusals.get(reason, 0) + 1
        if self._strike(peer_id, reason):
            me = self._identity().id
            log.warning("%s: quarantined %s after repeated %s", me, peer_id, reason)
        # a reference reset or a crossing exchange is routine; the others point at a bad peer
        level = logging.INFO if reason in ROUTINE_REFUSALS else logging.WARNING
        self._warn(peer_id, reason, f"exchange with {peer_id} refused ({reason}): {detail}", level)

    def _warn(self, peer_id: str, key: str, message: str, level: int = logging.WARNING) -> None:
        """Log once per peer and key per LOG_REPEAT_S, within a budget shared by all peers."""
        held = self._log_budget.allow((peer_id, key), self.clock.now())
        if held is not None:
            log.log(level, "%s: %s%s", self._identity().id, message, held_note(held))
