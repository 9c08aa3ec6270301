"""Who is in the cluster: a pure membership table merged from push-pull digests.

Each member has an id, an address, a generation (new at every start), a
heartbeat counter and a state. Every interval the node bumps its own counter
and push-pulls its digest with a random member or seed; for each member the
newer ``(generation, heartbeat)`` wins. A member whose heartbeat has not
advanced for ``dead_after`` seconds is dead; a member that announced its
leave is ``left``. Dead and left members stay as tombstones so that stale
gossip cannot resurrect them; a new generation supersedes a tombstone.

No clock, no randomness of its own, no I/O: ``now`` and ``rng`` are passed in,
the driver sends the digests this table builds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from enum import Enum


class State(str, Enum):
    ALIVE = "alive"
    SUSPECT = "suspect"
    DEAD = "dead"
    LEFT = "left"


@dataclass(frozen=True)
class MemberEntry:
    """One member as gossiped: identity, incarnation, liveness counter, state."""

    id: str
    address: str
    generation: int
    heartbeat: int
    state: State = State.ALIVE


@dataclass(frozen=True)
class Digest:
    """What a node tells another in one push-pull: every entry it knows, its own included."""

    sender_id: str
    entries: tuple[MemberEntry, ...]


@dataclass
class _Record:
    entry: MemberEntry
    last_change: float


@dataclass(frozen=True)
class Event:
    """Something worth one log line: a member joined, died, left or came back."""

    kind: str  # "joined" | "dead" | "left" | "alive" | "rejoined"
    member: MemberEntry


@dataclass(frozen=True)
class MembershipConfig:
    """Timing of the foundation's detector (the membership issue replaces it with phi accrual)."""

    heartbeat_interval: float = 0.5
    """Seconds between two push-pulls (and own heartbeat bumps)."""
    suspect_after: float = 2.0
    """Seconds without a newer heartbeat before a member is suspected."""
    dead_after: float = 5.0
    """Seconds without a newer heartbeat before a member is declared dead."""
    tombstone_ttl: float = 60.0
    """Seconds a dead or left member is remembered so stale gossip cannot revive it."""


@dataclass
class Membership:
    """The local view of the cluster, driven by ``tick(now)`` and ``merge(digest, now)``."""

    self_entry: MemberEntry
    config: MembershipConfig = field(default_factory=MembershipConfig)
    _members: dict[str, _Record] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.self_entry.id

    def tick(self, now: float) -> list[Event]:
        """Bump the own heartbeat and age the others; return the state changes."""
        self.self_entry = replace(self.self_entry, heartbeat=self.self_entry.heartbeat + 1)
        events: list[Event] = []
        for member_id, record in list(self._members.items()):
            silent = now - record.last_change
            entry = record.entry
            if entry.state in (State.ALIVE, State.SUSPECT) and silent >= self.config.dead_after:
                record.entry = replace(entry, state=State.DEAD)
                events.append(Event("dead", record.entry))
            elif entry.state == State.ALIVE and silent >= self.config.suspect_after:
                record.entry = replace(entry, state=State.SUSPECT)
            elif entry.state in (State.DEAD, State.LEFT) and silent >= self.config.tombstone_ttl:
                del self._members[member_id]
        return events

    def leave(self) -> None:
        """Mark the own entry as left, so the next digests announce the leave."""
        self.self_entry = replace(
            self.self_entry, state=State.LEFT, heartbeat=self.self_entry.heartbeat + 1
        )

    def digest(self) -> Digest:
        entries = [self.self_entry] + [r.entry for r in self._members.values()]
        return Digest(self.id, tuple(entries))

    def merge(self, digest: Digest, now: float) -> list[Event]:
        """Take every entry that is newer than what we know; return what changed."""
        events: list[Event] = []
        for entry in digest.entries:
            if entry.id == self.id or not entry.id or not entry.address:
                continue
            event = self._merge_entry(entry, now)
            if event is not None:
                events.append(event)
        return events

    def _merge_entry(self, entry: MemberEntry, now: float) -> Event | None:
        known = self._members.get(entry.id)
        if known is None:
            if entry.state in (State.DEAD, State.LEFT):
                self._members[entry.id] = _Record(entry, now)
                return None
            self._members[entry.id] = _Record(replace(entry, state=State.ALIVE), now)
            return Event("joined", self._members[entry.id].entry)
        old = known.entry
        if (entry.generation, entry.heartbeat) <= (old.generation, old.heartbeat):
            return None
        new_state = entry.state if entry.state == State.LEFT else State.ALIVE
        known.entry = replace(entry, state=new_state)
        known.last_change = now
        if new_state == State.LEFT and old.state != State.LEFT:
            return Event("left", known.entry)
        if entry.generation > old.generation:
            return Event("rejoined", known.entry)
        if old.state in (State.DEAD, State.SUSPECT) and new_state == State.ALIVE:
            return Event("alive", known.entry)
        return None

    def members(self) -> list[MemberEntry]:
        """Every known member but oneself, tombstones included, sorted by id."""
        return sorted((r.entry for r in self._members.values()), key=lambda e: e.id)

    def alive(self) -> list[MemberEntry]:
        return [e for e in self.members() if e.state == State.ALIVE]

    def last_heard(self, member_id: str, now: float) -> float:
        record = self._members.get(member_id)
        return now - record.last_change if record else float("inf")

    def pick(self, rng: random.Random) -> MemberEntry | None:
        """A random alive member to exchange with, or None when nobody is known alive."""
        alive = self.alive()
        return rng.choice(alive) if alive else None
