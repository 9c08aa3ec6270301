"""The I/O side of membership: ticks the pure table and push-pulls digests.

:class:`~gossip.membership.table.Membership` decides; this class asks it at
each interval, sends the digests it builds, feeds back the replies and logs
the events it returns. Seeds that nobody has heard of yet are dialled every
round, so a node started before its seeds (or cut off from everyone) finds
them when they come up.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from gossip.clock import Clock
from gossip.errors import GossipError
from gossip.membership.table import Digest, Event, MemberEntry, Membership, MembershipConfig
from gossip.transport.base import Transport

log = logging.getLogger("gossip.membership")


class MembershipDriver:
    """Thread-safe access to the membership table plus one round of push-pull."""

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
        self._table = Membership(me, config)
        self._transport = transport
        self._clock = clock
        self._seeds = [s for s in seeds if s != me.address]
        self._rng = rng
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self._table.id

    def round(self) -> None:
        """Bump the heartbeat, age members, push-pull with one alive member and one new seed."""
        with self._lock:
            self._log(self._table.tick(self._clock.now()))
            alive = self._table.alive()
            digest = self._table.digest()
        known = {m.address for m in alive}
        targets = [self._rng.choice(alive).address] if alive else []
        unknown_seeds = [s for s in self._seeds if s not in known]
        if unknown_seeds:
            targets.append(self._rng.choice(unknown_seeds))
        for target in targets:
            try:
                reply = self._transport.push_pull(
                    target, digest, 2 * self.config.heartbeat_interval
                )
            except GossipError:
                continue
            self.merge(reply)

    def merge(self, digest: Digest) -> Digest:
        """Take a peer's digest; return ours (the reply of a push-pull)."""
        with self._lock:
            self._log(self._table.merge(digest, self._clock.now()))
            return self._table.digest()

    def pick(self) -> MemberEntry | None:
        with self._lock:
            return self._table.pick(self._rng)

    def leave(self, fanout: int = 3) -> None:
        """Mark ourselves left and tell a few alive members, so they never think us dead."""
        with self._lock:
            self._table.leave()
            digest = self._table.digest()
            alive = self._table.alive()
        for member in self._rng.sample(alive, min(fanout, len(alive))):
            try:
                self._transport.push_pull(member.address, digest, 1.0)
            except GossipError:
                continue

    def status(self) -> list[dict[str, Any]]:
        """Members as in the status JSON of DESIGN.md §5."""
        now = self._clock.now()
        with self._lock:
            return [
                {
                    "id": m.id,
                    "address": m.address,
                    "state": m.state.value,
                    "generation": m.generation,
                    "last_heard_s": round(self._table.last_heard(m.id, now), 3),
                }
                for m in self._table.members()
            ]

    def _log(self, events: list[Event]) -> None:
        for event in events:
            member = event.member
            level = logging.WARNING if event.kind == "dead" else logging.INFO
            log.log(
                level,
                "%s: member %s (%s) %s, generation %d",
                self.id,
                member.id,
                member.address,
                event.kind,
                member.generation,
            )
