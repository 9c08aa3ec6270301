"""The pure membership state machine: heartbeats, phi accrual, suspicion, tombstones.

Driven like etcd's raft ``RawNode``: the driver calls :meth:`Membership.tick`
at :meth:`Membership.next_deadline` (or earlier), sends the push-pulls of the
:class:`Round` it returns, feeds every digest it receives (a push or a reply)
to :meth:`Membership.merge` and failed calls to :meth:`Membership.on_failure`,
and logs the :class:`~gossip.membership.types.Event` values they all return.
No clock, no sockets, no threads, no randomness of its own.

Rules:

* Every ``interval`` the node bumps its own heartbeat and push-pulls its
  digest with ``fanout`` random live members among those that *answered* a
  push-pull of ours at their address, plus one that has not yet (preferring
  one whose heartbeat we saw advance): hearsay can announce any number of
  members that lead nowhere, and they must not take the rounds that carry
  real members' heartbeats. For each member the newer ``(generation,
  heartbeat)`` wins. A member is suspect when the phi of its
  silence reaches ``phi_suspect``; dead when the suspicion lasted a timeout
  that shrinks as other members confirm it, and after one last direct call
  fails (a member that never answered us gets none). A newer heartbeat clears
  both.
* Only the member itself speaks for its liveness: ``alive`` is never taken
  from gossip without a newer heartbeat. ``dead`` from gossip is taken when it
  is about a heartbeat at least as new as ours and we suspect the member too
  (or the reporter saw a newer heartbeat than we did). ``left`` is final for a
  generation. A new generation supersedes everything of the old one.
* Dead and left members stay ``tombstone_ttl`` as tombstones: still gossiped,
  so stale entries cannot resurrect them, and a dead one that once answered
  us is push-pulled every ``reconnect_interval``, so the two halves of a
  healed partition find each other again. An expired tombstone's version is remembered (an LRU):
  hearsay of that version or older, which a neighbour whose copy has not yet
  expired hands back, does not start its lifetime again.
* Bounds: at most ``max_members`` alive or suspect members (a new one beyond
  is dropped as ``full``, nobody known is evicted), at most
  ``max_tombstones`` tombstones (the oldest go first; hearsay about unknown
  members is not kept beyond the cap), at most :data:`MAX_REPORTS` reporters
  per suspect.
* A jump of our own clock beyond ``stall_threshold`` (the process was paused)
  shifts every silence timer by the jump: nobody is convicted for our pause,
  and the next round goes to every member, so they hear from us at once.
* A node that knew no live member and learns some (it just joined, restarted
  or was cut off alone) sends its next round, at once, to every member too.
* A new member is taken from a reply to our own push-pull, from a push by a
  member that answered us at its address, or from its own push; a push from
  anyone else adds nobody but its sender. A stranger (any client of an open
  cluster) can then announce one made-up member per push, not a view's worth
  that every node would pass on and dial.
* Bad input (empty or malformed fields, counters out of range, an id
  claimed from another address) is dropped and reported as an event; it never
  evicts anyone.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gossip.lru import Lru
from gossip.membership.config import MembershipConfig
from gossip.membership.detector import ArrivalWindow, phi, suspicion_timeout, z_for_phi
from gossip.membership.types import Digest, Event, MemberEntry, State
from gossip.names import address_problem, id_problem

MAX_HEARTBEAT = 1 << 48
"""Larger counters are refused as forged: 2^48 rounds of 0.2 s is 1.8 million years."""
MAX_GENERATION = 1 << 62
MAX_REPORTS = 32
"""Reporters of a suspicion kept per member (more than ``confirmations`` ever needs)."""

_LIVE = (State.ALIVE, State.SUSPECT)


@dataclass(frozen=True)
class Target:
    """One push-pull to make: an address, and the member it belongs to (None: a seed)."""

    address: str
    member_id: str | None
    last_call: bool = False
    """The last direct call before a conviction: made with ``last_call_timeout``."""


@dataclass(frozen=True)
class Round:
    """Push-pull ``digest`` with every target; feed each reply to ``merge``."""

    digest: Digest
    targets: tuple[Target, ...]


class _Member:
    """Our view of one member: its latest entry (``state`` is our opinion) and timers."""

    __slots__ = (
        "answered",
        "changed_at",
        "entry",
        "last_advance",
        "probe_at",
        "reports",
        "suspect_after",
        "suspect_since",
        "window",
    )

    def __init__(self, entry: MemberEntry, now: float, window: ArrivalWindow) -> None:
        self.entry = entry
        self.last_advance = now
        self.changed_at = now
        self.window = window
        self.suspect_since = 0.0
        self.suspect_after = 0.0  # seconds of silence until phi reaches phi_suspect
        self.probe_at = 0.0  # when the last-chance direct call started (0: not yet)
        self.reports: dict[str, tuple[int, int]] = {}  # reporter -> version it suspected
        self.answered = False  # it answered a push-pull of ours at its address

    @property
    def advanced(self) -> bool:
        """Its heartbeat advanced since we learnt of it (announced-only entries never do)."""
        return len(self.window) > 1

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
        self._z = z_for_phi(config.phi_suspect)
        self._last_now = now
        self._next_round = now
        self._next_check = now
        self._next_reconnect = now + config.reconnect_interval
        self._next_seed = now
        self._joining_until = now + config.seed_interval
        """Until then, a seed that is not a member yet is dialled every round (see _targets)."""
        self._broadcast = False
        self._probes: list[Target] = []
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
        return [m.entry for m in self._members.values() if m.state is State.ALIVE]

    def answered(self, member_id: str) -> bool:
        """Whether the member answered a push-pull of ours at its address (this generation)."""
        member = self._members.get(member_id)
        return member is not None and member.answered

    def state_of(self, member_id: str) -> State | None:
        member = self._members.get(member_id)
        return member.state if member else None

    def last_heard(self, member_id: str, now: float) -> float:
        """Seconds since the member's heartbeat last advanced in our view."""
        member = self._members.get(member_id)
        return now - member.last_advance if member else float("inf")

    def phi(self, member_id: str, now: float) -> float:
        member = self._members.get(member_id)
        if member is None:
            return 0.0
        mean, std = self._stats(member)
        return phi(now - member.last_advance, mean, std)

    def pick(self, rng: random.Random) -> MemberEntry | None:
        """A random alive member to exchange with, or None when nobody is known alive."""
        alive = self.alive()
        return rng.choice(alive) if alive else None

    def next_deadline(self) -> float:
        """The latest time at which ``tick`` must be called again."""
        return min(self._next_round, self._next_check)

    def digest(self) -> Digest:
        entries = [self._me]
        entries.extend(m.entry for m in self._members.values())
        return Digest(self._me.id, tuple(entries))

    # ------------------------------------------------------------ driving

    def tick(
        self, now: float, rng: random.Random, seeds: Sequence[str] = ()
    ) -> tuple[list[Event], Round | None]:
        """Detect failures; when a round is due, bump our heartbeat and say whom to push-pull."""
        events = self._observe_time(now)
        events.extend(self._detect(now))
        self._expire(now)
        probes, self._probes = tuple(self._probes), []
        if self._me.state is State.LEFT or now < self._next_round:
            return events, Round(self.digest(), probes) if probes else None
        self._next_round = max(self._next_round + self.config.interval, now)
        self._me = replace(self._me, heartbeat=self._me.heartbeat + 1)
        targets = self._targets(now, rng, seeds)
        extra = tuple(p for p in probes if p.address not in {t.address for t in targets})
        return events, Round(self.digest(), targets + extra)

    def merge(self, digest: Digest, now: float, reply_to: Target | None = None) -> list[Event]:
        """Take a digest (a push, or the reply to our push to ``reply_to``): newer entries win.

        Returns what changed. A reply marks the member we called as answered (a
        seed's reply: its sender).
        """
        events = self._observe_time(now)
        sender = digest.sender_id
        problem = id_problem(sender) if sender else None
        if problem:
            return [*events, Event("malformed", _UNKNOWN, f"digest sender: {problem}")]
        live = sum(1 for m in self._members.values() if m.state in _LIVE)
        tombstones = len(self._members) - live
        alone = live == 0
        members = self._members
        # new members only from a reply to our call or a member that answered us; a
        # stranger's push speaks for itself alone (hearsay it made up stops here)
        teller = members.get(sender)
        vouched = reply_to is not None or (teller is not None and teller.answered)
        alive = State.ALIVE
        for entry in digest.entries:
            known = members.get(entry.id)
            if known is not None:  # the common case, kept cheap: nothing new about a member
                old = known.entry
                if entry.generation == old.generation and (
                    entry.heartbeat < old.heartbeat
                    or (entry.heartbeat == old.heartbeat and entry.state is alive)
                ):
                    continue
            if entry.id == self._me.id:
                event = self._about_me(entry, now)
            elif reason := invalid_reason(entry):
                event = Event("malformed", entry, f"from {sender or '?'}: {reason}")
            elif known is None:  # a new member: within the caps, and not an expired tombstone
                if not vouched and entry.id != sender:
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
        if reply_to is not None:
            member = members.get(reply_to.member_id or sender)
            if member is not None and (
                reply_to.member_id is None or member.entry.address == reply_to.address
            ):
                member.answered = True
        if alone and self._me.state is not State.LEFT and self.alive():
            # we just joined (or were cut off): tell every member now, not in log(n) rounds
            self._broadcast = True
            self._next_round = min(self._next_round, now)
        return events

    def on_failure(self, member_id: str, now: float, started: float | None = None) -> list[Event]:
        """A call to the member failed: evidence that may raise suspicion.

        It convicts only a member whose suspicion already timed out, and only when the
        call is our last direct call (``started`` at or after it was due): a call that
        merely began earlier says nothing about whether a paused member resumed.
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
        if member.state is not State.ALIVE:
            return events
        mean, std = self._stats(member)
        if phi(now - member.last_advance, mean, std) >= self.config.evidence_phi:
            events.append(self._suspect(member, now, "a call to it failed"))
        return events

    def leave(self) -> Round:
        """Mark ourselves left; the round tells every live member at once."""
        self._me = replace(self._me, state=State.LEFT, heartbeat=self._me.heartbeat + 1)
        targets = tuple(
            Target(m.entry.address, m.entry.id) for m in self._members.values() if m.state in _LIVE
        )
        return Round(self.digest(), targets)

    # ------------------------------------------------------------ internals

    def _stats(self, member: _Member) -> tuple[float, float]:
        window = member.window
        return (
            window.mean + self.config.acceptable_pause,
            max(window.std, self.config.min_std),
        )

    def _new_member(self, entry: MemberEntry, now: float) -> _Member:
        member = _Member(entry, now, ArrivalWindow(self.config.window, self.config.interval))
        self._update_threshold(member)
        return member

    def _update_threshold(self, member: _Member) -> None:
        mean, std = self._stats(member)
        member.suspect_after = mean + self._z * std

    def _observe_time(self, now: float) -> list[Event]:
        gap = now - self._last_now
        if gap <= 0:
            return []
        self._last_now = now
        if gap <= self.config.stall_threshold or self._me.state is State.LEFT:
            return []
        for member in self._members.values():
            if member.state in _LIVE:
                member.last_advance += gap
                member.suspect_since += gap
        self._broadcast = True
        self._next_round = now
        return [Event("paused", self._me, f"our process stalled for {gap:.2f}s")]

    def _detect(self, now: float) -> list[Event]:
        events: list[Event] = []
        live = sum(1 for m in self._members.values() if m.state in _LIVE)
        expected = min(self.config.confirmations, live - 1)
        next_check = now + self.config.tombstone_ttl
        for member in self._members.values():
            if member.state is State.ALIVE:
                due = member.last_advance + member.suspect_after
                if now >= due:
                    events.append(self._suspect(member, min(due, now)))
                else:
                    next_check = min(next_check, due)
            if member.state is State.SUSPECT:
                due = member.suspect_since + self._timeout(member, expected)
                if now < due:
                    next_check = min(next_check, due)
                elif not member.answered:  # a last call would be its first: hearsay's cost
                    events.append(self._convict(member, now, "suspicion timed out, never answered"))
                elif member.probe_at == 0.0:
                    # last chance: one direct call; a paused process that resumes answers it,
                    # a crashed one refuses it at once (see on_failure)
                    member.probe_at = now
                    self._probes.append(Target(member.entry.address, member.entry.id, True))
                    next_check = min(next_check, now + self.config.last_call_timeout)
                elif now >= member.probe_at + self.config.last_call_timeout:
                    events.append(self._convict(member, now, "no answer to a last direct call"))
                else:
                    next_check = min(next_check, member.probe_at + self.config.last_call_timeout)
        self._next_check = next_check
        return events

    def _convict(self, member: _Member, now: float, why: str) -> Event:
        member.entry = replace(member.entry, state=State.DEAD)
        member.changed_at = now
        member.probe_at = 0.0
        return Event("dead", member.entry, why)

    def _timeout(self, member: _Member, expected: int) -> float:
        version = member.entry.version
        confirmed = sum(1 for v in member.reports.values() if v >= version)
        return suspicion_timeout(
            confirmed, expected, self.config.suspicion_min, self.config.suspicion_max
        )

    def _suspect(self, member: _Member, since: float, why: str = "") -> Event:
        member.entry = replace(member.entry, state=State.SUSPECT)
        member.suspect_since = since
        member.changed_at = since
        return Event("suspect", member.entry, why)

    def _expire(self, now: float) -> None:
        """Forget tombstones older than the ttl, and the oldest beyond ``max_tombstones``."""
        tombs = sorted(
            ((m.changed_at, k) for k, m in self._members.items() if m.state not in _LIVE),
            reverse=True,
        )
        ttl, cap = self.config.tombstone_ttl, self.config.max_tombstones
        for rank, (changed_at, key) in enumerate(tombs):
            if rank >= cap or now - changed_at >= ttl:
                self._forgotten[key] = self._members.pop(key).entry.version

    def _targets(self, now: float, rng: random.Random, seeds: Sequence[str]) -> tuple[Target, ...]:
        live = [m for m in self._members.values() if m.state in _LIVE]
        if self._broadcast:
            self._broadcast = False
            chosen = live
        else:
            answered = [m for m in live if m.answered]
            chosen = rng.sample(answered, min(self.config.fanout, len(answered)))
            strangers = [m for m in live if not m.answered]
            if strangers:  # one per round, whatever their number
                chosen.append(rng.choice([m for m in strangers if m.advanced] or strangers))
        targets = [Target(m.entry.address, m.entry.id) for m in chosen]
        if now >= self._next_reconnect:
            self._next_reconnect = now + self.config.reconnect_interval
            dead = [m.entry for m in self._members.values() if m.state is State.DEAD and m.answered]
            if dead:
                pick = rng.choice(dead)
                targets.append(Target(pick.address, pick.id))
        # while joining, every round: peers started together that each reached one random
        # seed could stay in separate groups until the next seed_interval (8 peers: ~5 s)
        joining = now < self._joining_until
        due = self.config.seed_interval > 0 and now >= self._next_seed
        if seeds and (not live or joining or due):
            known = {m.entry.address for m in live} | {self._me.address}
            fresh = [s for s in seeds if s not in known]
            if fresh:
                self._next_seed = now + self.config.seed_interval
                targets.append(Target(rng.choice(fresh), None))
        seen: set[str] = set()
        unique = []
        for target in targets:
            if target.address not in seen:
                seen.add(target.address)
                unique.append(target)
        return tuple(unique)

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
            return Event("refuted", self._me, "an entry carried a larger heartbeat of ours")
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
                self._members[entry.id] = self._new_member(_alive(entry), now)
                return Event("joined", self._members[entry.id].entry)
            self._members[entry.id] = self._new_member(entry, now)
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
        if entry.heartbeat > known.heartbeat:
            if entry.state is State.LEFT:
                return self._set_terminal(member, entry, now)
            if entry.state is State.DEAD:
                return self._set_terminal(member, entry, now) if known.state in _LIVE else None
            return self._advance(member, entry, sender, now)
        if entry.heartbeat < known.heartbeat:
            return None
        if entry.state is State.LEFT:
            return self._set_terminal(member, entry, now)
        if entry.state in (State.SUSPECT, State.DEAD) and sender and sender != entry.id:
            _report(member, sender, entry.version)
            if entry.state is State.DEAD and known.state is State.SUSPECT:
                return self._set_terminal(member, entry, now)
        return None

    def _advance(
        self, member: _Member, entry: MemberEntry, sender: str, now: float
    ) -> Event | None:
        was = member.state
        if was in _LIVE:
            member.window.add(min(now - member.last_advance, self.config.max_sample))
            self._update_threshold(member)
        member.last_advance = now
        member.probe_at = 0.0
        member.entry = _alive(entry)
        member.reports.clear()
        if entry.state is State.SUSPECT and sender and sender != entry.id:
            _report(member, sender, entry.version)
        if was is State.ALIVE:
            return None
        member.changed_at = now
        return Event("alive", member.entry, f"was {was.value}")

    def _new_generation(self, member: _Member, entry: MemberEntry, now: float) -> Event | None:
        was_live = member.state in _LIVE
        if entry.state in _LIVE:
            self._members[entry.id] = self._new_member(_alive(entry), now)
            return Event("rejoined", self._members[entry.id].entry)
        self._members[entry.id] = self._new_member(entry, now)
        if entry.state is State.LEFT or was_live:
            return Event(entry.state.value, entry)
        return None

    def _set_terminal(self, member: _Member, entry: MemberEntry, now: float) -> Event | None:
        if member.state is entry.state and member.entry.version == entry.version:
            return None
        was = member.state
        member.entry = entry
        member.changed_at = now
        if was is entry.state:
            return None
        return Event(entry.state.value, entry)


_UNKNOWN = MemberEntry("?", "?", 0, 0)
"""The member of an event about a whole digest (its sender is not valid)."""


def _report(member: _Member, sender: str, version: tuple[int, int]) -> None:
    """Record ``sender``'s suspicion of ``member``: at most MAX_REPORTS reporters."""
    if sender in member.reports or len(member.reports) < MAX_REPORTS:
        member.reports[sender] = version


def _alive(entry: MemberEntry) -> MemberEntry:
    return entry if entry.state is State.ALIVE else replace(entry, state=State.ALIVE)
