"""The membership vocabulary shared by the core, the wire and the driver.

A :class:`MemberEntry` is one member as gossiped: identity (``id``,
``address``), generation (new at every start), incarnation within it
(``heartbeat``: the wire's name; only the member itself raises it, to refute a
suspicion or to leave) and the *sender's opinion* of its state.
``(generation, heartbeat)`` orders entries about the same member: the larger
one is newer.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    beat: int = 0
    """Liveness counter: the member bumps it every round; the largest seen wins. Not news
    by itself (never queued as a delta): it reaches others in the member's own messages,
    in anti-entropy syncs and in one vouched entry per message (see core, strangers)."""

    @property
    def version(self) -> tuple[int, int]:
        return (self.generation, self.heartbeat)


@dataclass(frozen=True)
class Digest:
    """What a node tells another in one push-pull: its own entry first, then deltas (the
    entries whose state changed lately) or, when ``full``, every entry it knows."""

    sender_id: str
    entries: tuple[MemberEntry, ...]
    full: bool = False
    relay_id: str = ""
    """An indirect probe: the receiver is asked to call this member for the sender."""
    relay_address: str = ""
    relay_ok: bool = False
    """In the reply to an indirect probe: the member answered the receiver's call."""


EVENT_KINDS = ("joined", "suspect", "alive", "dead", "left", "rejoined")
"""Membership events counted by :meth:`MembershipDriver.event_counts` (one log line each)."""
DROPPED_KINDS = ("malformed", "full")
"""Entries dropped, also counted: malformed (gossip.names' rules), full (the member cap)."""


@dataclass(frozen=True)
class Event:
    """Something worth one log line.

    ``kind`` is one of :data:`EVENT_KINDS` (a member's state changed in this
    node's view), or a notice about bad input or the node itself: ``conflict``
    (an entry claims our id or another member's id from another address),
    ``malformed`` (an entry was dropped), ``full`` (a new member was dropped: the
    table holds ``max_members``), ``refuted`` (we were suspected or
    someone gossiped a newer counter for us: we bumped ours), ``paused`` (our
    own process stalled: timers were reset, nobody is convicted for it).
    """

    kind: str
    member: MemberEntry
    detail: str = ""
