"""The I/O side of membership: runs the pure state machine on a real clock and transport.

:class:`~gossip.membership.core.Membership` decides; this class calls its
``tick`` at its deadlines from one thread, sends the push-pulls of each round
concurrently (a slow or dead peer never delays the next round or the failure
checks), feeds replies and failures back, makes the calls other members ask
of it as indirect probes, resolves seeds (a DNS name may stand for many peers)
and logs each event once.

Threads: :meth:`MembershipDriver.run` is the loop; the gRPC server threads call
:meth:`merge`; the gossip loop calls :meth:`pick` and :meth:`report_failure`.
One lock guards the state machine; no call is made while holding it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from gossip.address import parse_address
from gossip.clock import Clock
from gossip.errors import GossipError, UsageError
from gossip.logsafe import LogBudget, held_note
from gossip.membership.config import MembershipConfig
from gossip.membership.core import Membership, Round, Target
from gossip.membership.types import DROPPED_KINDS, EVENT_KINDS, Digest, Event, MemberEntry
from gossip.status import MemberInfo
from gossip.transport.base import Transport

log = logging.getLogger("gossip.membership")

SEED_REFRESH_S = 10.0
"""Seconds a seed name's resolved addresses are reused before asking DNS again."""
NOTICE_REPEAT_S = 60.0
"""A notice about bad input (same kind, member and detail) is logged at most this often."""
NOTICE_PER_S, NOTICE_BURST = 1.0, 20
"""Notices about all members together: a burst of 20 lines, then one a second."""
EVENT_PER_S, EVENT_BURST = 5.0, 100
"""Lines about members' state changes (joined, dead...): a burst of 100, then five a second,
so that gossip announcing a stream of new members cannot flood the log (all are counted)."""
STRANGER_THREADS, STRANGER_BACKLOG = 4, 64
"""Push-pulls to members that never answered us run on their own 4 threads, at most 64
waiting or running; more are skipped. Hearsay can announce members at addresses that
lead nowhere, each call waiting out its deadline: they must not hold up the calls to
members that answer (a real newcomer answers in milliseconds)."""
TICKS_PER_INTERVAL = 8
"""Ticks are at least ``interval / 8`` apart (25 ms on a LAN): each walks the whole view,
and hundreds of members (hearsay can announce them) have as many deadlines, which
made 100 ticks a second a fifth of a node's Python time under bench/fuzz.py --soak."""
PARTNER_COUNT_S = 0.05
"""How long a partner count is reused (it is read before every training step)."""
SEED_PATIENCE_S = 3.0
"""A seed silent this long is worth a warning; one that starts a moment after us is not."""


