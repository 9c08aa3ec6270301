"""The pure membership state machine: SWIM probing, piggybacked deltas, anti-entropy, tombstones.

Driven like etcd's raft ``RawNode``: the driver calls :meth:`Membership.tick`
at :meth:`Membership.next_deadline` (or earlier), makes the calls of the
:class:`Round` it returns (each with the digest :meth:`Membership.message`
builds for it), answers every digest it receives with
:meth:`Membership.reply`, feeds replies and pushes to :meth:`Membership.merge`
and failed calls to :meth:`Membership.on_failure`, and logs the
:class:`~gossip.membership.types.Event` values they all return. No clock, no
sockets, no threads, no randomness of its own.

Why this shape: a digest of every member in every message costs O(members)
per message; at 128 members that was 130 kB/s per member. Here a member's
cost is flat in the cluster size (README, "Membership at scale"):

* **Deltas.** An entry is gossiped only when our view of it *changed*
  (joined, suspect, alive again, dead, left, new generation): it is queued
  and rides in the next messages we send or answer, at most
  ``max_piggyback`` per message, least-sent first, each about
  ``retransmit_mult * log10(n + 1)`` times, then dropped from the queue
  (SWIM's infection-style dissemination, memberlist's TransmitLimitedQueue).
  Our own entry rides in every message.
* **Probing (SWIM).** Every ``interval`` a node push-pulls deltas with
  ``fanout`` members: the next one of a shuffled round-robin over all live
  members (so each member is probed by someone about once per interval, and
  by everyone within n intervals) and random others. Any direct answer from a
  member is proof it lives. A failed call asks ``indirect_probes`` other
  members to call it for us; when none of them reaches it either, it is
  *suspect*. A member that hears it is suspected *refutes* by bumping its
  incarnation (the ``heartbeat`` field, which only the member itself
  raises); the newer alive entry spreads as a delta and clears the
  suspicion everywhere.
* **Suspicion, then dead.** Each node that holds a member suspect waits a
  timeout that shrinks from ``suspicion_max`` to ``suspicion_min`` as
  ``confirmations`` other members report the same suspicion (Lifeguard), then
  makes one last direct call: a crashed peer refuses it at once (dead), a
  paused one that resumes answers it (it refutes). ``dead`` from gossip is
  taken only by a node that suspects the member too.
* **Anti-entropy.** A full digest is push-pulled with one random member every
  ``sync_interval`` (times U(0.5, 1.5), so syncs do not fall into step; a
  failed one is retried after ``sync_interval``), with seeds while joining,
  and with one random dead member every ``reconnect_interval`` (a healed
  partition finds itself). This repairs whatever deltas missed.
* Only the member itself speaks for its liveness: ``alive`` is never taken
  from gossip without a newer incarnation. ``left`` is final for a
  generation; a new generation supersedes everything of the old one.
* Dead and left members stay ``tombstone_ttl`` as tombstones; an expired
  tombstone's version is remembered (an LRU): hearsay of that version or
  older does not start its lifetime again.
* Bounds: at most ``max_members`` alive or suspect members (a new one beyond
  is dropped as ``full``, nobody known is evicted), at most
  ``max_tombstones`` tombstones (the oldest go first), at most
  :data:`MAX_REPORTS` reporters per suspect.
* A jump of our own clock beyond ``stall_threshold`` (the process was paused)
  shifts every timer by the jump: nobody is convicted for our pause.
* A node that knew no live member and learns some (it just joined, restarted
  or was cut off alone) sends its next round, at once, to every member.
* A new member is taken from a reply to our own push-pull, from a push by a
  member that answered us at its address, or from its own push; a push from
  anyone else adds nobody but its sender. A stranger (any client of an open
  cluster) can then announce one made-up member per push, not a view's worth
  that every node would pass on and dial.
* Bad input (empty or malformed fields, counters out of range, an id claimed
  from another address) is dropped and reported as an event.

Work per call is independent of the cluster size except where it must not
be: a full digest, a broadcast after joining, the round-robin's reshuffle
once per n rounds.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gossip.lru import Lru
from gossip.membership.config import MembershipConfig
from gossip.membership.detector import suspicion_timeout
from gossip.membership.types import Digest, Event, MemberEntry, State
from gossip.names import address_problem, id_problem

MAX_HEARTBEAT = 1 << 48
"""Larger counters are refused as forged."""
MAX_GENERATION = 1 << 62
MAX_REPORTS = 32
"""Reporters of a suspicion kept per member (more than ``confirmations`` ever needs)."""

STRANGER_GAPS = 16.0
"""A member that called us but never answered us is suspected after this many times the
mean wait for its next call, ``n * interval / fanout`` (see Membership._stranger_check)."""

EARLY_SYNCS = 2
"""Anti-entropy syncs after the first made about ``seed_interval`` apart, not ``sync_interval``
(the first too: a cluster started at once learns from them what deltas missed while each
member's view was small)."""

_LIVE = (State.ALIVE, State.SUSPECT)


@dataclass(frozen=True)
class Target:
    """One push-pull to make: an address, and the member it belongs to (None: a seed)."""

    address: str
    member_id: str | None
    last_call: bool = False
    """The last direct call before a conviction: made with ``last_call_timeout``."""
    full: bool = False
    """Push-pull full digests (anti-entropy, joining), not deltas."""
    relay_id: str = ""
    """An indirect probe: ask this member to call ``relay_id`` at ``relay_address`` for us."""
    relay_address: str = ""

    def timeout(self, config: MembershipConfig) -> float:
        """The call's deadline: an indirect probe waits for the helper's own call; a last
        call, or a join through a seed, is worth waiting for longer than routine gossip."""
        if self.relay_id:
            return 2 * config.call_timeout
        if self.last_call or self.member_id is None:
            return config.last_call_timeout
        return config.call_timeout

    @property
    def key(self) -> tuple[str, str, bool]:
        """Calls with the same key are the same call (one of them is enough)."""
        return (self.address, self.relay_id, self.full)


@dataclass(frozen=True)
class Round:
    """The calls to make now; each with the digest ``Membership.message(target)`` returns."""

    targets: tuple[Target, ...]


class _Member:
    """Our view of one member: its latest entry (``state`` is our opinion) and timers."""

    __slots__ = (
        "answered",
        "beat_at",
        "changed_at",
        "direct",
        "entry",
        "heard_at",
        "probe_at",
        "reports",
        "suspect_since",
        "vouched_at",
    )

    def __init__(self, entry: MemberEntry, now: float) -> None:
        self.entry = entry
        self.heard_at = now  # last direct evidence (a message from it, an answer relayed)
        self.vouched_at = now  # last evidence from anyone: its beat advanced in our view
        self.beat_at = -math.inf  # the same, but never the mere learning of it (_vouch)
        self.direct = False  # it spoke to us (or answered a probe made for us) at least once
        self.changed_at = now
        self.suspect_since = 0.0
        self.probe_at = 0.0  # when the last-chance direct call started (0: not yet)
        self.reports: dict[str, tuple[int, int]] = {}  # reporter -> version it suspected
        self.answered = False  # it answered a push-pull of ours at its address

    @property
    def state(self) -> State:
        return self.entry.state


def invalid_reason(entry: MemberEntry) -> str | None:
    """Why an entry from the wire cannot be trusted at all, or None when it is well formed."""
    problem = id_problem(entry.id) or address_problem(entry.address)
    if problem:
        return problem
    if not 0 < entry.generation < MAX_GENERATION:
        return f"generation {entry.generation} out of range"
    if not 0 <= entry.heartbeat < MAX_HEARTBEAT:
        return f"heartbeat {entry.heartbeat} out of range"
    return None


class Membership:
    """One node's view of the cluster."""

    def __init__(self, me: MemberEntry, config: MembershipConfig, now: float) -> None:
        self.config = config
        self._me = replace(me, state=State.ALIVE)
        self._members: dict[str, _Member] = {}
        self._tombs: set[str] = set()
        self._tombs_expire_at = 0.0
        """No tombstone's ttl ends before this (while they are within the cap)."""
        self._suspects: set[str] = set()
        self._by_address: dict[str, str] = {}
        self._pending: dict[str, list[float]] = {}
        """Members under indirect probing: [deadline, helpers that have not answered]."""
        self._levels: list[dict[str, None]] = [{}]
        """The delta queue: ids by how often they were sent (index), oldest first."""
        self._sent: dict[str, int] = {}
        self._order: list[str] = []
        self._order_at = 0
        self._vouch_at = 0
        self._stranger_events: list[Event] = []
        self._last_now = now
        self._next_round = now
        self._next_check = now
        self._next_reconnect = now + config.reconnect_interval
        self._next_seed = now
        self._next_sync: float | None = None  # drawn at the first round (no randomness here)
        self._early_syncs = EARLY_SYNCS
        self._joining_until = now + config.seed_interval
        """Until then, a seed that is not a member yet is dialled every round (see _targets)."""
        self._broadcast = False
        self._spread_new = True
        self._merging_from = ""
        self._outbox: list[Target] = []
        self._forgotten: Lru[str, tuple[int, int]] = Lru(4 * config.max_tombstones)
        """Versions of expired tombstones: their hearsay does not bring them back."""

    # ------------------------------------------------------------ reading

    @property
    def id(self) -> str:
        return self._me.id

    @property
    def me(self) -> MemberEntry:
        return self._me

    def members(self) -> list[MemberEntry]:
        """Every known member but oneself, tombstones included, sorted by id."""
        return sorted((m.entry for m in self._members.values()), key=lambda e: e.id)

    def alive(self) -> list[MemberEntry]:
        """Members to exchange parameters with: alive only (not suspect)."""
        return [m.entry for m in self._members.values() if m.entry.state is State.ALIVE]

    def live_count(self) -> int:
        """Alive or suspect members."""
        return len(self._members) - len(self._tombs)

    def answered(self, member_id: str) -> bool:
        """Whether the member answered a push-pull of ours at its address (this generation)."""
        member = self._members.get(member_id)
        return member is not None and member.answered

    def state_of(self, member_id: str) -> State | None:
        member = self._members.get(member_id)
        return member.state if member else None

    def last_heard(self, member_id: str, now: float) -> float:
        """Seconds since the member last spoke to us (or answered a probe made for us)."""
        member = self._members.get(member_id)
        return now - member.heard_at if member else float("inf")

    def pick(self, rng: random.Random) -> MemberEntry | None:
        """A random alive member to exchange with, or None when nobody is known alive."""
        alive = self.alive()
        return rng.choice(alive) if alive else None

    def next_deadline(self) -> float:
        """The latest time at which ``tick`` must be called again."""
        return min(self._next_round, self._next_check)

    def retransmits(self) -> int:
        """How many times a delta is sent: ``retransmit_mult * ceil(log10(n + 1))``."""
        n = self.live_count() + 1
        return self.config.retransmit_mult * max(2, math.ceil(math.log10(n + 1)))

    def pending_deltas(self) -> int:
        return len(self._sent)

    def digest(self) -> Digest:
        """Everything we know, ourselves first: the anti-entropy digest."""
        entries = [self._me]
        entries.extend(m.entry for m in self._members.values())
        return Digest(self._me.id, tuple(entries), full=True)

    def message(self, target: Target) -> Digest:
        """The digest to send to ``target``: full for a sync, else our entry and deltas."""
        if target.full:
            return self.digest()
        about = self._members.get(target.member_id) if target.member_id else None
        return self._deltas(about, target.relay_id, target.relay_address)

    def reply(self, request: Digest) -> Digest:
        """Our answer to ``request`` (after merging it): full to a full one, else deltas."""
        if request.full:
            return self.digest()
        return self._deltas(self._members.get(request.sender_id))

    # ------------------------------------------------------------ driving

    def tick(
        self, now: float, rng: random.Random, seeds: Sequence[str] = ()
    ) -> tuple[list[Event], Round | None]:
        """Detect failures; when a round is due, say whom to push-pull."""
        events = self._observe_time(now)
        events.extend(self._detect(now))
        self._expire(now)
        outbox, self._outbox = self._outbox, []
        if self._me.state is State.LEFT or now < self._next_round:
            return events, Round(tuple(outbox)) if outbox else None
        self._next_round = max(self._next_round + self.config.interval, now)
        self._me = replace(self._me, beat=self._me.beat + 1)
        targets = list(self._targets(now, rng, seeds))
        events.extend(self._stranger_events)
        self._stranger_events.clear()
        seen = {t.key for t in targets}
        targets.extend(t for t in outbox if t.key not in seen)
        return events, Round(tuple(targets))

    def merge(self, digest: Digest, now: float, reply_to: Target | None = None) -> list[Event]:
        """Take a digest (a push, or the reply to our call to ``reply_to``): newer entries win.

        Returns what changed. A reply marks the member we called as answered (a
        seed's reply: its sender); a reply to an indirect probe that says the
        member answered the helper clears that probe.
        """
        events = self._observe_time(now)
        sender = digest.sender_id
        problem = id_problem(sender) if sender else None
        if problem:
            return [*events, Event("malformed", _UNKNOWN, f"digest sender: {problem}")]
        live = self.live_count()
        tombstones = len(self._tombs)
        alone = live == 0
        # members new to us from a whole view are not news to gossip: the sender knew them
        # (a joiner learning 1,000 members must not queue 1,000 deltas); the sender itself is
        self._spread_new, self._merging_from = not digest.full, sender
        members = self._members
        # new members only from a reply to our call or a member that answered us; a
        # stranger's push speaks for itself alone (hearsay it made up stops here)
        teller = members.get(sender)
        trusted = reply_to is not None or (teller is not None and teller.answered)
        alive = State.ALIVE
        for entry in digest.entries:
            known = members.get(entry.id)
            if known is not None:  # the common case, kept cheap: nothing new about a member
                old = known.entry
                if entry.generation == old.generation and (
                    entry.heartbeat < old.heartbeat
                    or (entry.heartbeat == old.heartbeat and entry.state is alive)
                ):
                    if entry.beat > old.beat and entry.heartbeat == old.heartbeat:
                        known.entry = replace(old, beat=entry.beat)  # alive lately: not news
                        known.vouched_at = known.beat_at = now
                    continue
            if entry.id == self._me.id:
                event = self._about_me(entry, now)
            elif reason := invalid_reason(entry):
                event = Event("malformed", entry, f"from {sender or '?'}: {reason}")
            elif known is None:  # a new member: within the caps, and not an expired tombstone
                if not trusted and entry.id != sender:
                    continue
                forgotten = self._forgotten.get(entry.id)
                if forgotten is not None and entry.version <= forgotten:
                    continue
                if entry.state in _LIVE:
                    if live >= self.config.max_members:
                        events.append(Event("full", entry, f"{live} members already"))
                        continue
                    live += 1
                elif tombstones >= self.config.max_tombstones:
                    continue  # hearsay about a member we never knew: nothing to protect
                else:
                    tombstones += 1
                event = self._merge_entry(entry, sender, now)
            elif known.state not in _LIVE and entry.state in _LIVE:  # a tombstone may revive
                if live >= self.config.max_members:
                    events.append(Event("full", entry, f"{live} members already"))
                    continue
                event = self._merge_entry(entry, sender, now)
                live += self.state_of(entry.id) in _LIVE
            else:
                event = self._merge_entry(entry, sender, now)
            if event is not None:
                events.append(event)
        self._spread_new = True
        self._heard_from(sender, now)
        if reply_to is not None:
            member = members.get(reply_to.member_id or sender)
            if member is not None and (
                reply_to.member_id is None or member.entry.address == reply_to.address
            ):
                member.answered = True
            if reply_to.relay_id:
                events.extend(self._relay_answered(reply_to.relay_id, digest.relay_ok, now))
        if alone and self._me.state is not State.LEFT and self.live_count():
            # we just joined (or were cut off): tell every member now, not in log(n) rounds
            self._broadcast = True
            self._next_round = min(self._next_round, now)
        return events

    def on_failure(self, member_id: str, now: float, started: float | None = None) -> list[Event]:
        """A call to the member failed: probe it through others, or convict after a last call.

        It convicts only a suspect whose suspicion already timed out, and only
        when the call is our last direct call (``started`` at or after it was
        due): a call that merely began earlier says nothing about whether a
        paused member resumed.
        """
        events = self._observe_time(now)
        member = self._members.get(member_id)
        if member is None:
            return events
        if (
            member.state is State.SUSPECT
            and member.probe_at > 0.0
            and started is not None
            and started >= member.probe_at
        ):
            events.append(
                self._convict(member, now, "suspicion timed out, last direct call failed")
            )
            return events
        if member.state is not State.ALIVE or member_id in self._pending:
            return events
        if not member.answered:  # a stranger: judged by others' word (see _stranger_check)
            event = self._stranger_check(member, now)
            return [*events, event] if event is not None else events
        if started is not None and started < member.heard_at:
            return events  # it spoke to us since that call began
        helpers = self._helpers(member_id)
        if not helpers:
            events.append(self._suspect(member, now, "a call to it failed, nobody to ask"))
            return events
        address = member.entry.address
        self._outbox.extend(
            Target(h.entry.address, h.entry.id, relay_id=member_id, relay_address=address)
            for h in helpers
        )
        deadline = now + 2 * self.config.call_timeout
        self._pending[member_id] = [deadline, float(len(helpers))]
        self._next_check = min(self._next_check, now)  # the driver ticks now: the outbox
        return events

    def undelivered(self, digest: Digest) -> None:
        """A message of ours never arrived (its call failed): the deltas it carried count
        one transmission less. A gateway's calls to the other site's members fail; counted,
        they used up the transmissions of news (a member that left) the gateway alone can
        pass to the other site."""
        for entry in digest.entries:
            level = self._sent.get(entry.id)
            if level:
                del self._levels[level][entry.id]
                self._levels[level - 1][entry.id] = None
                self._sent[entry.id] = level - 1

    def sync_failed(self, now: float) -> None:
        """Our anti-entropy push-pull failed: try another member after ``sync_interval``."""
        self._next_sync = now + self.config.sync_interval

    def leave(self) -> Round:
        """Mark ourselves left; the round tells every live member at once."""
        self._me = replace(self._me, state=State.LEFT, heartbeat=self._me.heartbeat + 1)
        targets = tuple(
            Target(m.entry.address, m.entry.id) for m in self._members.values() if m.state in _LIVE
        )
        return Round(targets)

    # ------------------------------------------------------------ deltas

    def _enqueue(self, member_id: str) -> None:
        """Gossip our (changed) view of ``member_id`` again from its first transmission."""
        sent = self._sent.get(member_id)
        if sent is not None:
            self._levels[sent].pop(member_id, None)
        self._sent[member_id] = 0
        self._levels[0][member_id] = None

    def _deltas(self, about: _Member | None, relay_id: str = "", relay_address: str = "") -> Digest:
        entries = [self._me]
        if about is not None and about.state is not State.ALIVE:
            entries.append(about.entry)  # a suspect hears it at once, and can refute
        limit = self.retransmits()
        budget = self.config.max_piggyback
        taken: list[tuple[str, int]] = []
        for level, ids in enumerate(self._levels):
            for member_id in ids:
                taken.append((member_id, level))
                budget -= 1
                if budget == 0:
                    break
            if budget == 0:
                break
        for member_id, level in taken:
            del self._levels[level][member_id]
            member = self._members.get(member_id)
            if member is None:
                del self._sent[member_id]
                continue
            if member is not about:
                entries.append(member.entry)
            if level + 1 >= limit:
                del self._sent[member_id]
                continue
            while len(self._levels) <= level + 1:
                self._levels.append({})
            self._levels[level + 1][member_id] = None
            self._sent[member_id] = level + 1
        skip = {e.id for e in entries}
        if about is not None:
            skip.add(about.entry.id)
        vouched = self._vouch(self._last_now, skip)
        if vouched is not None:
            entries.append(vouched)
        return Digest(self._me.id, tuple(entries), relay_id=relay_id, relay_address=relay_address)

    # ------------------------------------------------------------ internals

    def _heard_from(self, sender: str, now: float) -> None:
        member = self._members.get(sender)
        if member is not None and member.state in _LIVE:
            member.heard_at = member.vouched_at = member.beat_at = now
            member.direct = True
            self._pending.pop(sender, None)

    def _relay_answered(self, member_id: str, ok: bool, now: float) -> list[Event]:
        pending = self._pending.get(member_id)
        if pending is None:
            return []
        member = self._members.get(member_id)
        if ok:
            del self._pending[member_id]
            if member is not None:
                member.heard_at = member.vouched_at = member.beat_at = now
                member.direct = True
            return []
        pending[1] -= 1  # one helper could not reach it either
        if pending[1] > 0:
            return []
        del self._pending[member_id]
        if member is None or member.state is not State.ALIVE:
            return []
        return [self._suspect(member, now, "no answer, directly or through others")]

    def relay_failed(self, member_id: str, now: float) -> list[Event]:
        """A helper did not answer our indirect probe of ``member_id`` (its call failed)."""
        return [*self._observe_time(now), *self._relay_answered(member_id, False, now)]

    def _helpers(self, member_id: str) -> list[_Member]:
        """Up to ``indirect_probes`` alive members other than ``member_id``, those that
        answered us first, spread over the round-robin order (a few tries each: no walk
        over the whole view)."""
        want = self.config.indirect_probes
        order = self._order
        if len(order) <= 4 * want:
            candidates = [k for k in self._members if k != member_id]
        else:
            step = max(1, len(order) // (4 * want))
            candidates = [order[(self._order_at + step * i) % len(order)] for i in range(4 * want)]
        alive = []
        for other_id in dict.fromkeys(candidates):
            member = self._members.get(other_id)
            if other_id != member_id and member is not None and member.state is State.ALIVE:
                alive.append(member)
        alive.sort(key=lambda m: not m.answered)
        return alive[:want]

    def _observe_time(self, now: float) -> list[Event]:
        gap = now - self._last_now
        if gap <= 0:
            return []
        self._last_now = now
        if gap <= self.config.stall_threshold or self._me.state is State.LEFT:
            return []
        for member in self._members.values():
            if member.state in _LIVE:
                member.heard_at += gap
                member.suspect_since += gap
                if member.probe_at > 0.0:
                    member.probe_at += gap
        for pending in self._pending.values():
            pending[0] += gap
        self._broadcast = True
        self._next_round = now
        return [Event("paused", self._me, f"our process stalled for {gap:.2f}s")]

    def _detect(self, now: float) -> list[Event]:
        events: list[Event] = []
        next_check = now + self.config.tombstone_ttl
        for member_id, (deadline, _) in list(self._pending.items()):
            if now < deadline:
                next_check = min(next_check, deadline)
                continue
            del self._pending[member_id]
            member = self._members.get(member_id)
            if member is not None and member.state is State.ALIVE:
                events.append(self._suspect(member, now, "no answer, directly or through others"))
        expected = min(self.config.confirmations, self.live_count() - 1)
        for member_id in list(self._suspects):
            member = self._members[member_id]
            due = member.suspect_since + self._timeout(member, expected)
            if now < due:
                next_check = min(next_check, due)
            elif member.probe_at == 0.0:
                # last chance: one direct call; a paused process that resumes answers it,
                # a crashed one refuses it at once (see on_failure)
                member.probe_at = now
                self._outbox.append(Target(member.entry.address, member.entry.id, True))
                next_check = min(next_check, now + self.config.last_call_timeout)
            elif now >= member.probe_at + self.config.last_call_timeout:
                events.append(self._convict(member, now, "no answer to a last direct call"))
            else:
                next_check = min(next_check, member.probe_at + self.config.last_call_timeout)
        self._next_check = next_check
        return events

    def _set_state(self, member: _Member, entry: MemberEntry) -> None:
        """Replace a member's entry, keeping the suspect and tombstone indexes true."""
        member_id = entry.id
        member.entry = entry
        if entry.state is State.SUSPECT:
            self._suspects.add(member_id)
        else:
            self._suspects.discard(member_id)
        if entry.state in _LIVE:
            self._tombs.discard(member_id)
        else:
            self._tombs.add(member_id)
            self._pending.pop(member_id, None)
            self._tombs_expire_at = min(self._tombs_expire_at, self._last_now)  # look again

    def _convict(self, member: _Member, now: float, why: str) -> Event:
        self._set_state(member, replace(member.entry, state=State.DEAD))
        member.changed_at = now
        member.probe_at = 0.0
        self._enqueue(member.entry.id)
        return Event("dead", member.entry, why)

    def _timeout(self, member: _Member, expected: int) -> float:
        version = member.entry.version
        confirmed = sum(1 for v in member.reports.values() if v >= version)
        return suspicion_timeout(
            confirmed, expected, self.config.suspicion_min, self.config.suspicion_max
        )

    def _suspect(self, member: _Member, since: float, why: str = "") -> Event:
        self._set_state(member, replace(member.entry, state=State.SUSPECT))
        member.suspect_since = since
        member.changed_at = since
        member.probe_at = 0.0
        self._enqueue(member.entry.id)
        return Event("suspect", member.entry, why)

    def _expire(self, now: float) -> None:
        """Forget tombstones older than the ttl, and the oldest beyond ``max_tombstones``."""
        ttl, cap = self.config.tombstone_ttl, self.config.max_tombstones
        if len(self._tombs) <= cap and now < self._tombs_expire_at:
            return  # nothing to do before the oldest tombstone's ttl (a cheap test per tick)
        tombs = sorted(((self._members[k].changed_at, k) for k in self._tombs), reverse=True)
        self._tombs_expire_at = float("inf")
        for rank, (changed_at, key) in enumerate(tombs):
            if rank >= cap or now - changed_at >= ttl:
                self._forget(key)
            else:
                self._tombs_expire_at = min(self._tombs_expire_at, changed_at + ttl)

    def _forget(self, member_id: str) -> None:
        member = self._members.pop(member_id)
        self._forgotten[member_id] = member.entry.version
        self._tombs.discard(member_id)
        self._suspects.discard(member_id)
        if self._by_address.get(member.entry.address) == member_id:
            del self._by_address[member.entry.address]

    def _next_probe(self, rng: random.Random, now: float) -> _Member | None:
        """The next live member of the shuffled round-robin (reshuffled after each pass)."""
        for _ in range(2):
            while self._order_at < len(self._order):
                member = self._members.get(self._order[self._order_at])
                self._order_at += 1
                if member is not None and member.state in _LIVE:
                    event = self._stranger_check(member, now)
                    if event is not None:
                        self._stranger_events.append(event)
                    return member
            self._order = [k for k, m in self._members.items() if m.state in _LIVE]
            rng.shuffle(self._order)
            self._order_at = 0
        return None

    def _stranger_check(self, member: _Member, now: float) -> Event | None:
        """A member that never answered us is suspect once nobody vouched for it lately.

        Our own failed calls say nothing about it (it may be behind a NAT or on another
        site); its ``beat`` advancing in our view does, from whoever saw it, within
        ``stranger_timeout``. One that did speak to us (a NAT-ed member calls out) is
        also suspect once it has been silent to us for ``STRANGER_GAPS`` times the mean
        wait for its next call, ``n * interval / fanout``, and at least twice
        ``suspicion_max``: so a member that crashed a moment after joining, before
        anyone could call it, is suspected within seconds in a small cluster, not after
        ``stranger_timeout``. Checked when the round-robin comes to it and when a call
        to it fails, so it costs nothing per tick.
        """
        if member.answered or member.state is not State.ALIVE:
            return None
        config = self.config
        if member.direct:
            wait = STRANGER_GAPS * (self.live_count() + 1) * config.interval / config.fanout
            if now - member.heard_at >= max(wait, 2 * config.suspicion_max):
                return self._suspect(member, now, "it stopped calling us, it never answered us")
        if now - member.vouched_at < config.stranger_timeout:
            return None
        return self._suspect(member, now, "nobody vouched for it lately, it never answered us")

    def _vouch(self, now: float, skip: set[str]) -> MemberEntry | None:
        """One member whose ``beat`` advanced lately in our view, in turn: its fresh beat
        travels on, so members that cannot reach it (another site, a NAT) know it lives.

        Heard from directly or told by others alike: a gateway that only hears of the
        other site's peers through the other gateway must pass their beats on to its own
        site, or those peers are suspected there every ``stranger_timeout``. A dead
        member's beat stops advancing, so passing it on keeps no one alive."""
        order = self._order
        window = self.config.stranger_timeout / 4
        for _ in range(min(len(order), 8)):
            self._vouch_at = (self._vouch_at + 1) % len(order)
            member = self._members.get(order[self._vouch_at])
            if (
                member is not None
                and member.state is State.ALIVE
                and now - member.beat_at < window
                and member.entry.id not in skip
            ):
                return member.entry
        return None

    def _random_live(self, rng: random.Random, avoid: set[str]) -> _Member | None:
        order = self._order
        for _ in range(4):
            if not order:
                return None
            member = self._members.get(order[rng.randrange(len(order))])
            if member is not None and member.state in _LIVE and member.entry.id not in avoid:
                return member
        return None

    def _targets(self, now: float, rng: random.Random, seeds: Sequence[str]) -> tuple[Target, ...]:
        config = self.config
        if self._broadcast:
            self._broadcast = False
            chosen = [m for m in self._members.values() if m.state in _LIVE]
        else:
            chosen = []
            probe = self._next_probe(rng, now)
            if probe is not None:
                chosen.append(probe)
                avoid = {probe.entry.id}
                for _ in range(config.fanout - 1):
                    other = self._random_live(rng, avoid)
                    if other is not None:
                        avoid.add(other.entry.id)
                        chosen.append(other)
        targets = [Target(m.entry.address, m.entry.id) for m in chosen]
        live = self.live_count()
        if self._next_sync is None:
            first = min(config.sync_interval, config.seed_interval or config.sync_interval)
            self._next_sync = now + rng.uniform(0.5, 1.5) * first
        elif now >= self._next_sync and live:
            period = config.sync_interval
            if self._early_syncs > 0:
                self._early_syncs -= 1
                period = min(period, config.seed_interval or period)
            self._next_sync = now + rng.uniform(0.5, 1.5) * period
            other = self._random_live(rng, set())
            if other is not None:
                targets.append(Target(other.entry.address, other.entry.id, full=True))
        if now >= self._next_reconnect:
            self._next_reconnect = now + config.reconnect_interval
            dead = [
                self._members[k]
                for k in self._tombs
                if self._members[k].state is State.DEAD and self._members[k].answered
            ]
            if dead:
                pick = rng.choice(dead).entry
                targets.append(Target(pick.address, pick.id, full=True))
        # while joining, every round: peers started together that each reached one random
        # seed could stay in separate groups until the next seed_interval (8 peers: ~5 s)
        joining = now < self._joining_until
        due = config.seed_interval > 0 and now >= self._next_seed
        if seeds and (not live or joining or due):
            fresh = [s for s in seeds if s != self._me.address and not self._live_at(s)]
            if fresh:
                self._next_seed = now + config.seed_interval
                targets.append(Target(rng.choice(fresh), None, full=True))
        seen: set[tuple[str, str, bool]] = set()
        unique = []
        for target in targets:
            if target.key not in seen:
                seen.add(target.key)
                unique.append(target)
        return tuple(unique)

    def _live_at(self, address: str) -> bool:
        member_id = self._by_address.get(address)
        member = self._members.get(member_id) if member_id else None
        return member is not None and member.state in _LIVE and member.entry.address == address

    def _about_me(self, entry: MemberEntry, now: float) -> Event | None:
        me = self._me
        if entry.address != me.address:
            if entry.generation >= me.generation and entry.state in _LIVE:
                return Event("conflict", entry, "an entry claims our id from another address")
            return None
        if entry.generation > me.generation and entry.generation < MAX_GENERATION - 1:
            # an older incarnation of ours with a larger generation: our clock went back
            self._me = replace(me, generation=entry.generation + 1, heartbeat=0)
            return Event("refuted", self._me, "an earlier run had a larger generation")
        if entry.generation != me.generation:
            return None
        if entry.heartbeat > me.heartbeat and entry.heartbeat < MAX_HEARTBEAT - 1:
            self._me = replace(me, heartbeat=entry.heartbeat + 1)
            return Event("refuted", self._me, "an entry carried a larger incarnation of ours")
        if entry.state in (State.SUSPECT, State.DEAD) and me.state is State.ALIVE:
            if entry.heartbeat == me.heartbeat:
                self._me = replace(me, heartbeat=me.heartbeat + 1)
            self._next_round = min(self._next_round, now)
            return Event("refuted", self._me, f"a member thought us {entry.state.value}")
        return None

    def _merge_entry(self, entry: MemberEntry, sender: str, now: float) -> Event | None:
        member = self._members.get(entry.id)
        if member is None:
            if entry.state in _LIVE:
                member = self._add(_alive(entry), now)
                if entry.state is State.SUSPECT:
                    return self._suspected_by(member, entry, sender, now)
                return Event("joined", member.entry)
            self._add(entry, now)
            return None
        known = member.entry
        if entry.generation != known.generation:
            if entry.generation < known.generation:
                return None  # an older incarnation: stale gossip
            if entry.address != known.address and known.state is State.ALIVE:
                # a healthy member keeps its id until it is suspected: no eviction by claim
                return Event("conflict", entry, f"claims the id of live member at {known.address}")
            return self._new_generation(member, entry, now)
        if entry.address != known.address:
            return Event("conflict", entry, f"claims the id of the member at {known.address}")
        if known.state is State.LEFT:
            return None
        if entry.state is State.LEFT:
            return self._set_terminal(member, entry, now)
        if entry.heartbeat > known.heartbeat:
            if entry.state is State.DEAD:
                return self._set_terminal(member, entry, now) if known.state in _LIVE else None
            if entry.state is State.SUSPECT:
                return self._suspected_by(member, entry, sender, now)
            return self._advance(member, entry, now)
        if entry.heartbeat < known.heartbeat:
            return None
        # the same incarnation: a suspicion (or a conviction) of the version we hold
        if entry.state in (State.SUSPECT, State.DEAD) and known.state in _LIVE:
            event = self._suspected_by(member, entry, sender, now)
            if entry.state is State.DEAD and known.state is State.SUSPECT:
                return self._set_terminal(member, entry, now)
            return event
        return None

    def _add(self, entry: MemberEntry, now: float) -> _Member:
        member = _Member(entry, now)
        self._members[entry.id] = member
        self._by_address[entry.address] = entry.id
        self._set_state(member, entry)
        if entry.state in _LIVE:
            # somewhere in the rest of this pass of the round-robin (SWIM's insertion)
            at = self._order_at + int((len(self._order) - self._order_at + 1) * _frac(entry.id))
            self._order.insert(min(at, len(self._order)), entry.id)
            if self._spread_new or entry.id == self._merging_from:
                self._enqueue(entry.id)
        return member

    def _suspected_by(
        self, member: _Member, entry: MemberEntry, sender: str, now: float
    ) -> Event | None:
        """Someone reports ``member`` suspect (or dead) at ``entry``'s incarnation."""
        if sender and sender != entry.id:
            if member.entry.heartbeat < entry.heartbeat:
                member.reports.clear()
            _report(member, sender, entry.version)
        if member.state is State.SUSPECT and member.entry.heartbeat >= entry.heartbeat:
            return None
        member.entry = replace(member.entry, heartbeat=entry.heartbeat)
        return self._suspect(member, now, f"reported by {sender or '?'}")

    def _advance(self, member: _Member, entry: MemberEntry, now: float) -> Event | None:
        was = member.state
        member.probe_at = 0.0
        member.reports.clear()
        member.vouched_at = member.beat_at = now
        self._set_state(member, replace(_alive(entry), beat=max(entry.beat, member.entry.beat)))
        self._enqueue(entry.id)
        if was is State.ALIVE:
            return None
        member.changed_at = now
        if was is State.DEAD:
            self._order.append(entry.id)
        return Event("alive", member.entry, f"was {was.value}")

    def _new_generation(self, member: _Member, entry: MemberEntry, now: float) -> Event | None:
        was_live = member.state in _LIVE
        self._forget(entry.id)
        self._forgotten.pop(entry.id)
        if entry.state in _LIVE:
            fresh = self._add(_alive(entry), now)
            return Event("rejoined", fresh.entry)
        self._add(entry, now)
        self._enqueue(entry.id)
        if entry.state is State.LEFT or was_live:
            return Event(entry.state.value, entry)
        return None

    def _set_terminal(self, member: _Member, entry: MemberEntry, now: float) -> Event | None:
        if member.state is entry.state and member.entry.version == entry.version:
            return None
        was = member.state
        self._set_state(member, entry)
        member.changed_at = now
        member.probe_at = 0.0
        self._enqueue(entry.id)
        if was is entry.state:
            return None
        return Event(entry.state.value, entry)


_UNKNOWN = MemberEntry("?", "?", 0, 0)
"""The member of an event about a whole digest (its sender is not valid)."""


def _frac(member_id: str) -> float:
    """A fixed pseudo-random fraction per id (the core has no randomness of its own)."""
    return (zlib.crc32(member_id.encode()) & 0xFFFF) / 0x10000


def _report(member: _Member, sender: str, version: tuple[int, int]) -> None:
    """Record ``sender``'s suspicion of ``member``: at most MAX_REPORTS reporters."""
    if sender in member.reports or len(member.reports) < MAX_REPORTS:
        member.reports[sender] = version


def _alive(entry: MemberEntry) -> MemberEntry:
    return entry if entry.state is State.ALIVE else replace(entry, state=State.ALIVE)
