"""When a peer trains and when it exchanges: communication keeps pace with computation.

A peer that trains as fast as its CPU allows and gossips on a timer takes
hundreds of local steps between two exchanges when a step is cheap, and the
cluster trains like N separate models averaged now and then. The schedule
ties the two loops of a peer together:

* **Local steps are bounded.** A peer may take at most ``local_steps`` training
  steps past its last completed exchange (either role). Then its training
  waits until an exchange completes, until the exchange it started ends
  otherwise (refused, failed: one more step is allowed, so a bad or dead
  neighbour never holds training), or one exchange deadline at most. A peer
  with nobody alive to average with does not wait: it trains alone.
* **Exchanges follow steps.** The gossip loop starts an exchange as soon as the
  model has taken a step since its last completed exchange, and otherwise
  after ``gossip_interval`` (averaging only, slow steps). The exchange runs
  while training goes on: it adds an increment, so steps taken meanwhile are
  kept.
* **One exchange at a time per peer** (either role). An exchange moves a
  peer by ``gamma * (peer - own)`` computed from snapshots taken when it
  began; with two at once, one lands on a model the other has moved and the
  sum can overshoot (three offers answered from one snapshot move a peer 1.5
  times past their mean) or pull it back toward a stale snapshot after the
  others have agreed. One at a time, every exchange averages what the two
  peers hold (plus the training steps taken meanwhile). An offer waits a
  little for the running exchange to end, then is refused ``busy``.
* **Partners come in rounds of disjoint pairs** (:mod:`gossip.pairing`, the
  circle method of round-robin tournaments). A peer goes to the round
  partner it met least recently. Of a pair, the peer of lower rank starts
  the exchange; the other waits for it a little (a few exchange durations; a
  second before one was timed here)
  before starting it itself, so the two offers rarely cross. Every peer is
  in one pair per round; 4 frozen models hold their exact mean after 2.

* **Step counts stay together** (:mod:`gossip.pace`): a peer also waits while
  it is more than ``pace_lead`` steps ahead of the slowest partner that keeps
  up, as exchange headers tell their steps and free speeds.

``local_steps = 0`` is the free-running schedule (exchanges on the timer only).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gossip.clock import Clock
from gossip.errors import ExchangeRefused
from gossip.pace import Pace
from gossip.pairing import round_partners

_RECHECK_S = 0.1
"""While waiting for an exchange, how often training re-checks that someone is alive."""

PATIENCE_S = 0.02
"""How long the higher-ranked peer of a pair waits for the other's offer, at least;
more when exchanges take longer (PATIENCE_EXCHANGES times their recent mean duration)."""
PATIENCE_EXCHANGES = 3.0
ADMIT_WAIT_S = 0.05
"""How long an offer may wait for the exchange running here to end before ``busy``, at
least; up to ADMIT_EXCHANGES recent mean durations (a round partner ending its previous
exchange), never more than ADMIT_WAIT_MAX_S."""
ADMIT_EXCHANGES = 2.0
ADMIT_WAIT_MAX_S = 1.0
UNTIMED_WAIT_S = ADMIT_WAIT_MAX_S
"""The patience and the admission wait before any exchange here has completed: one of
10M parameters takes 0.1-0.5 s, a small one milliseconds, and nothing tells them apart
yet. With the floors instead (20 and 50 ms), 4 peers of 10M started together refused
up to 8 offers ``busy`` in their first rounds, each after up to 10 MB of it was sent."""
_DURATION_WEIGHT = 0.2
"""Weight of the newest completed exchange in the running mean of their durations."""
_SPEED_WEIGHT = 0.05
"""Weight of the newest step in the running mean of our free speed (about 20 steps)."""


M = TypeVar("M")


@dataclass(frozen=True)
class ScheduleStats:
    """What the schedule did so far (status, metrics)."""

    local_steps: int
    steps: int
    completed: int
    waits: int
    waiting_s: float
    in_flight: int

    @property
    def steps_per_exchange(self) -> float | None:
        """Training steps per completed exchange (both roles); None before the first."""
        return self.steps / self.completed if self.completed else None

    def as_dict(self) -> dict[str, Any]:
        spe = self.steps_per_exchange
        return {
            "local_steps": self.local_steps,
            "steps_per_exchange": None if spe is None else round(spe, 3),
            "completed": self.completed,
            "waits": self.waits,
            "waiting_s": round(self.waiting_s, 3),
            "in_flight": self.in_flight,
        }


class Schedule:
    """The pacing shared by one peer's training loop, gossip loop and exchanges (thread-safe)."""

    def __init__(
        self,
        local_steps: int,
        clock: Clock,
        pace_lead: int = 0,
        step: Callable[[], int] | None = None,
    ) -> None:
        """``step``: the model's step count, as headers tell it (default: steps seen here)."""
        if local_steps < 0:
            raise ValueError("local_steps must be >= 0")
        self.local_steps = local_steps
        self._clock = clock
        self._pace = Pace(pace_lead)
        self._step = step or self._steps_here
        self._step_time: float | None = None  # running mean of a step's own time (waits left out)
        self._last_step_at: float | None = None
        self._waited = 0.0  # seconds waited since the last step
        self._training = True
        self._cond = threading.Condition()
        self._lead = 0  # steps since the last completed exchange
        self._freed = 0  # extra steps: one per exchange we started that ended without completing
        self._partner: str | None = None  # the neighbour of the exchange running now
        self._offered: tuple[str | None, float] = (None, 0.0)  # last header in: whose, when
        self._began = 0.0  # when the running exchange began
        self._duration: float | None = None  # running mean of completed exchanges' durations
        self._met: dict[str, int] = {}  # neighbour -> the number of our last exchange with it
        self._ended = 0  # exchanges over, either role, whatever the outcome
        self._stopped = False
        self._steps = 0
        self._completed = 0
        self._waits = 0
        self._waiting_s = 0.0

    # ------------------------------------------------------------ training side

    def stepped(self) -> None:
        """One training step was taken."""
        with self._cond:
            self._lead += 1
            self._steps += 1
            now = self._clock.now()
            if self._last_step_at is not None:
                took = max(now - self._last_step_at - self._waited, 0.0)
                last = took if self._step_time is None else self._step_time
                self._step_time = last + _SPEED_WEIGHT * (took - last)
            self._last_step_at, self._waited = now, 0.0
            self._cond.notify_all()

    def finished(self) -> None:
        """Training is over (its last step taken): partners stop waiting for us."""
        with self._cond:
            self._training = False

    def free_speed(self) -> float:
        """Our steps per second of our own compute (waits left out); 0: not training, unknown."""
        with self._cond:
            return self._free_speed()

    def _free_speed(self) -> float:
        if not self._training or not self._step_time:
            return 0.0
        return 1.0 / self._step_time

    def heard(self, peer_id: str, step: int, free_speed: float) -> None:
        """A partner's header told its step and free speed (pacing: gossip.pace)."""
        with self._cond:
            self._pace.heard(peer_id, step, free_speed, self._clock.now())
            self._cond.notify_all()

    def wait_to_step(self, timeout: float, alone: Callable[[], bool]) -> float:
        """Block while the peer is ``local_steps`` past its last exchange, or ahead of
        the slowest partner that keeps up (gossip.pace); seconds waited.

        Returns at once when free-running, under both bounds, stopping or alone;
        otherwise when an exchange completes, when one we started ends any
        other way, when the partners have caught up, or after ``timeout`` (one
        exchange deadline).
        """
        with self._cond:
            if (not self._bound_reached() and not self._ahead()) or alone():
                return 0.0
            began = self._clock.now()
            deadline = began + timeout
            while True:
                ahead = self._ahead()
                if not ahead and not self._bound_reached():
                    break
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, ahead or _RECHECK_S, _RECHECK_S))
                if alone():
                    break
            waited = self._clock.now() - began
            self._waits += 1
            self._waiting_s += waited
            self._waited += waited
            return waited

    def _steps_here(self) -> int:
        return self._steps

    def _ahead(self) -> float:
        """Seconds until the slowest partner that keeps up is near enough; 0: not ahead."""
        if self._stopped:
            return 0.0
        return self._pace.wait_s(self._step(), self._free_speed(), self._clock.now())

    def _bound_reached(self) -> bool:
        bound = self.local_steps + self._freed
        return self.local_steps > 0 and self._lead >= bound and not self._stopped

    # ------------------------------------------------------------ gossip side

    def wait_for_work(self, interval: float) -> bool:
        """Block until an exchange should start; False when stopping.

        An exchange should start when none is running and either the model took
        a step since its last completed exchange (paced) or ``interval`` seconds
        have passed.
        """
        with self._cond:
            deadline = self._clock.now() + interval
            while not self._stopped:
                free = self._partner is None
                remaining = deadline - self._clock.now()
                if free and ((self.local_steps > 0 and self._lead > 0) or remaining <= 0):
                    return True
                self._cond.wait(remaining if remaining > 0 else _RECHECK_S)
            return False

    def choose(self, alive: Sequence[M], key: Callable[[M], str], me: str) -> M | None:
        """The round partner met least recently, once it is our turn to start; None: not now.

        When the partner ranks below us, we first wait up to the patience for
        its offer; None if it arrives, or an exchange ends, meanwhile. Ties (never
        met) go in round order, so peers that start together pair up. None once
        stopping: an exchange started while we shut down could lose its verdict
        to our server's stop, with our increment applied and not the partner's.
        """
        with self._cond:
            members = {key(m): m for m in alive}
            ranked = sorted({*members, me})
            self._met = {p: n for p, n in self._met.items() if p in members}  # bounded by the view
            partners = [ranked[p] for p in round_partners(ranked.index(me), len(ranked))]
            free = [p for p in partners if p != self._partner]
            if not free:
                return None
            chosen = min(free, key=lambda p: self._met.get(p, -1))
            if chosen < me and not self._expect(chosen):
                return None
            return None if self._stopped else members[chosen]

    def _expect(self, partner: str) -> bool:
        """Wait up to the patience for ``partner``'s offer; True when we should start instead."""
        ended, patience = self._ended, self._wait(PATIENCE_S, PATIENCE_EXCHANGES)
        began = self._clock.now()

        def waiting() -> bool:
            offered, at = self._offered
            coming = offered == partner and self._clock.now() - at < patience  # its header is in
            return self._ended == ended and self._partner is None and not coming

        while waiting() and not self._stopped:
            remaining = began + patience - self._clock.now()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        return waiting()

    def stop(self) -> None:
        """Wake every waiting loop; nothing waits any more."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # ------------------------------------------------------------ exchanges (both roles)

    def check(self, peer_id: str, wait: float = 0.0, yields: bool = False) -> None:
        """Refuse (``busy``) an exchange that :meth:`begin` would refuse; reserves nothing.

        See :meth:`begin` for ``wait`` and ``yields``.
        """
        with self._cond:
            self._offered = (peer_id, self._clock.now())
            self._cond.notify_all()
            self._await_turn(peer_id, wait, yields)

    def begin(self, peer_id: str, wait: float = 0.0, yields: bool = False) -> None:
        """Take the turn for an exchange with ``peer_id``; ExchangeRefused('busy') if none.

        Waits up to ``wait`` seconds for the running exchange to end: exchanges
        are short, and a refusal costs a round trip and a retry. When the
        running one is with ``peer_id`` itself (two crossing offers), only the
        side with ``yields`` waits for its own to end, however long that takes
        (the other side refuses it at its header); the other refuses at once,
        so one of the two goes through. With ``wait`` as its bound, a 10M offer
        built slower than the wait under load was refused too: both, every retry.
        Refused once stopping, in either role (see :meth:`choose`).
        """
        with self._cond:
            if self._stopped:
                raise ExchangeRefused("busy", "this peer is stopping")
            self._await_turn(peer_id, wait, yields)
            self._partner = peer_id
            self._offered = (None, 0.0)
            self._began = self._clock.now()

    def _await_turn(self, peer_id: str, wait: float, yields: bool) -> None:
        deadline = self._clock.now() + wait
        while self._partner is not None:
            crossing = self._partner == peer_id
            remaining = deadline - self._clock.now()
            if self._stopped or (crossing and not yields) or (remaining <= 0 and not crossing):
                what = "an exchange with it" if crossing else f"one with {self._partner}"
                raise ExchangeRefused("busy", f"{what} is running here")
            self._cond.wait(_RECHECK_S if crossing else remaining)

    def admission_wait(self) -> float:
        """How long an offer may wait for its turn here (see ADMIT_WAIT_S)."""
        with self._cond:
            return min(ADMIT_WAIT_MAX_S, self._wait(ADMIT_WAIT_S, ADMIT_EXCHANGES))

    def _wait(self, floor: float, exchanges: float) -> float:
        """``exchanges`` recent exchange durations, at least ``floor``; UNTIMED_WAIT_S untimed."""
        if self._duration is None:
            return UNTIMED_WAIT_S
        return max(floor, exchanges * self._duration)

    def end(
        self, peer_id: str, *, completed: bool, started_here: bool, retry: bool = False
    ) -> None:
        """The exchange begun with :meth:`begin` is over; ``completed``: both sides applied it.

        ``retry``: the peer was busy; it stays the next partner (its round is not over).
        """
        with self._cond:
            if self._partner == peer_id:
                self._partner = None
            self._ended += 1
            if completed or (started_here and not retry):  # a refused or failed one: next round
                self._met[peer_id] = self._ended
            if completed:
                self._lead = self._freed = 0
                self._completed += 1
                took = self._clock.now() - self._began
                last = took if self._duration is None else self._duration
                self._duration = last + _DURATION_WEIGHT * (took - last)
            elif started_here:  # a bad or dead neighbour never holds training (banked: a few)
                self._freed = min(self._freed + 1, self.local_steps)
            self._cond.notify_all()

    def partner(self) -> str | None:
        """The neighbour of the exchange running now, if any."""
        with self._cond:
            return self._partner

    def stats(self) -> ScheduleStats:
        with self._cond:
            return ScheduleStats(
                local_steps=self.local_steps,
                steps=self._steps,
                completed=self._completed,
                waits=self._waits,
                waiting_s=self._waiting_s,
                in_flight=0 if self._partner is None else 1,
            )
