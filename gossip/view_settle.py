"""When a starting peer's view of its members is whole enough for its first exchange.

Partners come in rounds that every peer works out from its own view
(:mod:`gossip.pairing`). Peers started together that begin exchanging before
their views agree pair out of round, and the rounds do not realign by
themselves: in ``bench/large.py`` 4 x 10M models apart agreed to 1e-3 in about
2 s when every view was whole before the first exchange, in 5-12 s when not.
So a peer holds its first exchange until its view has settled:

* nothing is pending: every alive member answered a push-pull of ours (one
  only heard of is not a partner yet: ``MembershipDriver.reachable``) and
  every seed address answered or failed at least once, and
* the view has not changed for ``quiet`` seconds (two heartbeat rounds: a
  member that another one knows of reaches us within about one),

or once ``limit`` seconds have passed since it first saw a member: a seed
that hangs, or hearsay about members that never answer, costs a later first
exchange, never none. A peer that knows nobody has nobody to wait for (it
trains alone; training never waits on this). Only the first exchange waits:
members that join later are taken as they come.

Pure: ``now`` is passed in; the gossip loop owns it.
"""

from __future__ import annotations

QUIET_ROUNDS = 2
"""Heartbeat rounds without a change before the view counts as whole."""
LIMIT_ROUNDS = 10
"""Heartbeat rounds at most, from the first member seen, before exchanging anyway (2 s LAN)."""


class ViewSettle:
    """Says when the first exchange may start (see the module docstring)."""

    def __init__(self, quiet: float, limit: float) -> None:
        if quiet < 0 or limit < quiet:
            raise ValueError("need 0 <= quiet <= limit")
        self.quiet = quiet
        self.limit = limit
        self._view: frozenset[str] = frozenset()
        self._changed = 0.0  # when the view last changed
        self._since: float | None = None  # when a member (or a pending seed) was first seen
        self._settled = False
        self.waited = 0.0
        """Seconds from the first member seen to the moment the view settled."""

    @classmethod
    def for_rounds(cls, interval: float) -> ViewSettle:
        """QUIET_ROUNDS and LIMIT_ROUNDS of the membership's heartbeat ``interval``."""
        return cls(QUIET_ROUNDS * interval, LIMIT_ROUNDS * interval)

    @property
    def settled(self) -> bool:
        """The view settled once; it is never waited for again."""
        return self._settled

    def observe(self, now: float, view: frozenset[str], pending: bool) -> bool:
        """Whether the first exchange may start now, given the partners' ids and ``pending``."""
        if self._settled:
            return True
        if not view and not pending:
            return True  # nobody to exchange with yet: nothing to wait for either
        if self._since is None:
            self._since, self._changed, self._view = now, now, view
        elif view != self._view:
            self._changed, self._view = now, view
        quiet = not pending and now - self._changed >= self.quiet
        if quiet or now - self._since >= self.limit:
            self._settled = True
            self.waited = now - self._since
        return self._settled