class MembershipDriver:
    """Thread-safe access to the membership state machine plus its loop."""

    def __init__(
        self,
        me: MemberEntry,
        config: MembershipConfig,
        transport: Transport,
        clock: Clock,
        seeds: tuple[str, ...],
        rng: random.Random,
    ) -> None:
        self.config = config
        self._clock = clock
        self._table = Membership(me, config, clock.now())
        self._transport = transport
        self._seeds = [s for s in seeds if s != me.address]
        self._resolved: dict[str, tuple[float, list[str]]] = {}
        self._resolve_lock = threading.Lock()  # the loop and the node's model check resolve
        self._rng = rng
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._notices = LogBudget(NOTICE_REPEAT_S, NOTICE_PER_S, NOTICE_BURST)
        self._event_lines = LogBudget(0.0, EVENT_PER_S, EVENT_BURST)
        self._seed_silent_since: dict[str, float] = {}
        self._seeds_warned: set[str] = set()
        self._seeds_heard: set[str] = set()  # seed addresses whose call answered or failed
        self._seed_list: list[str] | None = None  # the seeds' addresses as last resolved
        self._in_flight: set[tuple[str, str, bool]] = set()
        self._strangers_pending = 0
        self._partners_counted = (-float("inf"), 0)  # (when, partner_count)
        self._pool: ThreadPoolExecutor | None = None
        self._stranger_pool: ThreadPoolExecutor | None = None

    @property
    def id(self) -> str:
        return self._table.id

    @property
    def generation(self) -> int:
        return self._table.me.generation

    # ------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Tick at the state machine's deadlines until ``stop``; push-pulls run concurrently."""
        check, floor = self.config.interval / 4, self.config.interval / TICKS_PER_INTERVAL
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="membership-call")
        self._stranger_pool = ThreadPoolExecutor(
            max_workers=STRANGER_THREADS, thread_name_prefix="membership-stranger"
        )
        try:
            while not stop.is_set():
                round_ = self._tick()
                if round_ is not None:
                    for target in round_.targets:
                        self._submit(target)
                now = self._clock.now()
                with self._lock:
                    deadline = self._table.next_deadline()
                if stop.wait(max(floor, min(deadline, now + check) - now)):
                    return
        finally:
            for pool in (self._pool, self._stranger_pool):
                pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._stranger_pool = None

    def round(self) -> None:
        """One tick with its push-pulls made in this thread (simulations drive it by hand)."""
        round_ = self._tick()
        if round_ is not None:
            for target in round_.targets:
                self._call(target)

    def _tick(self) -> Round | None:
        seeds = self.seed_addresses()
        with self._lock:
            self._seed_list = seeds
            events, round_ = self._table.tick(self._clock.now(), self._rng, seeds)
        self._log(events)
        return round_

    def _submit(self, target: Target) -> None:
        key = target.key
        with self._lock:
            # a member that never answered us (a seed is the operator's word): hearsay may
            # have made it up
            stranger = target.member_id is not None and not self._table.answered(target.member_id)
            if key in self._in_flight:
                return  # the previous call to it is still waiting: do not pile up
            if stranger and self._strangers_pending >= STRANGER_BACKLOG:
                return  # skipped: a later round calls another that has not answered
            self._in_flight.add(key)
            self._strangers_pending += stranger
        pool = self._stranger_pool if stranger else self._pool
        assert pool is not None
        try:
            pool.submit(self._call, target, stranger)
        except RuntimeError:  # the pool was shut down: we are stopping
            with self._lock:
                self._in_flight.discard(key)
                self._strangers_pending -= stranger

    def _call(self, target: Target, stranger: bool = False) -> None:
        started = self._clock.now()
        with self._lock:
            digest = self._table.message(target)
        try:
            reply = self._transport.push_pull(target.address, digest, target.timeout(self.config))
        except GossipError as exc:
            with self._lock:
                self._table.undelivered(digest)
            if target.relay_id:
                with self._lock:
                    events = self._table.relay_failed(target.relay_id, self._clock.now())
                self._log(events)
            elif target.member_id is not None:
                self.report_failure(target.member_id, started)
                if target.full:
                    with self._lock:
                        self._table.sync_failed(self._clock.now())
            else:
                self._seed_failed(target.address, started, exc)
        else:
            if target.member_id is None:
                self._seed_answered(target.address)
            self.merge(reply, target)
        finally:
            with self._lock:
                self._in_flight.discard(target.key)
                self._strangers_pending -= stranger

    # ------------------------------------------------------------ the others' calls

    def merge(self, digest: Digest, reply_to: Target | None = None) -> Digest:
        """Take a peer's digest (a push, or the reply to ours to ``reply_to``); return ours.

        A push that asks for an indirect probe is answered after our own call to
        that member (at most ``call_timeout``): ``relay_ok`` says whether it answered.
        """
        with self._lock:
            events = self._table.merge(digest, self._clock.now(), reply_to)
            reply = self._table.reply(digest) if reply_to is None else digest
        self._log(events)
        if reply_to is None and digest.relay_id and digest.relay_address:
            relayed = Target(digest.relay_address, digest.relay_id)
            with self._lock:
                request = self._table.message(relayed)
            try:
                answer = self._transport.push_pull(
                    relayed.address, request, self.config.call_timeout
                )
            except GossipError:
                return reply
            self.merge(answer, relayed)
            return replace(reply, relay_ok=True)
        return reply

    def report_failure(self, member_id: str, started: float | None = None) -> None:
        """A call to ``member_id`` (push-pull or exchange) failed: evidence (see on_failure)."""
        with self._lock:
            events = self._table.on_failure(member_id, self._clock.now(), started)
        self._log(events)

    def alive(self) -> list[MemberEntry]:
        """Alive members (not suspect): those to exchange parameters with."""
        with self._lock:
            return self._table.alive()

    def reachable(self) -> list[MemberEntry]:
        """Alive members that answered a push-pull of ours at their address: the partners.

        Hearsay can announce members at addresses that lead nowhere (a hostile
        digest, a stale entry); dialling each would hold the gossip loop for a
        deadline apiece while real neighbours wait. Routine gossip reaches every
        real member within a few heartbeats. Before it has reached anyone, all
        alive members.
        """
        with self._lock:
            alive = self._table.alive()
            reached = [m for m in alive if self._table.answered(m.id)]
            return reached or alive

    def by_reach(self) -> tuple[list[MemberEntry], list[MemberEntry]]:
        """Alive members split in two: those that answered a push-pull of ours at their
        address, and those known only by hearsay (catch-up asks the first ones first)."""
        with self._lock:
            alive = self._table.alive()
            answered = [m for m in alive if self._table.answered(m.id)]
            hearsay = [m for m in alive if not self._table.answered(m.id)]
            return answered, hearsay

    def view(self) -> tuple[frozenset[str], bool]:
        """The partners' ids (``reachable``), and whether the view is still filling in.

        Pending: an alive member has not answered us yet, or a seed address has
        not answered nor failed once, or the seeds are not resolved yet
        (gossip/view_settle.py).
        """
        with self._lock:
            alive = self._table.alive()
            reached = frozenset(m.id for m in alive if self._table.answered(m.id))
            strangers = len(reached) < len(alive)
            known = {m.address for m in alive} | {self._table.me.address} | self._seeds_heard
            seeds = self._seed_list
            unresolved = seeds is None and bool(self._seeds)
            seeds_pending = unresolved or any(s not in known for s in seeds or ())
        return reached or frozenset(m.id for m in alive), strangers or seeds_pending

    def partner_count(self) -> int:
        """``len(reachable())``, counted again at most every PARTNER_COUNT_S.

        Read before every training step; a count walks the whole view, which
        hearsay can fill with hundreds of members.
        """
        now = self._clock.now()
        counted_at, count = self._partners_counted  # one tuple: read and replaced whole
        if now - counted_at >= PARTNER_COUNT_S:
            count = len(self.reachable())
            self._partners_counted = (now, count)
        return count

    def pick(self) -> MemberEntry | None:
        """A random alive member to exchange parameters with."""
        with self._lock:
            return self._table.pick(self._rng)

    def leave(self, timeout: float = 1.0) -> None:
        """Mark ourselves left and tell every live member at once, so none thinks us dead."""
        with self._lock:
            round_ = self._table.leave()
            digests = [self._table.message(target) for target in round_.targets]
        told = len(round_.targets)
        log.info("%s: leaving; telling %d member%s", self.id, told, "" if told == 1 else "s")
        with ThreadPoolExecutor(max_workers=16) as pool:
            for target, digest in zip(round_.targets, digests, strict=True):
                pool.submit(self._announce, digest, target.address, timeout)

    def _announce(self, digest: Digest, address: str, timeout: float) -> None:
        with contextlib.suppress(GossipError):
            self._transport.push_pull(address, digest, timeout)

    # ------------------------------------------------------------ reading

    def status(self) -> list[MemberInfo]:
        """Members as in the status JSON (README, Status JSON)."""
        with self._lock:
            now = self._clock.now()
            return [
                MemberInfo(
                    m.id,
                    m.address,
                    m.state.value,
                    m.generation,
                    round(self._table.last_heard(m.id, now), 3),
                )
                for m in self._table.members()
            ]

    def event_counts(self) -> dict[str, int]:
        """Events seen so far, by kind: joined, suspect, alive, dead, left, rejoined, and
        entries dropped as malformed or beyond the member cap (full)."""
        with self._lock:
            return {kind: self._counts[kind] for kind in (*EVENT_KINDS, *DROPPED_KINDS)}

    # ------------------------------------------------------------ seeds and logs

    def seed_addresses(self) -> list[str]:
        """Every address the seeds stand for (a DNS name may resolve to many), ours not."""
        addresses: list[str] = []
        with self._resolve_lock:
            for seed in self._seeds:
                addresses.extend(self._resolve(seed))
        return [a for a in addresses if a != self._table.me.address]

    def _resolve(self, seed: str) -> list[str]:
        now = self._clock.now()
        cached = self._resolved.get(seed)
        if cached is not None and now - cached[0] < SEED_REFRESH_S:
            return cached[1]
        try:
            host, port = parse_address(seed, "seed")
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UsageError) as exc:
            self._notice("seed", seed, f"does not resolve ({exc}); retrying")
            self._resolved[seed] = (now, [])
            return []
        found = []
        for info in infos:
            ip = str(info[4][0])
            address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            if address not in found:
                found.append(address)
        self._resolved[seed] = (now, found)
        return found

    def _seed_failed(self, address: str, started: float, exc: GossipError) -> None:
        """Warn about a seed that stays silent past SEED_PATIENCE_S (a typo, a peer not up)."""
        with self._lock:
            self._seeds_heard.add(address)
            since = self._seed_silent_since.setdefault(address, started)
            patience_over = self._clock.now() - since >= SEED_PATIENCE_S
            if patience_over:
                self._seeds_warned.add(address)
        if patience_over:
            reason = " ".join(str(exc).split())
            self._notice("seed", address, f"does not answer ({reason}); still trying")
        else:
            log.debug("%s: seed %s did not answer: %s", self.id, address, exc)

    def _seed_answered(self, address: str) -> None:
        with self._lock:
            self._seeds_heard.add(address)
            self._seed_silent_since.pop(address, None)
            warned = address in self._seeds_warned
            self._seeds_warned.discard(address)
        if warned:
            log.info("%s: seed %s answers now", self.id, address)

    def _notice(self, kind: str, who: str, detail: str) -> None:
        """Log bad input once per kind, member and detail (again after NOTICE_REPEAT_S),
        within a budget shared by all members (gossip.logsafe)."""
        held = self._notices.allow((kind, who, detail), self._clock.now())
        if held is not None:
            log.warning("%s: %s %s: %s%s", self.id, kind, who, detail, held_note(held))

    def _log(self, events: list[Event]) -> None:
        for event in events:
            member = event.member
            if event.kind in DROPPED_KINDS:
                with self._lock:
                    self._counts[event.kind] += 1
            if event.kind in (*DROPPED_KINDS, "conflict"):
                self._notice(event.kind, f"entry {member.id!r} ({member.address!r})", event.detail)
                continue
            if event.kind in EVENT_KINDS:
                with self._lock:
                    self._counts[event.kind] += 1
            if event.kind == "refuted":
                self._notice("refuted", "ourselves", event.detail)
                continue
            if event.kind == "paused":
                log.warning(
                    "%s: %s; silence timers shifted, nobody convicted", self.id, event.detail
                )
                continue
            held = self._event_lines.allow((event.kind, member.id), self._clock.now())
            if held is None:
                continue
            level = logging.WARNING if event.kind in ("dead", "paused") else logging.INFO
            log.log(
                level,
                "%s: member %s (%s) %s, generation %d%s%s",
                self.id,
                member.id,
                member.address,
                event.kind,
                member.generation,
                f" ({event.detail})" if event.detail else "",
                held_note(held),
            )
