"""A discrete-event simulation of many membership state machines: manual clock, one seed.

The same :class:`~gossip.membership.core.Membership` the node runs, on a
simulated network with per-message delays (hence reordering), drops,
duplicates, partitions, paused processes (SIGSTOP: nothing runs, requests
queue up, the clock jumps on resume), crashes, leaves and restarts. Each
node's clock has its own offset (hosts disagree about the time; the protocol
only uses durations). Every digest is encoded as on the wire
(gossip.transport.wire) and its bytes counted, plus gRPC's 5-byte frame;
with ``wire=True`` (the default) the receiver gets what decoding them gives,
as on the in-memory network (``wire=False`` skips the decoding: the same
bytes, faster). No threads and no sleeps: 1,000 members take about 1-3 s of
wall time per simulated second once formed.

A push-pull is modelled as the gRPC call it is: the request arrives after a
delay, the responder merges it and replies, the reply arrives after another
delay; a call whose reply has not arrived by its deadline fails (the
initiator reports the failure), and a late reply is discarded. A call to an
address where nobody runs is refused at once and sends nothing. An indirect
probe is answered only after the helper's own call to the member ended.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from gossip.membership.config import MembershipConfig
from gossip.membership.core import Membership, Round, Target
from gossip.membership.types import Digest, MemberEntry, State
from gossip.transport.wire import decode_digest, encode_digest


@dataclass(frozen=True)
class SimEvent:
    """One event as an observer logged it, at simulated (global) time ``t``."""

    t: float
    observer: str
    kind: str
    member: str
    generation: int
    detail: str = ""


@dataclass
class SimNode:
    id: str
    address: str
    core: Membership
    rng: random.Random
    seeds: list[str]
    offset: float
    running: bool = True
    paused_until: float = 0.0
    queued: list[Callable[[], None]] = field(default_factory=list)
    tick_seq: int = 0
    tick_at: float = 0.0


@dataclass
class Stats:
    messages: int = 0
    bytes: int = 0
    calls: int = 0
    failed_calls: int = 0


class Simulation:
    """``n`` members ``m0..m{n-1}``; each knows ``seeds`` (default: ``m0`` only)."""

    def __init__(
        self,
        n: int,
        config: MembershipConfig | None = None,
        *,
        seed: int = 0,
        drop: float = 0.0,
        delay: tuple[float, float] = (0.0005, 0.003),
        duplicate: float = 0.0,
        wire: bool = True,
        seeds: Iterable[str] | None = None,
        start_spread: float = 0.5,
    ) -> None:
        self.config = config or MembershipConfig.lan()
        self.rng = random.Random(seed)
        self.drop = drop
        self.delay = delay
        self.duplicate = duplicate
        self.wire = wire
        self.now = 0.0
        self.events: list[SimEvent] = []
        self.stats = Stats()
        self.nodes: dict[str, SimNode] = {}
        self._groups: dict[str, int] = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._generation = itertools.count(1_000)
        seed_list = list(seeds) if seeds is not None else ["m0:1"]
        for i in range(n):
            self.start(f"m{i}", seed_list, at=self.rng.uniform(0, start_spread))

    # ------------------------------------------------------------ scenario verbs

    def start(
        self, node_id: str, seeds: Iterable[str] = ("m0:1",), at: float | None = None
    ) -> None:
        """Start (or restart, with a new generation) a member at ``at`` (default: now)."""

        def boot() -> None:
            offset = self.rng.uniform(-1000.0, 1000.0)  # clock skew between hosts
            me = MemberEntry(node_id, f"{node_id}:1", next(self._generation), 0)
            node = SimNode(
                node_id,
                me.address,
                Membership(me, self.config, self.now + offset),
                random.Random(self.rng.random()),
                [s for s in seeds if s != me.address],
                offset,
            )
            self.nodes[node_id] = node
            self._tick(node)

        self._at(self.now if at is None else at, boot)

    def crash(self, node_id: str) -> None:
        """SIGKILL: the member stops at once, says nothing."""
        self.nodes[node_id].running = False

    def pause(self, node_id: str, seconds: float) -> None:
        """SIGSTOP for ``seconds``: nothing runs; requests queue; then everything resumes."""
        node = self.nodes[node_id]
        node.paused_until = self.now + seconds

        def resume() -> None:
            queued, node.queued = node.queued, []
            self._tick(node)
            for action in queued:
                action()

        self._at(node.paused_until, resume)

    def leave(self, node_id: str, linger: float = 1.0) -> None:
        """SIGTERM: announce the leave to every live member, answer for ``linger`` s, exit."""
        node = self.nodes[node_id]
        self._send_round(node, node.core.leave())
        self._at(self.now + linger, lambda: setattr(node, "running", False))

    def partition(self, *groups: Iterable[str]) -> None:
        """Messages between different groups are lost; members in no group reach everyone."""
        self._groups = {m: i for i, group in enumerate(groups) for m in group}

    def heal(self) -> None:
        self._groups = {}

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until(self, t: float) -> None:
        while self._queue and self._queue[0][0] <= t:
            when, _, action = heapq.heappop(self._queue)
            self.now = when
            action()
        self.now = t

    def run_until_true(
        self, check: Callable[[], bool], timeout: float, step: float = 0.05
    ) -> float:
        """Advance until ``check()`` holds; return the simulated seconds it took (inf: never)."""
        began = self.now
        while self.now - began <= timeout:
            if check():
                return self.now - began
            self.run_for(step)
        return float("inf")

    # ------------------------------------------------------------ observing

    def running(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.running]

    def view(self, observer: str) -> dict[str, State]:
        return {e.id: e.state for e in self.nodes[observer].core.members()}

    def everyone_sees(
        self, member: str, states: Iterable[State], observers: Iterable[str] | None = None
    ) -> bool:
        wanted = set(states)
        ids = observers if observers is not None else [n.id for n in self.running()]
        return all(self.nodes[o].core.state_of(member) in wanted for o in ids if o != member)

    def full_view(self) -> bool:
        """Every running member sees every other running member alive and nobody dead."""
        live = {n.id for n in self.running()}
        for node in self.running():
            view = self.view(node.id)
            if any(view.get(m) is not State.ALIVE for m in live - {node.id}):
                return False
            if any(s is State.DEAD for s in view.values()):
                return False
        return True

    def count(self, kind: str, member: str | None = None, since: float = 0.0) -> int:
        return sum(
            1
            for e in self.events
            if e.kind == kind and e.t >= since and (member is None or e.member == member)
        )

    # ------------------------------------------------------------ the machinery

    def _at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action))

    def _local(self, node: SimNode) -> float:
        return self.now + node.offset

    def _available(self, node: SimNode, action: Callable[[], None]) -> bool:
        """Run ``action`` now, later (paused: queued), or never (crashed); True if not dropped."""
        if not node.running:
            return False
        if self.now < node.paused_until:
            node.queued.append(action)
            return True
        action()
        return True

    def _record(self, node: SimNode, events: Iterable[object]) -> None:
        for event in events:
            kind = getattr(event, "kind", "")
            member = getattr(event, "member", None)
            if isinstance(member, MemberEntry):
                self.events.append(
                    SimEvent(
                        self.now,
                        node.id,
                        kind,
                        member.id,
                        member.generation,
                        getattr(event, "detail", ""),
                    )
                )

    def _tick(self, node: SimNode) -> None:
        if not node.running or self.now < node.paused_until:
            return
        node.tick_seq += 1
        events, round_ = node.core.tick(self._local(node), node.rng, node.seeds)
        self._record(node, events)
        if round_ is not None:
            self._send_round(node, round_)
        self._schedule_tick(node)

    def _schedule_tick(self, node: SimNode) -> None:
        seq = node.tick_seq
        due = max(node.core.next_deadline() - node.offset, self.now + 1e-4)
        node.tick_at = due

        def again() -> None:
            if node.tick_seq == seq:
                self._tick(node)

        self._at(due, again)

    def _poke(self, node: SimNode) -> None:
        """The core may want a tick sooner (indirect probes to send): move it forward."""
        due = node.core.next_deadline() - node.offset
        if due < node.tick_at - 1e-9 and node.running and self.now >= node.paused_until:
            node.tick_seq += 1
            self._schedule_tick(node)

    def _send_round(self, node: SimNode, round_: Round) -> None:
        for target in round_.targets:
            self._call(node, target)

    def _carry(self, digest: Digest) -> Digest:
        """Count the message's protobuf bytes (plus gRPC's 5-byte frame); with ``wire``,
        hand over what decoding them gives, as the in-memory network does."""
        data = encode_digest(digest)
        self.stats.bytes += len(data) + 5
        return decode_digest(data) if self.wire else digest

    def _lost(self, a: str, b: str) -> bool:
        ga, gb = self._groups.get(a), self._groups.get(b)
        if ga is not None and gb is not None and ga != gb:
            return True
        return self.drop > 0 and self.rng.random() < self.drop

    def _call(
        self, node: SimNode, target: Target, relayed: Callable[[bool], None] | None = None
    ) -> None:
        """One push-pull from ``node``; ``relayed``: made for another member (an indirect
        probe), told whether the call was answered instead of the core."""
        self.stats.calls += 1
        done = [False]
        started = self._local(node)
        peer_id = target.address.rsplit(":", 1)[0]
        digest = node.core.message(target)

        def fail() -> None:
            if done[0]:
                return
            done[0] = True
            self.stats.failed_calls += 1
            if relayed is not None:
                relayed(False)
                return

            def act() -> None:
                now = self._local(node)
                if target.relay_id:
                    self._record(node, node.core.relay_failed(target.relay_id, now))
                elif target.member_id is not None:
                    self._record(node, node.core.on_failure(target.member_id, now, started))
                    if target.full:
                        node.core.sync_failed(now)
                self._poke(node)

            self._available(node, act)

        peer = self.nodes.get(peer_id)
        if peer is None or not peer.running:
            # nobody listens there: the connection is refused at once, nothing is sent
            self._at(self.now + self.rng.uniform(*self.delay), fail)
            return
        self._at(self.now + target.timeout(self.config), fail)

        def on_reply(reply: Digest) -> None:
            if done[0]:
                return  # too late: the call already failed
            done[0] = True

            def act() -> None:
                self._record(node, node.core.merge(reply, self._local(node), target))
                self._poke(node)
                if relayed is not None:
                    relayed(True)

            self._available(node, act)

        def on_request(request: Digest) -> None:
            if not peer.running:
                self._at(self.now + self.rng.uniform(*self.delay), fail)
                return

            def answer() -> None:
                self._record(peer, peer.core.merge(request, self._local(peer)))
                reply = peer.core.reply(request)
                self._poke(peer)
                if request.relay_id and request.relay_address:

                    def back(ok: bool) -> None:
                        self._message(peer.id, node.id, replace(reply, relay_ok=ok), on_reply)

                    self._call(peer, Target(request.relay_address, request.relay_id), back)
                else:
                    self._message(peer.id, node.id, reply, on_reply)

            self._available(peer, answer)

        self._message(node.id, peer_id, digest, on_request)

    def _message(
        self, src: str, dst: str, digest: Digest, deliver: Callable[[Digest], None]
    ) -> None:
        copies = 2 if self.duplicate > 0 and self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            self.stats.messages += 1
            carried = self._carry(digest)
            if self._lost(src, dst):
                continue
            when = self.now + self.rng.uniform(*self.delay)
            self._at(when, lambda c=carried: deliver(c))  # type: ignore[misc]
