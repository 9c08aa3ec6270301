"""Pacing: a peer keeps its step count near that of the slowest partner that keeps up.

On skewed shards the end of training is where asynchrony costs most. Peers
that run a little faster finish their steps first; the slower ones then train
on without them, and their last steps, each pulling toward its own shard's
classes, are the steps the final model remembers. In a lockstep simulation of
8 peers on ``clusters`` with dirichlet:0.5 (real Node path, exact rounds),
speeds spread by 9% took the averaged model from 1.5 to 4.9 points under
synchronous Adam, and one peer 4 times slower to 14 points; momentum lost 3
points the same way. Speeds that differ all along while every peer stops at
the same moment cost only 0.4. So what matters is that the peers' step counts
stay together, as in synchronous training, not that each peer runs free.

Each exchange header carries the sender's step and its *free* speed (steps per
second of its own compute, waits left out). A peer waits before a step while
it is more than ``lead`` steps ahead of the slowest partner that keeps up,
its step estimated from the last header and the speed it progressed at since.

* A partner keeps up when its free speed is at least :data:`KEEP_UP` of the
  median free speed (its peers' and ours): a straggler (``--slowdown 4``) is
  left to train at its own pace and stalls nobody, as bounded staleness with
  stragglers dropped would.
* A partner further behind than :data:`BEHIND_S` seconds of our steps is not
  waited for either: waiting for one partner never costs more than that. Peers
  started a second apart are waited for; a peer back from a crash, behind by
  its downtime and the steps since its checkpoint, or a late joiner, is not.
* A partner that finished training reports a free speed of 0 and is not
  waited for; one not heard from for :data:`FORGET_S` is forgotten, and until
  then its estimate goes on growing at the speed it had, so a dead one stops
  no one.

The rule is pure: the schedule owns the clock, the lock and the waiting.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

KEEP_UP = 0.5
"""Fraction of the median free speed below which a partner is a straggler, not waited for."""
BEHIND_S = 2.0
"""Seconds of our steps behind us past which a partner is not waited for."""
FORGET_S = 30.0
"""Seconds without a header after which a partner leaves the table."""
MAX_PARTNERS = 4096
"""Partners kept. Any header that passes the model check adds its sender, ids a
peer chooses: a new one beyond this first forgets those not heard for
:data:`FORGET_S`, then the one heard longest ago (with ``--pace-lead 0`` the
table is never read, so nothing else would ever forget them)."""
_SPEED_WEIGHT = 0.3
"""Weight of the newest observation in a partner's running progress speed."""
_SAMPLE_S = 0.2
"""Least time between two samples of a partner's progress speed."""


@dataclass
class _Partner:
    step: int
    heard_at: float
    free_speed: float  # as it reported: steps/s of its own compute
    progress: float | None = None  # steps/s it advanced at (pacing included)
    sampled: tuple[int, float] = (0, 0.0)  # step and time of the last progress sample

    @property
    def speed(self) -> float:
        """Steps/s it advances at: as seen between its headers, else as it reported."""
        return self.progress if self.progress is not None else self.free_speed

    def estimate(self, now: float) -> float:
        """Its step now, extrapolated from the last header."""
        return self.step + self.speed * max(now - self.heard_at, 0.0)


class Pace:
    """Partners' steps as their headers told them, and how far ahead we may run."""

    def __init__(self, lead: int) -> None:
        if lead < 0:
            raise ValueError("lead must be >= 0")
        self.lead = lead
        self._partners: dict[str, _Partner] = {}

    def heard(self, peer_id: str, step: int, free_speed: float, now: float) -> None:
        """A header from ``peer_id`` said it is at ``step``, running ``free_speed`` steps/s."""
        partner = self._partners.get(peer_id)
        if partner is None and len(self._partners) >= MAX_PARTNERS:
            self._forget(now, room=True)
        if partner is None or step < partner.sampled[0]:  # new, or restarted behind
            partner = self._partners[peer_id] = _Partner(step, now, 0.0, None, (step, now))
        partner.step, partner.heard_at, partner.free_speed = step, now, max(free_speed, 0.0)
        sampled_step, sampled_at = partner.sampled
        if now - sampled_at >= _SAMPLE_S:  # two headers in one exchange say nothing of speed
            speed = (step - sampled_step) / (now - sampled_at)
            last = speed if partner.progress is None else partner.progress
            partner.progress = last + _SPEED_WEIGHT * (speed - last)
            partner.sampled = (step, now)

    def _forget(self, now: float, room: bool = False) -> None:
        """Drop partners not heard for FORGET_S; for ``room``, else the one heard longest ago."""
        stale = [p for p, q in self._partners.items() if now - q.heard_at > FORGET_S]
        if room and not stale:
            stale = [min(self._partners, key=lambda p: self._partners[p].heard_at)]
        for peer_id in stale:
            del self._partners[peer_id]

    def slowest(self, step: int, free_speed: float, now: float) -> _Partner | None:
        """The partner that keeps up with the lowest estimated step, if any (see module)."""
        self._forget(now)
        speeds = [q.free_speed for q in self._partners.values() if q.free_speed > 0]
        if free_speed > 0:
            speeds.append(free_speed)
        if not speeds:
            return None
        floor = KEEP_UP * statistics.median(speeds)  # > 0: a partner at 0 never keeps up
        keeping_up = [
            q
            for q in self._partners.values()
            if q.free_speed >= floor and q.estimate(now) >= step - BEHIND_S * free_speed
        ]
        return min(keeping_up, key=lambda q: q.estimate(now), default=None)

    def wait_s(self, step: int, free_speed: float, now: float) -> float:
        """Seconds to wait before taking step ``step + 1``; 0: go on."""
        if self.lead == 0:
            return 0.0
        slowest = self.slowest(step, free_speed, now)
        if slowest is None:
            return 0.0
        ahead = step - self.lead - slowest.estimate(now)
        if ahead < 0:
            return 0.0
        speed = slowest.speed
        return (ahead + 1) / speed if speed > 0 else float("inf")

    def partners(self) -> int:
        return len(self._partners)
